"""The database: users, their sessions and password reset links, projects,
memberships, invitations, API tokens and their usage, the audit log.

The tables, and what a row says about itself (a label, a password check, what
Flask-Login asks of an account). Finding rows and the rules that change them live in
``core/``, one module per area; nothing here reads the request.
"""

import base64
import enum
import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import ClassVar

import bcrypt
from flask_login import UserMixin
from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    String,
    Text,
    false,
    select,
    true,
    types,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import abilities as ability
from . import browsers, token_format
from .extensions import db
from .permissions import Permission, Role, role_can


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
        # step, not parsed and then given UTC in a second (the token check reads three
        # of these per request).
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


def role_type() -> Enum:
    """A role stored as its value ("developer"), as text: no database enum type to alter
    when roles change."""
    return Enum(
        Role, native_enum=False, length=20, values_callable=lambda roles: [r.value for r in roles]
    )


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

    memberships: Mapped[list["Membership"]] = relationship(back_populates="user")

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


class JobRun(db.Model):
    """One job that runs by itself (core/jobs.py): which period it last ran for, who
    holds it while it runs, and how its last run ended. One row a job, claimed with a
    conditional UPDATE, so one server of many runs it each period."""

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    # The start of the period the last run was for: nothing runs again in that period.
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # While a run holds the job; a run that died frees it when this passes.
    running_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    runner: Mapped[str | None] = mapped_column(String(200))
    runs: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # "ok" or "failed", and what the run did or why it failed, in a line.
    outcome: Mapped[str | None] = mapped_column(String(10))
    summary: Mapped[str | None] = mapped_column(String(400))
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MailFailure(db.Model):
    """A message that could not be sent (mail.py), for the admin's Mail page: when, to
    whom, what about and why, kept 30 days (core/mail_failures.py). Never the body:
    invitation and password reset mails carry secret links."""

    __tablename__ = "mail_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(200))
    # Why, in a line of plain words (mail.NotSent.reason).
    error: Mapped[str] = mapped_column(String(500))


