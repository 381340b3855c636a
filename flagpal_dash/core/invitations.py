"""Invitations: an owner invites an email address to join a project with a role; the
link works once, for ``Invitation.LIFETIME``, unless revoked. Its lifecycle (pending,
accepted, expired, revoked) is ``status``; finding one, by id or by its link's secret,
is here too.

Who acts and when are arguments; nothing here reads the request. An address already
on the project, or with a pending invitation, is not invited again (``Conflict``).
Accepting checks the invitation again under the project's lock and refuses with
``Gone`` (its status says why). The doors word both.
"""

import enum
import secrets
from datetime import datetime

from sqlalchemy import select

from ..extensions import db
from ..models import AuditEvent, AuditKind, Invitation, Membership, Project, User
from ..permissions import Role
from . import projects, rows
from .errors import Conflict, DomainError

# The codes of this module's refusals to invite.
ALREADY_MEMBER = "already_member"
ALREADY_INVITED = "already_invited"


class InvitationStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    EXPIRED = "expired"
    REVOKED = "revoked"


def status(invitation: Invitation, now: datetime) -> InvitationStatus:
    """Where ``invitation`` is in its lifecycle at ``now``: only a pending one can be
    accepted or revoked."""
    if invitation.accepted_at is not None:
        return InvitationStatus.ACCEPTED
    if invitation.revoked_at is not None:
        return InvitationStatus.REVOKED
    if invitation.expires_at <= now:
        return InvitationStatus.EXPIRED
    return InvitationStatus.PENDING


class Gone(DomainError):
    """The invitation cannot be used any more: ``status`` is why (accepted, expired,
    revoked). The web answers 410."""

    code = "invitation_gone"


def invitation_by_secret(secret: str) -> Invitation | None:
    """The invitation whose link carries ``secret``, whatever its status."""
    return rows.by_secret(Invitation, secret)


def invitation_by_id(project: Project, invitation_id: int) -> Invitation | None:
    """The project's invitation ``invitation_id``; None for another project's."""
    return rows.of_project(Invitation, project, invitation_id)


def pending(project: Project, now: datetime, email: str | None = None) -> list[Invitation]:
    """The project's invitations (for ``email``, if given) that can still be accepted at
    ``now``, newest first."""
    query = select(Invitation).where(
        Invitation.project_id == project.id,
        Invitation.accepted_at.is_(None),
        Invitation.revoked_at.is_(None),
        Invitation.expires_at > now,
    )
    if email is not None:
        query = query.where(Invitation.email == email)
    return list(
        db.session.scalars(query.order_by(Invitation.created_at.desc(), Invitation.id.desc()))
    )


def is_invited(email: str, now: datetime) -> bool:
    """Whether some project has an invitation for ``email`` that can still be accepted."""
    return (
        db.session.scalar(
            select(Invitation.id)
            .where(
                Invitation.email == email,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > now,
            )
            .limit(1)
        )
        is not None
    )


def require_invitable(project: Project, email: str, now: datetime) -> None:
    """Raises ``Conflict(ALREADY_MEMBER, role=…)`` when the account of ``email`` is on
    the project, ``Conflict(ALREADY_INVITED)`` when an invitation for it is pending."""
    user = User.by_email(email)
    membership = user and projects.membership_of(user, project)
    if membership:
        raise Conflict(ALREADY_MEMBER, role=membership.role)
    if pending(project, now, email):
        raise Conflict(ALREADY_INVITED)


def create_invitation(
    project: Project,
    email: str,
    role: Role,
    *,
    by: User | None,
    now: datetime,
    by_mail: bool = False,
) -> tuple[Invitation, str]:
    """A new invitation from ``by`` and the secret for its link, which the caller shows
    once, or, ``by_mail``, only mails (see ``Invitation.delivered_by_mail``). Refuses
    as ``require_invitable`` does: the caller holds the project's lock (a POST under
    ``project_route`` does), so two invitations for one address cannot both pass."""
    require_invitable(project, email, now)
    secret = secrets.token_urlsafe(32)
    invitation = Invitation(
        project=project,
        email=email,
        role=role,
        secret_hash=rows.secret_hash(secret),
        created_at=now,
        created_by=by,
        expires_at=now + Invitation.LIFETIME,
        delivered_by_mail=by_mail,
    )
    db.session.add(invitation)
    db.session.flush()
    AuditEvent.record(
        AuditKind.INVITATION_CREATED,
        project=project,
        target=invitation.label,
        role=role.value,
        actor=by,
    )
    return invitation, secret


def revoke_invitation(invitation: Invitation, *, by: User | None, now: datetime) -> bool:
    """Withdraw a pending invitation; False if it could not be used anyway."""
    if status(invitation, now) is not InvitationStatus.PENDING:
        return False
    invitation.revoked_at = now
    AuditEvent.record(
        AuditKind.INVITATION_REVOKED, project=invitation.project, target=invitation.label, actor=by
    )
    return True


def hold_pending(invitation: Invitation, now: datetime) -> None:
    """Take the project's lock, then make sure the invitation can still be used; raises
    ``Gone`` otherwise.

    Two tabs accepting at once: the second waits for the first, then is told the link
    was used (not a second account or membership)."""
    projects.project_by_slug(invitation.project.slug, lock=True)
    db.session.refresh(invitation)
    current = status(invitation, now)
    if current is not InvitationStatus.PENDING:
        raise Gone(status=current)


def accept_invitation(invitation: Invitation, user: User, now: datetime) -> Membership | None:
    """Join ``user`` to the project with the invited role, once; the caller holds the
    project (``hold_pending``) and has checked the user may join (accounts.may_join).

    Returns the new membership, or None when they were a member already (the
    invitation is used up either way and their role is left as it was).
    """
    invitation.accepted_at = now
    invitation.accepted_by_id = user.id
    AuditEvent.record(
        AuditKind.INVITATION_ACCEPTED,
        project=invitation.project,
        target=invitation.label,
        actor=user,
    )
    if projects.membership_of(user, invitation.project) is not None:
        return None
    return projects.add_member(invitation.project, user, invitation.role, actor=user)
