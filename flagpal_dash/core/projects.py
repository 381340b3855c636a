"""Projects and their members: finding a project, its members and a person's
projects; creating a project, adding a member, changing a role, removing a member, and
the rule that a project always keeps at least one owner; setting the project's token
policy (what it allows when a token is issued is core/tokens.py's).

Who acts is an argument (``actor``, recorded in the audit log); nothing here reads the
request. Refusals are ``Conflict`` errors with a code; the door words them.
"""

from sqlalchemy import case, func, select
from sqlalchemy.orm import contains_eager

from .. import validation
from ..extensions import db
from ..models import AuditEvent, AuditKind, Membership, Project, User
from ..permissions import Role
from ..validation import Invalid
from . import rows
from .errors import Conflict
from .locking import locked

# The codes of this module's refusals.
LAST_OWNER = "last_owner"
SLUG_TAKEN = "slug_taken"

# Project token policy, chosen by owners from these numbers of days (None: no maximum
# lifetime, never revoke unused tokens).
TOKEN_LIFETIME_CHOICES = (30, 90, 180, 365)
UNUSED_TOKEN_CHOICES = (30, 60, 90, 180, 365)


# Queries.


def project_by_slug(slug: str, *, lock: bool = False) -> Project | None:
    """Project ``slug``. With ``lock``, held until the transaction ends: changes to one
    project are made one at a time, so what a change checks first (a token name is
    free, another owner remains, no invitation is pending) still holds when it is
    committed, however many requests try at once."""
    if "\x00" in slug:
        return None  # in no slug, and PostgreSQL refuses to compare text holding it
    query = select(Project).where(Project.slug == slug)
    return db.session.scalar(locked(query) if lock else query)


def members_of(project: Project) -> list[Membership]:
    """Everyone on the project: owners first, then by name."""
    order = case({Role.OWNER: 0, Role.DEVELOPER: 1, Role.VIEWER: 2}, value=Membership.role)
    return list(
        db.session.scalars(
            select(Membership)
            .join(User)
            .where(Membership.project_id == project.id)
            .order_by(order, User.name)
        )
    )


def owners_of(project: Project, *, active: bool = False) -> list[User]:
    """The project's owners, by name; with ``active``, only those whose account can sign
    in (the ones worth mailing)."""
    query = (
        select(User)
        .join(Membership)
        .where(Membership.project_id == project.id, Membership.role == Role.OWNER)
        .order_by(User.name, User.id)
    )
    if active:
        query = query.where(User.active)
    return list(db.session.scalars(query))


def membership_by_id(project: Project, membership_id: int) -> Membership | None:
    """The project's membership ``membership_id``; None for another project's."""
    return rows.of_project(Membership, project, membership_id)


def membership_of(user: User, project: Project) -> Membership | None:
    """``user``'s membership in ``project``; None when they are not on it."""
    return db.session.scalar(
        select(Membership).where(Membership.project_id == project.id, Membership.user_id == user.id)
    )


def memberships_of(user: User) -> list[Membership]:
    """``user``'s memberships, their projects loaded with them, by project name."""
    return list(
        db.session.scalars(
            select(Membership)
            .join(Membership.project)
            .options(contains_eager(Membership.project))
            .where(Membership.user_id == user.id)
            .order_by(Project.name, Project.id)
        )
    )


def projects_of(user: User) -> list[Project]:
    """Projects ``user`` is a member of, by name."""
    return list(
        db.session.scalars(
            select(Project)
            .join(Membership)
            .where(Membership.user_id == user.id)
            .order_by(Project.name)
        )
    )


# Changes. Each adds its audit event to the session; the caller commits.


def create_project(name: str, slug: str | None = None, *, actor: User | None) -> Project:
    """A new project; without a ``slug``, one is made from the name and kept unique.

    Raises ``Conflict(SLUG_TAKEN, slug=…)`` when a slug given explicitly is taken.
    """
    if slug is not None:
        if project_by_slug(slug):
            raise Conflict(SLUG_TAKEN, slug=slug)
    else:
        base = validation.slug_from_name(name)
        slug, number = base, 1
        while project_by_slug(slug):
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
        AuditKind.MEMBER_ADDED,
        project=project,
        target=user.label,
        member=user,
        role=role.value,
        actor=actor,
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
        member=membership.user,
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
        member=membership.user,
        role=membership.role.value,
        actor=actor,
    )
    db.session.delete(membership)


def set_token_policy(
    project: Project,
    max_token_lifetime_days: int | None,
    revoke_unused_after_days: int | None,
    *,
    actor: User | None,
) -> bool:
    """Set the project's token policy; False when it was so already (nothing recorded).

    Raises ``Invalid`` for a number of days that is not one of the choices. Tokens
    that exist keep their expiry: the maximum applies to tokens made from now on.
    """
    if max_token_lifetime_days not in (None, *TOKEN_LIFETIME_CHOICES):
        raise Invalid("Choose one of the listed lifetimes.")
    if revoke_unused_after_days not in (None, *UNUSED_TOKEN_CHOICES):
        raise Invalid("Choose one of the listed periods.")
    changes = {}
    for attribute, new, none in [
        ("max_token_lifetime", max_token_lifetime_days, "no maximum"),
        ("revoke_unused_after", revoke_unused_after_days, "never"),
    ]:
        old = getattr(project, attribute + "_days")
        if old != new:
            # Readable in the audit log and its export: "90 days", "never".
            changes[attribute] = f"{new} days" if new else none
            changes["previous_" + attribute] = f"{old} days" if old else none
            setattr(project, attribute + "_days", new)
    if not changes:
        return False
    AuditEvent.record(
        AuditKind.PROJECT_POLICY_CHANGED,
        project=project,
        target=project.label,
        actor=actor,
        **changes,
    )
    return True
