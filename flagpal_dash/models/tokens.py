"""API tokens (a project's and a person's), and how many requests each made."""

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import token_format
from ..extensions import db
from .accounts import User
from .base import AbilitySet, UTCDateTime, utcnow
from .projects import Project


class ApiToken(db.Model):
    __tablename__ = "api_tokens"
    __table_args__ = (
        # The API Tokens page reads each status newest first along the first, and
        # counts by status (and finds expiring tokens) in the second alone.
        Index(None, "project_id", "created_at"),
        Index(None, "project_id", "revoked_at", "expires_at"),
    )

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
    # Why it was revoked when no person did it ("reported as leaked at …", "unused for …").
    revoked_reason: Mapped[str | None] = mapped_column(String(500))
    # Rotation: the token that replaced this one, and when. The old token keeps working
    # until its expires_at, which rotation moves to the end of the grace period.
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replaced_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="SET NULL")
    )

    project: Mapped[Project] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    revoked_by: Mapped[User | None] = relationship(foreign_keys=[revoked_by_id])
    replaced_by: Mapped["ApiToken | None"] = relationship(remote_side=[id])


class PersonalToken(db.Model):
    """A person's token for the management API (core/personal_tokens.py): it acts as its
    person, with whatever roles they have at the moment it is used. Stored like a
    project token: only the SHA-256 of its value, and the last characters as a hint.
    Every personal token expires (a year at most)."""

    __tablename__ = "personal_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # SHA-256 hex of the whole token; the unique index is the lookup path.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(token_format.HINT_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why it was revoked when its person did not do it ("reported as leaked …").
    revoked_reason: Mapped[str | None] = mapped_column(String(500))

    user: Mapped[User] = relationship()


class TokenUsage(db.Model):
    """How many successful API requests a token made in one hour (UTC), approximately:
    each server process counts in memory and adds its counts every few seconds."""

    __tablename__ = "token_usage"

    token_id: Mapped[int] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True
    )
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class TokenUsageDay(db.Model):
    """How many successful API requests a token made in one UTC day: the sums of its
    ``TokenUsage`` hours, written by the same flush in the same transaction.

    It exists for the 30-day sparkline on every row of the API Tokens page, which reads
    30 rows per token here instead of up to 720 hours (20 busy tokens a page: 600 rows
    instead of 14,400). The hourly table stays for what needs hours (the revoke
    dialog's last 24 hours).
    """

    __tablename__ = "token_usage_daily"

    token_id: Mapped[int] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
