"""The management API's read routes: the person's projects, a project, its members,
its audit log and its tokens, each as the pages show them to the person's role."""

import math

from flask import request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from ...audit import ADDRESS_IN_LABEL
from ...core import audit as audit_log
from ...core import projects
from ...extensions import db
from ...models import ApiToken, utcnow
from ...paging import MAX_PAGE
from ...permissions import Permission
from ...tokens.listing import STATUSES, TokenFilter
from .door import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    Caller,
    bad_parameter,
    bp,
    check_parameters,
    document,
    moment,
    paged_links,
    person_required,
    project_for,
    project_resource,
    project_token,
    token_resource,
    whole_number,
)


@bp.get("/projects")
@person_required
def list_projects(caller: Caller):
    """The projects the person is a member of, by name, with their role in each."""
    check_parameters(frozenset())
    memberships = projects.memberships_of(caller.person)
    return document(
        [project_resource(membership) for membership in memberships],
        meta={"count": len(memberships)},
        links={"self": url_for("management.list_projects")},
    )


@bp.get("/projects/<slug>")
@person_required
def show_project(caller: Caller, slug: str):
    """One project, with the person's role in it, and its token policy for those who
    make tokens (the pages apply it to them) and owners (who set it)."""
    check_parameters(frozenset())
    membership = project_for(caller.person, slug, Permission.VIEW_TOKENS)
    resource = project_resource(membership)
    project = membership.project
    resource["attributes"]["created_at"] = project.created_at
    if membership.can(Permission.VIEW_TOKEN_DETAILS):
        resource["attributes"]["max_token_lifetime_days"] = project.max_token_lifetime_days
    if membership.can(Permission.MANAGE_MEMBERS):
        resource["attributes"]["revoke_unused_after_days"] = project.revoke_unused_after_days
    resource["relationships"] = {
        "members": {"links": {"related": url_for("management.list_members", slug=slug)}}
    }
    return document(resource, links={"self": resource["links"]["self"]})


@bp.get("/projects/<slug>/members")
@person_required
def list_members(caller: Caller, slug: str):
    """Everyone on the project, owners first, then by name: every member may read it,
    as on the Members page; email addresses only for owners (``SEE_ADDRESSES``)."""
    check_parameters(frozenset())
    membership = project_for(caller.person, slug, Permission.VIEW_MEMBERS)
    sees_addresses = membership.can(Permission.SEE_ADDRESSES)
    data = []
    for member in projects.members_of(membership.project):
        attributes = {
            "name": member.user.name,
            "role": member.role.value,
            "joined_at": member.created_at,
        }
        if sees_addresses:
            attributes["email"] = member.user.email
        data.append({"type": "members", "id": str(member.id), "attributes": attributes})
    return document(
        data,
        meta={"count": len(data)},
        links={"self": url_for("management.list_members", slug=slug)},
    )


AUDIT_PARAMETERS = frozenset({"filter[since]", "page[number]", "page[size]"})


@bp.get("/projects/<slug>/audit-events")
@person_required
def list_audit_events(caller: Caller, slug: str):
    """The project's audit log, oldest first (``filter[since]``: from that moment on),
    a page at a time, for developers and owners as on the log's page: developers get
    no invitations and no email addresses."""
    check_parameters(AUDIT_PARAMETERS)
    since = moment("filter[since]")
    number = whole_number("page[number]", 1, MAX_PAGE)
    size = whole_number("page[size]", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    membership = project_for(caller.person, slug, Permission.VIEW_AUDIT)
    sees_addresses = membership.can(Permission.SEE_ADDRESSES)
    events, total = audit_log.events_oldest_first(
        membership.project,
        since,
        offset=(number - 1) * size,
        limit=size,
        without_invitations=not sees_addresses,
    )

    def named(text: str | None) -> str | None:
        if text is None or sees_addresses:
            return text
        return ADDRESS_IN_LABEL.sub("", text)

    data = [
        {
            "type": "audit-events",
            "id": str(event.id),
            "attributes": {
                "at": event.at,
                "kind": event.kind,
                "actor": named(event.actor),
                "target": named(event.target),
                "address": event.address,
                "details": event.details,
            },
        }
        for event in events
    ]
    return document(
        data,
        meta={"count": total, "pages": max(1, math.ceil(total / size))},
        links=paged_links("management.list_audit_events", number, size, total, slug=slug),
    )


TOKEN_PARAMETERS = frozenset({"filter[name]", "filter[status]", "page[number]", "page[size]"})
WITH_PEOPLE = (joinedload(ApiToken.created_by), joinedload(ApiToken.revoked_by))


@bp.get("/projects/<slug>/tokens")
@person_required
def list_tokens(caller: Caller, slug: str):
    """The project's tokens, newest first, filtered as on the API Tokens page
    (``filter[name]``: part of the name, any case; ``filter[status]``: all, active,
    expiring, expired, revoked), a page at a time. Every member may read it; viewers
    see names, status and creation dates only."""
    check_parameters(TOKEN_PARAMETERS)
    status = request.args.get("filter[status]", "all")
    if status not in STATUSES:
        raise bad_parameter(
            "filter[status]", f"`filter[status]` must be one of: {', '.join(STATUSES)}."
        )
    name = request.args.get("filter[name]", "").strip()
    number = whole_number("page[number]", 1, MAX_PAGE)
    size = whole_number("page[size]", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    membership = project_for(caller.person, slug, Permission.VIEW_TOKENS)
    details = membership.can(Permission.VIEW_TOKEN_DETAILS)
    now = utcnow()
    conditions = [
        ApiToken.project_id == membership.project.id,
        *TokenFilter(name=name, status=status).conditions(now),
    ]
    total = db.session.scalar(select(func.count()).select_from(ApiToken).where(*conditions))
    shown = db.session.scalars(
        select(ApiToken)
        .where(*conditions)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        .offset((number - 1) * size)
        .limit(size)
        .options(*(WITH_PEOPLE if details else ()))
    )
    return document(
        [token_resource(token, slug, details) for token in shown],
        meta={"count": total, "pages": max(1, math.ceil(total / size))},
        links=paged_links("management.list_tokens", number, size, total, slug=slug),
    )


@bp.get("/projects/<slug>/tokens/<int:token_id>")
@person_required
def show_token(caller: Caller, slug: str, token_id: int):
    """One of the project's tokens; 404 for an unknown id or another project's."""
    check_parameters(frozenset())
    membership = project_for(caller.person, slug, Permission.VIEW_TOKENS)
    token = project_token(membership, token_id)
    resource = token_resource(token, slug, membership.can(Permission.VIEW_TOKEN_DETAILS))
    return document(resource, links={"self": resource["links"]["self"]})
