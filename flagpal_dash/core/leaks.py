"""The revoke a leak report makes, one rule for project and personal tokens.

A report names a token by its value (api/leak_reports.py); a token that still works is
revoked, the place it was found kept as the reason. Two reports of one token arriving
together (or a report and a person's Revoke) revoke it once, on any database: the
revoke is one conditional UPDATE that changes the row only while the token still
works. What follows, the audit event and the mail (core/leak_notices.py), is each
kind's own: core/tokens.py's and core/personal_tokens.py's ``revoke_as_leaked``.
"""

from datetime import datetime

from sqlalchemy import update

from ..extensions import db


def reason(url: str | None) -> str:
    """The revoked reason a leak report leaves: where the token was found, if known."""
    return "reported as leaked" + (f" (found at {url})" if url else "")


def revoke(token, still_works, url: str | None, now: datetime) -> bool:
    """Revoke ``token`` (a project or a personal token) as leaked at ``url``, if
    ``still_works`` (SQL: its kind of token works at ``now``) holds when the UPDATE runs:
    True for exactly one of any number of callers at once; False, changing nothing, for
    a token that had stopped working. The token's revoke is read afresh when next used.
    The caller commits."""
    model = type(token)
    changed = db.session.execute(
        update(model)
        .where(model.id == token.id, still_works)
        .values(revoked_at=now, revoked_reason=reason(url))
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.expire(token, ["revoked_at", "revoked_reason"])
    return changed == 1
