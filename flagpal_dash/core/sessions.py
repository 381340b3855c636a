"""Signed-in sessions: one row per sign-in, so a session can be ended on the server.

The browser's cookie carries a random secret (as Flask-Login's user id); the database
keeps only its SHA-256. Signing out deletes the row, so a copy of the cookie stops
working at once. A password change ends every other session of the account, and
deactivating an account ends all of them. A session not seen for ``IDLE_LIMIT`` is
refused, and deleted at the next sign-in of anyone.

Plain rules and queries: no request here. The clock (``now``) and who acts are arguments.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from ..extensions import db
from ..models import USER_AGENT_LENGTH, AuditEvent, AuditKind, User, UserSession
from . import rows

# A session unused this long is refused and pruned: a month, Flask's own default for how
# long a session cookie lasts, which is what people expect of staying signed in.
IDLE_LIMIT = timedelta(days=31)
# ``last_seen_at`` and the address are written at most this often per session, not on
# every request: the Account page shows "last seen" to the minute anyway.
SEEN_EVERY = timedelta(minutes=1)


def printable(text: str) -> str:
    """``text`` without control characters (PostgreSQL refuses to store a NUL)."""
    return "".join(char for char in text if char >= " " and char != "\x7f")


def start(
    user: User, *, user_agent: str, address: str | None, now: datetime
) -> tuple[UserSession, str]:
    """A new session of ``user``, and its secret: for the cookie and nowhere else.

    Sessions left idle past the limit, anyone's, are deleted on the way: a sign-in is
    rare enough to carry that one indexed delete."""
    prune(now)
    secret = secrets.token_urlsafe(32)
    session = UserSession(
        user=user,
        secret_hash=rows.secret_hash(secret),
        created_at=now,
        last_seen_at=now,
        user_agent=printable(user_agent)[:USER_AGENT_LENGTH],
        address=address[:45] if address else None,
    )
    db.session.add(session)
    return session, secret


@dataclass(frozen=True)
class Found:
    session: UserSession
    user: User
    # Whether the session's last_seen_at and address are due to be written.
    due: bool


def find(secret: str, now: datetime) -> Found | None:
    """The live session a cookie's secret names and its account, in one indexed query;
    None when it was ended, has been idle too long, or its account is deactivated."""
    row = db.session.execute(
        select(UserSession, User)
        .join(User, UserSession.user_id == User.id)
        .where(UserSession.secret_hash == rows.secret_hash(secret))
    ).first()
    if row is None:
        return None
    session, user = row
    if not user.active or session.last_seen_at <= now - IDLE_LIMIT:
        return None
    return Found(session, user, due=session.last_seen_at <= now - SEEN_EVERY)


def mark_seen(session_id: int, address: str | None, now: datetime) -> None:
    """Write when and from where a session was last used, in a transaction of its own:
    the request's own work is neither committed early nor waited for."""
    with db.engine.begin() as connection:
        connection.execute(
            update(UserSession)
            .where(UserSession.id == session_id)
            .values(last_seen_at=now, address=address[:45] if address else None)
        )


def of(user: User, now: datetime) -> list[UserSession]:
    """``user``'s live sessions, the most recently used first."""
    return list(
        db.session.scalars(
            select(UserSession)
            .where(UserSession.user_id == user.id, UserSession.last_seen_at > now - IDLE_LIMIT)
            .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
        )
    )


def end(session: UserSession) -> None:
    """Sign this session out (signing out, in the browser it belongs to)."""
    db.session.execute(delete(UserSession).where(UserSession.id == session.id))


def end_one(user: User, session_id: int, *, actor: User) -> UserSession | None:
    """End one of ``user``'s sessions from the Account page, recorded in the audit log;
    None when ``user`` has no session with that id (another person's is not theirs)."""
    session = db.session.scalar(
        select(UserSession).where(UserSession.id == session_id, UserSession.user_id == user.id)
    )
    if session is None:
        return None
    end(session)
    AuditEvent.record(
        AuditKind.SESSION_ENDED,
        target=user.label,
        actor=actor,
        browser=session.browser,
        last_address=session.address,
    )
    return session


def end_all(user: User, *, but: UserSession | None = None) -> int:
    """End every session of ``user`` except ``but``; how many ended."""
    query = delete(UserSession).where(UserSession.user_id == user.id)
    if but is not None:
        query = query.where(UserSession.id != but.id)
    return db.session.execute(query).rowcount


def end_others(user: User, current: UserSession, *, actor: User) -> int:
    """The Account page's "Sign out all other sessions", recorded in the audit log when
    there were any."""
    ended = end_all(user, but=current)
    if ended:
        AuditEvent.record(
            AuditKind.OTHER_SESSIONS_ENDED, target=user.label, actor=actor, ended=ended
        )
    return ended


def prune(now: datetime) -> int:
    """Delete every session idle past the limit (they are refused already)."""
    return db.session.execute(
        delete(UserSession).where(UserSession.last_seen_at <= now - IDLE_LIMIT)
    ).rowcount
