"""Password reset links: the way back into an account whose password is lost, the only
admin's included.

A link is made from the command line (``users reset-link``), by an instance admin
(Admin → Users), or asked for on the sign-in page with mail set up; it carries a random
secret of which only the SHA-256 is stored. It works once, for
``PasswordReset.LIFETIME``. Using it sets a new password and nothing else (the address
is not proven by it, no role changes), ends every session of the account, and voids the
account's other links: they were made to replace the password just replaced.

Who acts and when are arguments; nothing here reads the request. A deactivated account
gets no link (``Conflict``): it was shut out on purpose, and reactivating it is an
admin's decision, not something a link can get around.

A link asked for on the sign-in page is mailed through the outbox (core/outbox.py), so
the page answers without waiting on SMTP, as fast for an address with an account as
for one without. The queued mail holds ``LINK_MARK`` where the link goes: its secret
is made by ``mailed_link`` as the mail is sent, so no secret waits in the outbox.
"""

import enum
import secrets
from datetime import datetime

from sqlalchemy import delete, select

from .. import dates, links
from ..extensions import db
from ..models import AuditEvent, AuditKind, PasswordReset, User
from . import accounts, rows
from .errors import Conflict, DomainError


class ResetStatus(enum.StrEnum):
    PENDING = "pending"
    USED = "used"
    EXPIRED = "expired"


def status(reset: PasswordReset, now: datetime) -> ResetStatus:
    """Where a link is at ``now``: only a pending one can be used."""
    if reset.used_at is not None:
        return ResetStatus.USED
    if reset.expires_at <= now:
        return ResetStatus.EXPIRED
    return ResetStatus.PENDING


class Gone(DomainError):
    """The link cannot be used any more: ``status`` says why (used, expired). The web
    answers 410."""

    code = "password_reset_gone"


# Where a queued mail's link goes until it is sent.
LINK_MARK = "[password reset link]"
SUBJECT = "Choose a new FlagPal Dash password"


def link(secret: str) -> str:
    """The address of the link carrying ``secret``. Needs an app context."""
    return links.external_url("recovery.reset_password", secret=secret)


def mail_body(user: User, link: str) -> str:
    """The mail that gives ``user`` the reset link ``link`` (or ``LINK_MARK``)."""
    return (
        f"Someone asked for a link to choose a new password for {user.email} on "
        f"FlagPal Dash.\n\nOpen this link within {dates.duration(PasswordReset.LIFETIME)} "
        f"to choose one; it works once:\n{link}\n\n"
        "If you did not ask for it, ignore this mail: your password stays as it is.\n"
    )


def mailed_link(reset_id: int, now: datetime) -> str | None:
    """A new secret for the queued link ``reset_id``, as its mail is sent, and the link
    carrying it; any secret it had stops working. None when the link can no longer be
    used (used, expired, deleted by another link's use, or its account deactivated):
    its mail is then not sent. The caller commits before sending."""
    reset = db.session.get(PasswordReset, reset_id)
    if reset is None or status(reset, now) is not ResetStatus.PENDING or not reset.user.active:
        return None
    secret = secrets.token_urlsafe(32)
    reset.secret_hash = rows.secret_hash(secret)
    return link(secret)


def reset_by_secret(secret: str) -> PasswordReset | None:
    """The link that carries ``secret``, whatever its status."""
    return rows.by_secret(PasswordReset, secret)


def require_may_reset(user: User) -> None:
    """Raises ``Conflict(ACCOUNT_DEACTIVATED)`` for a deactivated account, saying what
    to do instead."""
    if not user.active:
        raise Conflict(
            accounts.ACCOUNT_DEACTIVATED,
            user=user,
            message=f"The account {user.email} is deactivated: reactivate it first "
            "(a reset link does not let a deactivated account in).",
        )


def create_reset(
    user: User, *, by: User | None, now: datetime, how: str
) -> tuple[PasswordReset, str]:
    """A new link for ``user``, made by ``by`` (None: the command line, or the person
    asking on the sign-in page, as ``how`` says), and its secret, which the caller
    prints, shows once or mails, and never stores."""
    require_may_reset(user)
    secret = secrets.token_urlsafe(32)
    reset = PasswordReset(
        user=user,
        secret_hash=rows.secret_hash(secret),
        created_at=now,
        created_by_id=by.id if by else None,
        expires_at=now + PasswordReset.LIFETIME,
    )
    db.session.add(reset)
    db.session.flush()
    AuditEvent.record(
        AuditKind.PASSWORD_RESET_LINK_CREATED,
        target=user.label,
        actor=by,
        how=how,
        expires_at=reset.expires_at.isoformat(timespec="seconds"),
    )
    return reset, secret


def use_reset(reset: PasswordReset, password: str, now: datetime, *, rounds: int) -> User:
    """Set the account's new password from the link, once. Raises ``Gone`` when the link
    was used meanwhile (two tabs) or has expired, ``Conflict(ACCOUNT_DEACTIVATED)`` when
    its account was deactivated since.

    The link's row is locked first (PostgreSQL; SQLite writes one at a time anyway), so
    of two tabs posting at once the second waits, then finds it used."""
    db.session.execute(
        select(PasswordReset.id).where(PasswordReset.id == reset.id).with_for_update()
    )
    db.session.refresh(reset)
    current = status(reset, now)
    if current is not ResetStatus.PENDING:
        raise Gone(status=current)
    user = reset.user
    require_may_reset(user)
    reset.used_at = now
    db.session.execute(
        delete(PasswordReset).where(
            PasswordReset.user_id == user.id,
            PasswordReset.id != reset.id,
            PasswordReset.used_at.is_(None),
        )
    )
    accounts.change_password(user, password, rounds=rounds, actor=user, via="reset link")
    return user
