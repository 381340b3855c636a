"""Projects and their members: creating a project, adding a member, changing a role,
removing a member, and the rule that a project always keeps at least one owner.

Who acts is an argument (``actor``, recorded in the audit log); nothing here reads the
request. Refusals are ``Conflict`` errors with a code; the door words them. (Looking a
project or a member up stays on the models in models.py: plain queries, no rule.)
"""

from sqlalchemy import func, select

from .. import validation
from ..extensions import db
from ..models import AuditEvent, AuditKind, Membership, Project, User
from ..permissions import Role
from .errors import Conflict

# The codes of this module's refusals.
LAST_OWNER = "last_owner"
SLUG_TAKEN = "slug_taken"


def create_project(name: str, slug: str | None = None, *, actor: User | None) -> Project:
    """A new project; without a ``slug``, one is made from the name and kept unique.

    Raises ``Conflict(SLUG_TAKEN, slug=…)`` when a slug given explicitly is taken.
    """
    if slug is not None:
        if Project.by_slug(slug):
            raise Conflict(SLUG_TAKEN, slug=slug)
    else:
        base = validation.slug_from_name(name)
        slug, number = base, 1
        while Project.by_slug(slug):
            number += 1
            suffix = f"-{number}"
            slug = base[: validation.MAX_SLUG_LENGTH - len(suffix)] + suffix
    project = Project(name=name, slug=slug)
    db.session.add(project)
    AuditEvent.record(AuditKind.PROJECT_CREATED, project=project, target=project.label, actor=actor)
    return project


def add_member(project: Project, user: User, role: Role, *, actor: User | None) -> Membership:
    membership = Membership(project=project, user=user, role=role)
    db.session.add(membership)
    AuditEvent.record(
        AuditKind.MEMBER_ADDED, project=project, target=user.label, role=role.value, actor=actor
    )
    return membership


def owner_count(project: Project) -> int:
    return db.session.scalar(
        select(func.count(Membership.id)).where(
            Membership.project_id == project.id, Membership.role == Role.OWNER
        )
    )


def is_last_owner(membership: Membership) -> bool:
    return membership.role is Role.OWNER and owner_count(membership.project) == 1


def change_role(membership: Membership, role: Role, *, actor: User | None) -> bool:
    """Give the member ``role``; False if it is already theirs.

    Raises ``Conflict(LAST_OWNER)`` when that would leave the project without an owner.
    """
    if role is membership.role:
        return False
    if is_last_owner(membership):
        raise Conflict(LAST_OWNER)
    before, membership.role = membership.role, role
    AuditEvent.record(
        AuditKind.MEMBER_ROLE_CHANGED,
        project=membership.project,
        target=membership.user.label,
        role=role.value,
        previous_role=before.value,
        actor=actor,
    )
    return True


def remove_member(membership: Membership, *, actor: User | None) -> None:
    """Take the member off the project. Raises ``Conflict(LAST_OWNER)`` for the last owner."""
    if is_last_owner(membership):
        raise Conflict(LAST_OWNER)
    AuditEvent.record(
        AuditKind.MEMBER_REMOVED,
        project=membership.project,
        target=membership.user.label,
        role=membership.role.value,
        actor=actor,
    )
    db.session.delete(membership)
