"""Tokens revoked with no person choosing to: those unused for longer than their
project's policy allows (``prune``, run by the prune-tokens job and the command line)
and those reported as leaked (the leak report endpoint). Each records its own audit
event, naming why.

The clock is an argument: nothing here reads the request.
"""

from datetime import datetime, timedelta

from sqlalchemy import func, select

from ..extensions import db
from ..models import LEAK_REPORT_ACTOR, ApiToken, AuditEvent, AuditKind, Project
from . import leak_notices, leaks
from .tokens import is_active, is_active_sql, label


def unused(project: Project, now: datetime) -> list[ApiToken]:
    """Active tokens unused for longer than the project's ``revoke_unused_after_days``
    (counted from creation when never used), oldest use first; none without that
    policy. A token made less than that long ago is never among them."""
    days = project.revoke_unused_after_days
    if days is None:
        return []
    cutoff = now - timedelta(days=days)
    last_use = func.coalesce(ApiToken.last_used_at, ApiToken.created_at)
    return list(
        db.session.scalars(
            select(ApiToken)
            .where(
                ApiToken.project_id == project.id,
                is_active_sql(now),
                ApiToken.created_at < cutoff,
                last_use < cutoff,
            )
            .order_by(last_use, ApiToken.id)
        )
    )


def prune(now: datetime, *, dry_run: bool = False, actor_label: str | None = None):
    """Revoke every token unused for longer than its project's policy allows (``unused``),
    project by project in slug order; each revoked token and its project's days, in
    that order. ``dry_run`` only finds them. ``actor_label`` names who prunes in the
    audit log (the command line when not given). The caller commits."""
    with_policy = select(Project).where(Project.revoke_unused_after_days.is_not(None))
    pruned = []
    for project in db.session.scalars(with_policy.order_by(Project.slug)):
        days = project.revoke_unused_after_days
        for token in unused(project, now):
            if not dry_run:
                revoke_as_unused(token, days, now, actor_label=actor_label)
            pruned.append((token, days))
    return pruned


def revoke_as_unused(
    token: ApiToken, days: int, now: datetime, *, actor_label: str | None = None
) -> None:
    """Revoke for the project's policy: not used for ``days`` days (``prune``)."""
    token.revoked_at = now
    token.revoked_reason = f"unused for {days} days (project policy)"
    AuditEvent.record(
        AuditKind.TOKEN_PRUNED,
        project=token.project,
        target=label(token),
        token=token,
        actor=None,
        actor_label=actor_label,
        reason=token.revoked_reason,
        last_used_at=token.last_used_at.isoformat() if token.last_used_at else "never",
    )


def revoke_as_leaked(
    token: ApiToken, url: str | None, source: str | None, secret_type: str | None, now: datetime
) -> bool:
    """Revoke a token someone reported as leaked, found at ``url`` (if known).

    False, changing nothing, when it had stopped working already: revoked (by a
    person, or by a report a moment ago) or expired. A token in a rotation's grace
    period still works, so it is revoked. ``url``, ``source`` and ``secret_type`` are
    the report's, already checked and shortened; never the token value.

    Revoking queues a mail to each active owner of the project (core/leak_notices.py),
    committed with the revoke by the caller.
    """
    if not is_active(token, now) or not leaks.revoke(token, is_active_sql(now), url, now):
        return False
    AuditEvent.record(
        AuditKind.TOKEN_REVOKED_AS_LEAKED,
        project=token.project,
        target=label(token),
        token=token,
        actor=None,
        actor_label=LEAK_REPORT_ACTOR,
        url=url,
        source=source,
        type=secret_type,
    )
    leak_notices.queue(token, url, source, secret_type, now)
    return True
