"""Personal access tokens: a person's tokens for the management API. Issuing one (its
rules), listing and revoking a person's tokens, and deciding whether a presented value
is a good one, for which person.

A personal token carries no roles of its own: it acts as its person, and every request
reads that person's memberships afresh, so taking someone off a project takes the
project from their tokens at once, and deactivating an account stops all its tokens.
Every personal token expires, a year after it is made at the latest.

The actor and the clock are arguments: nothing here reads the request.
"""

import enum
import secrets
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update

from .. import token_format, validation
from ..extensions import db
from ..models import LEAK_REPORT_ACTOR, AuditEvent, AuditKind, PersonalToken, User
from ..validation import Invalid
from . import leak_notices, leaks, rows
from .errors import Conflict, DomainError
from .locking import locked

LONGEST_LIFETIME = timedelta(days=365)
# The expiry the Account page's form opens with.
DEFAULT_LIFETIME = timedelta(days=30)
# As for project tokens (FLAGPAL_LAST_USED_INTERVAL's default): most checks only read.
LAST_USED_INTERVAL = timedelta(minutes=1)


class NameTaken(Conflict):
    """An active token of the person already has the name."""

    def __init__(self, name: str):
        super().__init__(
            "name_taken",
            message=f'You already have an active token named "{name}". Choose another '
            "name, or revoke the old token first.",
            name=name,
        )


class Refusal(enum.StrEnum):
    """Why a presented value is not a good personal token."""

    MALFORMED = "malformed"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"
    # Its person's account was deactivated: every token of theirs stops with it.
    DEACTIVATED = "deactivated"


class Refused(DomainError):
    def __init__(self, why: Refusal):
        super().__init__(why.value, why=why)


def label(token: PersonalToken) -> str:
    """How the audit log names a personal token (never by its value)."""
    return f"personal token {token.id} “{token.name}”"


def is_active(token: PersonalToken, now: datetime) -> bool:
    return token.revoked_at is None and token.expires_at > now


def active_sql(now: datetime):
    return and_(PersonalToken.revoked_at.is_(None), PersonalToken.expires_at > now)


def status(token: PersonalToken, now: datetime) -> str:
    """ "active", "expired" or "revoked", as the Account page shows it."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at <= now:
        return "expired"
    return "active"


# Queries.


def list_of(user: User) -> list[PersonalToken]:
    """``user``'s personal tokens, newest first (revoked and expired ones too)."""
    return list(
        db.session.scalars(
            select(PersonalToken)
            .where(PersonalToken.user_id == user.id)
            .order_by(PersonalToken.created_at.desc(), PersonalToken.id.desc())
        )
    )


def token_of(user: User, token_id: int) -> PersonalToken | None:
    """``user``'s personal token ``token_id``; None for another person's or an unknown id."""
    if not rows.can_name_a_row(token_id):
        return None
    return db.session.scalar(
        select(PersonalToken).where(PersonalToken.user_id == user.id, PersonalToken.id == token_id)
    )


def has_active_named(user: User, name: str, now: datetime) -> bool:
    """Whether a token of ``user`` that still works has this name (ignoring case)."""
    names = db.session.scalars(
        select(PersonalToken.name).where(PersonalToken.user_id == user.id, active_sql(now))
    )
    wanted = name.casefold()
    return any(existing.casefold() == wanted for existing in names)


# The rules for a new token.


def latest_expiry(now: datetime) -> datetime:
    """The latest a token made at ``now`` may expire."""
    return now + LONGEST_LIFETIME


def check_expiry(expires_at: datetime | None, now: datetime) -> None:
    """Raise ``Invalid`` unless ``expires_at`` is after ``now`` and within a year."""
    if expires_at is None:
        raise Invalid(
            "Choose when the token expires: personal access tokens always expire, "
            f"within {LONGEST_LIFETIME.days} days."
        )
    if expires_at <= now:
        raise Invalid("Choose an expiry in the future.")
    if expires_at > latest_expiry(now):
        raise Invalid(f"Personal access tokens can last at most {LONGEST_LIFETIME.days} days.")


# Actions. Each adds its audit event to the session; the caller commits.