class ExpiryNotice(db.Model):
    """A token's owners were told it expires within ``days`` days (core/notices.py). The
    row is the decision: whoever inserts it first (INSERT … ON CONFLICT DO NOTHING)
    sends that notice, so each is sent once whatever runs the job again."""

    __tablename__ = "expiry_notices"

    token_id: Mapped[int] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True
    )
    days: Mapped[int] = mapped_column(primary_key=True)
    noticed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutgoingMail(db.Model):
    """A mail waiting to be sent, sent, or given up (core/outbox.py). Queued in the
    transaction of what it tells of, sent afterwards by whichever process claims it.
    Never holds a secret: no token value, no link that signs anyone in (a password reset
    mail's link is made when it is sent)."""

    __tablename__ = "outgoing_mails"
    __table_args__ = (Index(None, "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    to: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # "waiting" (to be sent at next_attempt_at), "sent" or "given up".
    status: Mapped[str] = mapped_column(String(10))
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # While a process sends it; a process that died frees it when this passes.
    sending_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    # Why the last attempt failed, or why it was given up.
    last_error: Mapped[str | None] = mapped_column(String(500))
    # When it was sent or given up.
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The password reset link a mail carries (core/password_resets.py's ``mailed_link``
    # makes its secret as it is sent). No foreign key: using one link deletes the
    # account's others, and a mail whose link is gone is given up, not sent.
    password_reset_id: Mapped[int | None] = mapped_column()


# How the audit log names whoever reported a leaked token: they have no account.
LEAK_REPORT_ACTOR = "leak report"


class AuditKind(enum.StrEnum):
    TOKEN_CREATED = "token.created"
    TOKEN_REVOKED = "token.revoked"
    TOKEN_ROTATED = "token.rotated"
    TOKEN_REVOKED_AS_LEAKED = "token.revoked_as_leaked"
    TOKEN_PRUNED = "token.pruned"
    TOKEN_EXPIRING = "token.expiring"
    MEMBER_ADDED = "member.added"
    MEMBER_ROLE_CHANGED = "member.role_changed"
    MEMBER_REMOVED = "member.removed"
    INVITATION_CREATED = "invitation.created"
    INVITATION_ACCEPTED = "invitation.accepted"
    INVITATION_REVOKED = "invitation.revoked"
    SIGN_IN_SUCCEEDED = "sign_in.succeeded"
    SIGN_IN_FAILED = "sign_in.failed"
    PASSWORD_CHANGED = "account.password_changed"
    PASSWORD_RESET_LINK_CREATED = "account.password_reset_link_created"
    SESSION_ENDED = "account.session_ended"
    OTHER_SESSIONS_ENDED = "account.other_sessions_ended"
    USER_CREATED = "user.created"
    USER_DEACTIVATED = "user.deactivated"
    USER_REACTIVATED = "user.reactivated"
    USER_ADDRESS_PROVEN = "user.address_proven"
    USER_CLAIMED = "user.claimed"
    # Single sign-on (core/sso.py): an identity joined to an account, and the provider's
    # admin group granting or removing instance admin.
    USER_SSO_LINKED = "user.sso_linked"
    USER_ADMIN_GRANTED = "user.admin_granted"
    USER_ADMIN_REMOVED = "user.admin_removed"
    SSO_SIGN_IN_SUCCEEDED = "sign_in.sso_succeeded"
    SSO_SIGN_IN_REFUSED = "sign_in.sso_refused"
    PROJECT_CREATED = "project.created"
    PROJECT_POLICY_CHANGED = "project.policy_changed"
    WEBHOOK_CREATED = "webhook.created"
    WEBHOOK_CHANGED = "webhook.changed"
    WEBHOOK_DELETED = "webhook.deleted"
    WEBHOOK_DISABLED = "webhook.disabled"
    PERSONAL_TOKEN_CREATED = "personal_token.created"
    PERSONAL_TOKEN_REVOKED = "personal_token.revoked"


# Words of audit kinds written in capitals when shown.
ACRONYMS = {"sso": "SSO"}


class AuditEvent(db.Model):
    """Something someone did, kept for the audit log: who, when, from where, what.

    Never a token value or a password: ``target`` names things, ``details`` holds facts
    like a role or abilities. The actor's name and email are copied, so the record
    stays readable if the account changes.
    """

    __tablename__ = "audit_events"
    __table_args__ = (Index(None, "project_id", "at"), Index(None, "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(400))
    address: Mapped[str | None] = mapped_column(String(45))
    target: Mapped[str | None] = mapped_column(String(400))
    details: Mapped[dict] = mapped_column(types.JSON, default=dict)

    project: Mapped[Project | None] = relationship()

    @property
    def kind_label(self) -> str:
        """``member.role_changed`` reads "Member role changed", ``sign_in.sso_refused``
        "Sign in SSO refused"."""
        words = self.kind.replace(".", " ").replace("_", " ").capitalize().split(" ")
        return " ".join(ACRONYMS.get(word, word) for word in words)

    # What the event is about, for webhooks (``record``); not columns.
    token = None
    member = None

    # Where the action being recorded came from. The web door installs a reader of the
    # request's address (audit.py); off the web (the command line, a job) there is none.
    # Looked up only when an event is recorded, so requests that record nothing (the
    # token check) pay nothing for it.
    address_of_door: ClassVar[Callable[[], str | None]] = staticmethod(lambda: None)

    @classmethod
    def record(
        cls,
        kind: AuditKind,
        *,
        actor: User | None,
        project: Project | None = None,
        target: str | None = None,
        actor_label: str | None = None,
        token: "ApiToken | None" = None,
        member: User | None = None,
        **details,
    ) -> "AuditEvent":
        """Add an event to the session, to be committed with the action it records (a
        failed sign-in, which changes nothing else, commits its record alone).

        ``actor`` is whoever did it: required, so no caller forgets to say; None only
        where no account acts (the command line, a job, a failed sign-in). The log
        names the actor as ``actor_label`` says when given (a person acting through a
        door that must be named, like "… via API (Release script)", or someone without
        an account, like a leak report), else as the account's label, else
        "anonymous" on the web and "command line" off it.

        ``token`` and ``member`` name the token or person the event is about, for the
        project's webhooks (core/webhooks/publishing.py publishes every event as it is flushed):
        not stored in the audit row, whose ``target`` names them already.
        """
        address = cls.address_of_door()
        if actor_label is None:
            if actor is not None:
                actor_label = actor.label
            else:
                actor_label = "anonymous" if address is not None else "command line"
        event = cls(
            kind=kind.value,
            project=project,
            actor_id=actor.id if actor else None,
            actor=actor_label,
            address=address,
            target=target,
            details=details,
        )
        event.token, event.member = token, member
        db.session.add(event)
        return event


class Webhook(db.Model):
    """Where a project's events are sent (core/webhooks/): a URL its owners chose, the
    event types it wants, the body's format, on or off.

    Its signing secret is never stored: ``secret_nonce`` is random, and the secret is
    the HMAC of it under the app's secret key, so the database alone never yields it.
    """

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    # Space-separated event types, or "*" for every type (those added later included).
    events: Mapped[str] = mapped_column(String(400))
    # "json" (FlagPal's payload) or "slack" (a sentence for a Slack incoming webhook).
    format: Mapped[str] = mapped_column(String(10))
    enabled: Mapped[bool] = mapped_column(default=True)
    secret_nonce: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Since when every attempt has failed (None while the last one succeeded); a day of
    # that switches it off, saying why in ``disabled_reason``.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_reason: Mapped[str | None] = mapped_column(String(400))

    project: Mapped[Project] = relationship()


class WebhookDelivery(db.Model):
    """One event on its way to one webhook: the bytes to send (and sign), and how
    sending has gone. Claimed by a conditional UPDATE of ``claimed_until`` before each
    attempt, so of several servers one sends it at a time."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The owners' list (newest of a webhook), and the deliverer's question (due ones).
        Index(None, "webhook_id", "created_at"),
        Index(None, "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(40))
    # Exactly the body sent, and signed: the event's JSON, or the Slack message's.
    body: Mapped[str] = mapped_column(types.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # "pending" (to be tried at next_attempt_at), "delivered" or "failed" (given up).
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    response_code: Mapped[int | None]
    # Why the last attempt failed, in a short line (never a secret).
    error: Mapped[str | None] = mapped_column(String(300))
    # While an attempt holds it; an attempt that died frees it when this passes.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    webhook: Mapped[Webhook] = relationship()

    @property
    def status_label(self) -> str:
        """How the Webhooks page names the status: a pending delivery that was tried
        already is being retried."""
        if self.status == "pending":
            return "Retrying" if self.attempts else "Waiting"
        return self.status.capitalize()
