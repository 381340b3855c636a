"""The role check every project route goes through.

``project_route(permission)`` turns the ``<slug>`` in a URL into a ``ProjectAccess``
for the signed-in member, or answers 404 when they are not a member (a project's
existence is not revealed) and 403 when their role lacks the permission.
"""

import functools
from dataclasses import dataclass

from flask import abort, g, request
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from .core.locking import locked
from .extensions import db
from .models import Membership, Project
from .permissions import Permission

# Requests that change nothing (anything else may).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class ProjectAccess:
    project: Project
    membership: Membership

    def can(self, permission: Permission) -> bool:
        return self.membership.can(permission)


class PermissionDenied(Exception):
    """A member asked for something their role does not allow (answered with 403)."""

    def __init__(self, access: ProjectAccess, permission: Permission):
        super().__init__(permission.value)
        self.access = access
        self.permission = permission


def project_access(slug: str) -> ProjectAccess:
    """The signed-in person's access to project ``slug``; 404 unless they are a member.

    A request that may change something holds the project until it is done (its role is
    read after that): two at once are made one after the other, and the second sees
    what the first did.
    """
    membership = membership_in(current_user.id, slug, lock=request.method not in SAFE_METHODS)
    if membership is None:
        abort(404)
    return ProjectAccess(membership.project, membership)


def membership_in(user_id: int, slug: str, *, lock: bool = False) -> Membership | None:
    """User ``user_id``'s membership in project ``slug``, its project loaded with it; None
    when there is no such project or they are not in it. One query either way, so the
    answer's timing does not tell whether the project exists. With ``lock``, the project
    is held as ``core.projects.project_by_slug`` holds it (when the membership is found)."""
    if "\x00" in slug:
        return None  # in no slug, and PostgreSQL refuses to compare text holding it
    query = (
        select(Membership)
        .join(Membership.project)
        .options(contains_eager(Membership.project))
        .where(Project.slug == slug, Membership.user_id == user_id)
    )
    if not lock:
        return db.session.scalar(query)
    if db.session.scalar(locked(query, of=Project)) is None:
        return None
    # PostgreSQL answers a locking query with the rows as they were when it began, before
    # it waited for the lock: read the membership again, now that it cannot change (it
    # may have been changed, or removed, by the request that held the lock).
    return db.session.scalar(query.execution_options(populate_existing=True))


def project_route(permission: Permission):
    """Guard a view under ``/projects/<slug>/``: it receives ``access`` instead of ``slug``."""

    def decorator(view):
        @functools.wraps(view)
        @login_required
        def guarded(slug: str, **kwargs):
            access = project_access(slug)
            if not access.can(permission):
                raise PermissionDenied(access, permission)
            # For what every project page shows around its content (projects/__init__.py).
            g.project_access = access
            return view(access, **kwargs)

        return guarded

    return decorator
