"""The audit log's pages (a project's, and the whole instance's for admins). The
queries are in core/audit.py; events are recorded by the core rules that do what they
record (``AuditEvent.record`` in models/audit.py).

This door also tells ``AuditEvent.record`` the address a web request came from."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Blueprint, abort, has_request_context, render_template, request
from flask_login import current_user, login_required

from . import dates
from .access import ProjectAccess, project_route
from .core.audit import events_page
from .models import AuditEvent
from .paging import page_number
from .permissions import Permission

bp = Blueprint("audit", __name__)


def request_address() -> str | None:
    """The address of the web request being served (after the trusted proxies'
    headers, security.py), for the audit log; None off the web."""
    return request.remote_addr if has_request_context() else None


def install() -> None:
    """Let ``AuditEvent.record`` ask for the address of the request being served."""
    AuditEvent.address_of_door = staticmethod(request_address)


# The filter on the audit pages: a group of kinds, by its first word.
GROUPS = {
    "token": "Tokens",
    "member": "Members",
    "invitation": "Invitations",
    "sign_in": "Sign-ins",
    "account": "Accounts",
    "user": "Users",
    "project": "Projects",
    "webhook": "Webhooks",
    "personal_token": "Personal access tokens",
}
PROJECT_GROUPS = ("token", "member", "invitation", "project", "webhook")


@bp.app_template_filter("audit_detail")
def readable_detail(value) -> str:
    """A detail as a person reads it: lists joined, recorded moments as exact times."""
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    if isinstance(value, str) and len(value) >= 19 and value[10] == "T":
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return dates.exact(moment.astimezone(UTC) if moment.tzinfo else moment)
    return str(value)


def filters(allowed_groups) -> tuple[str | None, int]:
    """The group and page asked for; an unknown group or a bad page number is a 404."""
    group = request.args.get("kind") or None
    if group is not None and group not in allowed_groups:
        abort(404)
    return group, page_number(request.args)


# An account as labels name it: "Ada Lovelace <ada@example.com>".
ADDRESS_IN_LABEL = re.compile(r"\s*<[^<>\s]*@[^<>\s]*>")


@dataclass(frozen=True)
class EventWithoutAddresses:
    """An event as someone who may not see people's addresses reads it: names only."""

    event: AuditEvent

    def __getattr__(self, name):
        return getattr(self.event, name)

    @property
    def actor(self) -> str:
        return ADDRESS_IN_LABEL.sub("", self.event.actor)

    @property
    def target(self) -> str | None:
        target = self.event.target
        return None if target is None else ADDRESS_IN_LABEL.sub("", target)


def project_groups(sees_addresses: bool) -> tuple[str, ...]:
    """The kinds of a project's log someone sees. Invitations name only an address,
    and the Members page shows them to those who see addresses only; who joined is
    still in the log, by name, as "Member added"."""
    if sees_addresses:
        return PROJECT_GROUPS
    return tuple(group for group in PROJECT_GROUPS if group != "invitation")


@bp.get("/projects/<slug>/audit")
@project_route(Permission.VIEW_AUDIT)
def project_log(access: ProjectAccess):
    """A project's audit log, newest first, for its developers and owners; people's
    addresses and invitations under the Members page's rule (``SEE_ADDRESSES``)."""
    sees_addresses = access.can(Permission.SEE_ADDRESSES)
    groups = project_groups(sees_addresses)
    group, page = filters(groups)
    events, older = events_page(
        access.project, group=group, page=page, without_invitations=not sees_addresses
    )
    if not sees_addresses:
        events = [EventWithoutAddresses(event) for event in events]
    return render_template(
        "audit/project.html",
        access=access,
        events=events,
        group=group,
        page=page,
        older=older,
        groups={g: GROUPS[g] for g in groups},
    )


@bp.get("/admin/audit")
@login_required
def instance_log():
    """Every event of the instance, for admins."""
    if not current_user.is_admin:
        abort(404)
    group, page = filters(GROUPS)
    events, older = events_page(None, group=group, page=page)
    return render_template(
        "audit/instance.html",
        events=events,
        group=group,
        page=page,
        older=older,
        groups=GROUPS,
    )
