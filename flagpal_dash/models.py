"""The database: users, projects, memberships and API tokens.

Behaviour that belongs to a thing lives on its model (checking a password, issuing
or revoking a token, a token's status) so views stay short and say what they do.
"""

import base64
import enum
import hashlib
from datetime import UTC, datetime, timedelta

import bcrypt
from flask import current_app
from flask_login import UserMixin
from sqlalchemy import DateTime, Enum, ForeignKey, Index, String, select, types
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import abilities as ability
from . import token_format, validation
from .extensions import db
from .permissions import Permission, Role, role_can
from .validation import Invalid

# An active token this close to its expiry is flagged "Expires soon".
EXPIRES_SOON = timedelta(days=7)
# Ids are 32-bit integers in PostgreSQL; a larger number cannot name a row.
MAX_ROW_ID = 2**31 - 1


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(types.TypeDecorator):
    """A moment in time, stored as naive UTC and always read back as aware UTC.

    SQLite keeps no time zone, PostgreSQL would convert to the session's; storing
    plain UTC behaves the same on both.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("refusing to store a datetime without a time zone")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)

    def result_processor(self, dialect, coltype):
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        # SQLite hands back the ISO text SQLAlchemy stored: read it with its zone in one
        # step, several times faster than parsing and then attaching UTC (the token
        # check reads three of these per request).
        def from_text(value: str | None) -> datetime | None:
            return None if value is None else datetime.fromisoformat(value + "+00:00")

        return from_text


class AbilitySet(types.TypeDecorator):
    """A token's abilities, stored as one space-separated string (``"read write"``)."""

    impl = String(100)
    cache_ok = True

    def process_bind_param(self, value: frozenset[str] | None, dialect) -> str | None:
        return None if value is None else " ".join(ability.ordered(frozenset(value)))

    def process_result_value(self, value: str | None, dialect) -> frozenset[str] | None:
        return None if value is None else frozenset(value.split())


def _password_input(password: str) -> bytes:
    # bcrypt reads at most 72 bytes; hashing first lets every character of a long
    # passphrase count. Base64 keeps NUL bytes out of what bcrypt sees.
    return base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(60))
    is_admin: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    memberships: Mapped[list["Membership"]] = relationship(back_populates="user")

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @staticmethod
    def normalize_email(email: str) -> str:
        return email.strip().lower()

    @classmethod
    def by_email(cls, email: str) -> "User | None":
        return db.session.scalar(select(cls).where(cls.email == cls.normalize_email(email)))

    def set_password(self, password: str) -> None:
        rounds = current_app.config["BCRYPT_ROUNDS"]
        hashed = bcrypt.hashpw(_password_input(password), bcrypt.gensalt(rounds))
        self.password_hash = hashed.decode("ascii")

    def check_password(self, password: str) -> bool:
        return bcrypt.checkpw(_password_input(password), self.password_hash.encode("ascii"))

    @staticmethod
    def spend_password_check_time(password: str) -> None:
        """Take as long as a real password check, so a missing account is not faster."""
        rounds = current_app.config["BCRYPT_ROUNDS"]
        bcrypt.hashpw(_password_input(password), bcrypt.gensalt(rounds))

    def membership_in(self, project: "Project") -> "Membership | None":
        return db.session.scalar(
            select(Membership).where(
                Membership.project_id == project.id, Membership.user_id == self.id
            )
        )

    def projects(self) -> list["Project"]:
        """Projects this person is a member of, by name."""
        return list(
            db.session.scalars(
                select(Project)
                .join(Membership)
                .where(Membership.user_id == self.id)
                .order_by(Project.name)
            )
        )


