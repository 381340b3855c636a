"""Projects, who is a member of each with which role, and invitations to join."""

from datetime import datetime, timedelta

from sqlalchemy import (
    ForeignKey,
    String,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..permissions import Permission, Role, role_can
from .accounts import User
from .base import UTCDateTime, role_type, utcnow


class Project(db.Model):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Project policy, set by owners. None means no limit / never.
    max_token_lifetime_days: Mapped[int | None]
    revoke_unused_after_days: Mapped[int | None]

    memberships: Mapped[list["Membership"]] = relationship(back_populates="project")

    @property
    def label(self) -> str:
        return f"{self.name} ({self.slug})"


class Membership(db.Model):
    __tablename__ = "memberships"
    __table_args__ = (db.UniqueConstraint("project_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(role_type())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    project: Mapped[Project] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship(back_populates="memberships")

    def can(self, permission: Permission) -> bool:
        return role_can(self.role, permission)


class Invitation(db.Model):
    """An owner's invitation for an email address to join a project with a role.

    Its link carries a random secret shown once to the owner; only the secret's SHA-256
    is stored. It works once, for ``LIFETIME``, unless revoked.
    """

    __tablename__ = "invitations"

    LIFETIME = timedelta(days=7)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[Role] = mapped_column(role_type())
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The link went by mail only (never shown to the owner): whoever opens it reads
    # that mailbox, which proves the address (core/accounts.py).
    delivered_by_mail: Mapped[bool] = mapped_column(default=False, server_default=false())

    project: Mapped[Project] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    @property
    def label(self) -> str:
        return f"{self.email} as {self.role.value}"