def issue(
    user: User, name: str, expires_at: datetime | None, *, now: datetime
) -> tuple[PersonalToken, str]:
    """A new personal token of ``user`` and its value, which the caller shows once.

    Raises ``Invalid`` for a bad name or expiry (``check_expiry``) and ``NameTaken``
    when an active token of the person has the name. The person's row is held until
    the caller commits, so two requests making the same name make it once.
    """
    name = validation.token_name(name)
    check_expiry(expires_at, now)
    db.session.scalar(locked(select(User).where(User.id == user.id)))
    if has_active_named(user, name, now):
        raise NameTaken(name)
    value = token_format.generate_personal()
    token = PersonalToken(
        user=user,
        name=name,
        token_hash=token_format.digest(value),
        hint=token_format.hint(value),
        created_at=now,
        expires_at=expires_at,
    )
    db.session.add(token)
    db.session.flush()
    AuditEvent.record(
        AuditKind.PERSONAL_TOKEN_CREATED,
        target=label(token),
        actor=user,
        expires_at=expires_at.isoformat(),
    )
    return token, value


def revoke(
    user: User, token_id: int, *, actor: User, now: datetime
) -> tuple[PersonalToken, bool] | None:
    """Revoke ``user``'s token ``token_id``: the token and whether that changed it
    (False: it was revoked already). None when the person has no such token."""
    token = token_of(user, token_id)
    if token is None:
        return None
    if token.revoked_at is not None:
        return token, False
    token.revoked_at = now
    AuditEvent.record(AuditKind.PERSONAL_TOKEN_REVOKED, target=label(token), actor=actor)
    return token, True


def revoke_as_leaked(
    token: PersonalToken,
    url: str | None,
    source: str | None,
    secret_type: str | None,
    now: datetime,
) -> bool:
    """Revoke a personal token someone reported as leaked (the leak report endpoint),
    and queue a mail telling its person; False, changing nothing, when it had stopped
    working already. The revoke is core/leaks.py's, as for project tokens: two reports
    at once revoke it once. The caller commits."""
    if not is_active(token, now) or not leaks.revoke(token, active_sql(now), url, now):
        return False
    AuditEvent.record(
        AuditKind.PERSONAL_TOKEN_REVOKED,
        target=label(token),
        actor=None,
        actor_label=LEAK_REPORT_ACTOR,
        reason=leaks.reason(url),
        source=source,
        type=secret_type,
    )
    if token.user.active:
        leak_notices.queue_personal(token, url, source, secret_type, now)
    return True


# The check of a presented value.


def checked(value: str, now: datetime) -> PersonalToken:
    """The personal token ``value`` if it is good at ``now`` (its person's account
    active); otherwise ``Refused`` saying why. A malformed value is refused before any
    database query."""
    if not token_format.is_well_formed_personal(value):
        raise Refused(Refusal.MALFORMED)
    digest = token_format.digest(value)
    token = db.session.scalar(select(PersonalToken).where(PersonalToken.token_hash == digest))
    if token is None or not secrets.compare_digest(token.token_hash, digest):
        raise Refused(Refusal.UNKNOWN)
    if token.revoked_at is not None:
        raise Refused(Refusal.REVOKED)
    if token.expires_at <= now:
        raise Refused(Refusal.EXPIRED)
    if not token.user.active:
        raise Refused(Refusal.DEACTIVATED)
    return token


def record_use(
    token: PersonalToken, now: datetime, interval: timedelta = LAST_USED_INTERVAL
) -> None:
    """Note that ``token`` was used, at most once per ``interval``: one conditional
    UPDATE, so processes racing to record the same minute write once between them.
    The caller commits."""
    if token.last_used_at is not None and now - token.last_used_at < interval:
        return
    db.session.execute(
        update(PersonalToken)
        .where(
            PersonalToken.id == token.id,
            or_(
                PersonalToken.last_used_at.is_(None),
                PersonalToken.last_used_at <= now - interval,
            ),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.expire(token, ["last_used_at"])


def authenticate(
    value: str, now: datetime, interval: timedelta = LAST_USED_INTERVAL
) -> PersonalToken | None:
    """The good personal token ``value`` at ``now``, its use recorded (at most once per
    ``interval``); None if it is unknown, revoked, expired or its person deactivated.
    The caller commits."""
    try:
        token = checked(value, now)
    except Refused:
        return None
    record_use(token, now, interval)
    return token