class Project(db.Model):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    memberships: Mapped[list["Membership"]] = relationship(back_populates="project")

    @classmethod
    def by_slug(cls, slug: str) -> "Project | None":
        return db.session.scalar(select(cls).where(cls.slug == slug))

    @classmethod
    def create(cls, name: str, slug: str | None = None) -> "Project":
        """A new project; without a ``slug``, one is made from the name and kept unique.

        Raises ``Invalid`` when a slug given explicitly is taken.
        """
        if slug is not None:
            if cls.by_slug(slug):
                raise Invalid(f"The slug '{slug}' is already used by another project.")
        else:
            base = validation.slug_from_name(name)
            slug, number = base, 1
            while cls.by_slug(slug):
                number += 1
                suffix = f"-{number}"
                slug = base[: validation.MAX_SLUG_LENGTH - len(suffix)] + suffix
        project = cls(name=name, slug=slug)
        db.session.add(project)
        return project

    def add_member(self, user: User, role: Role) -> "Membership":
        membership = Membership(project=self, user=user, role=role)
        db.session.add(membership)
        return membership

    def owners(self) -> list[User]:
        return list(
            db.session.scalars(
                select(User)
                .join(Membership)
                .where(Membership.project_id == self.id, Membership.role == Role.OWNER)
                .order_by(User.name)
            )
        )

    def tokens_newest_first(self) -> list["ApiToken"]:
        return list(
            db.session.scalars(
                select(ApiToken)
                .where(ApiToken.project_id == self.id)
                .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
            )
        )

    def token(self, token_id: int) -> "ApiToken | None":
        """This project's token with ``token_id``; None for another project's token."""
        if not 0 < token_id <= MAX_ROW_ID:
            return None  # no such row, and too big for the database to compare
        return db.session.scalar(
            select(ApiToken).where(ApiToken.project_id == self.id, ApiToken.id == token_id)
        )

    def has_active_token_named(self, name: str, now: datetime | None = None) -> bool:
        """Whether a token that still works already has this name (ignoring case)."""
        now = now or utcnow()
        names = db.session.scalars(
            select(ApiToken.name).where(
                ApiToken.project_id == self.id,
                ApiToken.revoked_at.is_(None),
                (ApiToken.expires_at.is_(None)) | (ApiToken.expires_at > now),
            )
        )
        wanted = name.casefold()
        return any(existing.casefold() == wanted for existing in names)


class Membership(db.Model):
    __tablename__ = "memberships"
    __table_args__ = (db.UniqueConstraint("project_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(
        Enum(
            Role,
            native_enum=False,
            length=20,
            values_callable=lambda roles: [r.value for r in roles],
        )
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    project: Mapped[Project] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship(back_populates="memberships")

    def can(self, permission: Permission) -> bool:
        return role_can(self.role, permission)


class TokenStatus(enum.StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class ApiToken(db.Model):
    __tablename__ = "api_tokens"
    __table_args__ = (Index(None, "project_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    abilities: Mapped[frozenset[str]] = mapped_column(AbilitySet)
    # SHA-256 hex of the whole token; the unique index is the lookup path.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(token_format.HINT_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Empty when made from the command line.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    project: Mapped[Project] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    revoked_by: Mapped[User | None] = relationship(foreign_keys=[revoked_by_id])

    @classmethod
    def issue(
        cls,
        project: Project,
        name: str,
        abilities: frozenset[str],
        expires_at: datetime | None,
        created_by: User | None,
    ) -> tuple["ApiToken", str]:
        """A new token for ``project`` and its value, which the caller shows once."""
        value = token_format.generate()
        token = cls(
            project=project,
            name=name,
            abilities=ability.normalize(abilities),
            token_hash=token_format.digest(value),
            hint=token_format.hint(value),
            created_at=utcnow(),
            created_by=created_by,
            expires_at=expires_at,
        )
        db.session.add(token)
        return token, value

    def status(self, now: datetime | None = None) -> TokenStatus:
        if self.revoked_at is not None:
            return TokenStatus.REVOKED
        if self.expires_at is not None and self.expires_at <= (now or utcnow()):
            return TokenStatus.EXPIRED
        return TokenStatus.ACTIVE

    def expires_soon(self, now: datetime | None = None) -> bool:
        """Active, but stops working within ``EXPIRES_SOON`` (shown as a warning)."""
        now = now or utcnow()
        return (
            self.status(now) is TokenStatus.ACTIVE
            and self.expires_at is not None
            and self.expires_at - now <= EXPIRES_SOON
        )

    def revoke(self, by: User | None) -> bool:
        """Mark the token revoked; False when it already was (nothing changes)."""
        if self.revoked_at is not None:
            return False
        self.revoked_at = utcnow()
        self.revoked_by = by
        return True

    @property
    def display_hint(self) -> str:
        return token_format.display_hint(self.hint)

    @property
    def ability_labels(self) -> list[str]:
        return [ability.LABELS[a] for a in ability.ordered(self.abilities)]
