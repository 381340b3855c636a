"""The audit log's queries: a page of events and the export. Events are recorded by
the core rule that does what they record, with ``AuditEvent.record`` (models/audit.py), whose
actor is always an argument.
"""

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import func, select

from ..extensions import db
from ..models import AuditEvent, Project

PAGE_SIZE = 50


def events_page(
    project: Project | None, *, group: str | None, page: int, without_invitations: bool = False
) -> tuple[list[AuditEvent], bool]:
    """One page of ``project``'s events (every event for None), newest first, and
    whether an older page exists. ``group``: only kinds starting ``group.``;
    ``without_invitations`` leaves out the invitations' events, which name addresses."""
    query = select(AuditEvent)
    if project is not None:
        query = query.where(AuditEvent.project_id == project.id)
    if without_invitations:
        query = query.where(~AuditEvent.kind.startswith("invitation."))
    if group:
        query = query.where(AuditEvent.kind.startswith(group + "."))
    rows = list(
        db.session.scalars(
            query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE + 1)
        )
    )
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def project_events_query(
    project: Project, since: datetime | None, *, without_invitations: bool = False
):
    """``project``'s events from ``since`` on (all without it), for the management API."""
    query = select(AuditEvent).where(AuditEvent.project_id == project.id)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if without_invitations:
        query = query.where(~AuditEvent.kind.startswith("invitation."))
    return query


def events_oldest_first(
    project: Project,
    since: datetime | None,
    *,
    offset: int,
    limit: int,
    without_invitations: bool = False,
) -> tuple[list[AuditEvent], int]:
    """A page of ``project``'s events from ``since`` on, oldest first, and how many there
    are in all. Oldest first, so a script paging through while new events arrive sees
    each once: new ones join the end, not the pages it has read."""
    query = project_events_query(project, since, without_invitations=without_invitations)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    events = db.session.scalars(
        query.order_by(AuditEvent.at, AuditEvent.id).offset(offset).limit(limit)
    )
    return list(events), total


def export(since: datetime, project: Project | None = None) -> Iterator[dict]:
    """Events from ``since`` on, oldest first, as dicts for JSON lines."""
    query = select(AuditEvent).where(AuditEvent.at >= since)
    if project is not None:
        query = query.where(AuditEvent.project_id == project.id)
    for event in db.session.scalars(query.order_by(AuditEvent.at, AuditEvent.id)):
        yield {
            "at": event.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "kind": event.kind,
            "project": event.project.slug if event.project else None,
            "actor": event.actor,
            "address": event.address,
            "target": event.target,
            "details": event.details,
        }
