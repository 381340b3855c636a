"""Accounts: the people, their signed-in browsers, password reset links, and who
they are at a single sign-on provider."""

import base64
import hashlib
import secrets
from datetime import datetime, timedelta

import bcrypt
from flask_login import UserMixin
from sqlalchemy import (
    ForeignKey,
    String,
    select,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import browsers
from ..extensions import db
from .base import UTCDateTime, utcnow


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
    # When the address was shown to be this person's (core/accounts.py); None: not yet.
    email_proven_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Mail before a token of one of their projects expires (core/notices.py); each
    # person turns it off on their Account page.
    expiry_mail: Mapped[bool] = mapped_column(default=True, server_default=true())
    # False while the password is one made at random that nobody was told: an account
    # made (or claimed) by single sign-on. Its person has none until they set one with a
    # reset link; the Account page says so rather than ask for a "current password".
    password_known: Mapped[bool] = mapped_column(default=True, server_default=true())

    # Membership lives in projects.py, which imports this module; SQLAlchemy finds it by name.
    memberships: Mapped[list["Membership"]] = relationship(back_populates="user")  # noqa: F821

    # The browser session this account was loaded for (core/sessions.py), and its
    # secret: not columns, set when someone signs in or a request's cookie is checked.
    current_session = None
    session_secret = None

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @property
    def label(self) -> str:
        """How the audit log names an account: ``Ada Lovelace <ada@example.com>``."""
        return f"{self.name} <{self.email}>"

    def get_id(self) -> str:
        """What Flask-Login keeps in the session cookie: the secret of this browser's
        session (core/sessions.py), never the account's id."""
        if self.session_secret is None:
            raise RuntimeError("sign in with auth.sign_in_as, which starts a session")
        return self.session_secret

    # One account is one account, whichever session it was loaded for (Flask-Login's
    # mixin compares get_id, which names the session).
    def __eq__(self, other):
        if isinstance(other, User):
            return self.id == other.id
        return NotImplemented

    __hash__ = object.__hash__

    @staticmethod
    def normalize_email(email: str) -> str:
        return email.strip().lower()

    @classmethod
    def by_email(cls, email: str) -> "User | None":
        email = cls.normalize_email(email)
        if "\x00" in email:
            return None  # in no address, and PostgreSQL refuses to compare text holding it
        return db.session.scalar(select(cls).where(cls.email == email))

    def set_password(self, password: str, *, rounds: int) -> None:
        """Store the hash of ``password``; ``rounds`` is the bcrypt cost (the
        ``BCRYPT_ROUNDS`` setting, read by the door)."""
        hashed = bcrypt.hashpw(_password_input(password), bcrypt.gensalt(rounds))
        self.password_hash = hashed.decode("ascii")
        self.password_known = True

    def set_unknown_password(self, *, rounds: int) -> None:
        """A password made at random and told to nobody: the account signs in through
        its provider only, until its person sets one with a reset link."""
        self.set_password(secrets.token_urlsafe(32), rounds=rounds)
        self.password_known = False

    def check_password(self, password: str) -> bool:
        return bcrypt.checkpw(_password_input(password), self.password_hash.encode("ascii"))

    @staticmethod
    def spend_password_check_time(password: str, *, rounds: int) -> None:
        """Take as long as a real password check, so a missing account is not faster."""
        bcrypt.hashpw(_password_input(password), bcrypt.gensalt(rounds))


# The longest User-Agent header a session keeps.
USER_AGENT_LENGTH = 300


class UserSession(db.Model):
    """One signed-in browser of an account (core/sessions.py): the cookie carries a
    random secret, this row only its SHA-256."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    user_agent: Mapped[str] = mapped_column(String(USER_AGENT_LENGTH), default="")
    address: Mapped[str | None] = mapped_column(String(45))

    user: Mapped[User] = relationship()

    @property
    def browser(self) -> str:
        """``Firefox on Windows``, as the Account page names the session."""
        return browsers.describe(self.user_agent)


class PasswordReset(db.Model):
    """A one-time link that lets its holder choose a new password for an account, made
    from the command line, by an instance admin, or asked for on the sign-in page.

    Only the secret's SHA-256 is stored; the link works once, for ``LIFETIME``.
    """

    __tablename__ = "password_resets"

    # Short: the link is a password in transit (whoever holds it takes the account over
    # without proving anything else), and it is meant to be used at once, by someone
    # locked out now. When it lapses, making another is one command or one click.
    LIFETIME = timedelta(hours=1)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The admin who made it; empty when made from the command line or asked for by mail.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class SsoIdentity(db.Model):
    """Who an account is at an OpenID Connect provider (core/sso.py): the provider's
    ``issuer`` and its ``subject`` for the person, which never changes, unlike an email
    address. One account may hold several (a provider moved to a new address)."""

    __tablename__ = "sso_identities"
    __table_args__ = (db.UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(400))
    # OpenID Connect allows a subject up to 255 ASCII characters.
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_sign_in_at: Mapped[datetime] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()
