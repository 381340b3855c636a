"""The audit log: the kinds of event and the record of each."""

import enum
from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from sqlalchemy import (
    ForeignKey,
    Index,
    String,
    types,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .accounts import User
from .base import UTCDateTime, utcnow
from .projects import Project
from .tokens import ApiToken

# How the audit log names whoever reported a leaked token: they have no account.
LEAK_REPORT_ACTOR = "leak report"


class AuditKind(enum.StrEnum):
    TOKEN_CREATED = "token.created"
    TOKEN_REVOKED = "token.revoked"
    TOKEN_ROTATED = "token.rotated"
    TOKEN_REVOKED_AS_LEAKED = "token.revoked_as_leaked"
    TOKEN_PRUNED = "token.pruned"
    TOKEN_EXPIRING = "token.expiring"
    MEMBER_ADDED = "member.added"
    MEMBER_ROLE_CHANGED = "member.role_changed"
    MEMBER_REMOVED = "member.removed"
    INVITATION_CREATED = "invitation.created"
    INVITATION_ACCEPTED = "invitation.accepted"
    INVITATION_REVOKED = "invitation.revoked"
    SIGN_IN_SUCCEEDED = "sign_in.succeeded"
    SIGN_IN_FAILED = "sign_in.failed"
    PASSWORD_CHANGED = "account.password_changed"
    PASSWORD_RESET_LINK_CREATED = "account.password_reset_link_created"
    SESSION_ENDED = "account.session_ended"
    OTHER_SESSIONS_ENDED = "account.other_sessions_ended"
    USER_CREATED = "user.created"
    USER_DEACTIVATED = "user.deactivated"
    USER_REACTIVATED = "user.reactivated"
    USER_ADDRESS_PROVEN = "user.address_proven"
    USER_CLAIMED = "user.claimed"
    # Single sign-on (core/sso.py): an identity joined to an account, and the provider's
    # admin group granting or removing instance admin.
    USER_SSO_LINKED = "user.sso_linked"
    USER_ADMIN_GRANTED = "user.admin_granted"
    USER_ADMIN_REMOVED = "user.admin_removed"
    SSO_SIGN_IN_SUCCEEDED = "sign_in.sso_succeeded"
    SSO_SIGN_IN_REFUSED = "sign_in.sso_refused"
    PROJECT_CREATED = "project.created"
    PROJECT_POLICY_CHANGED = "project.policy_changed"
    WEBHOOK_CREATED = "webhook.created"
    WEBHOOK_CHANGED = "webhook.changed"
    WEBHOOK_DELETED = "webhook.deleted"
    WEBHOOK_DISABLED = "webhook.disabled"
    PERSONAL_TOKEN_CREATED = "personal_token.created"
    PERSONAL_TOKEN_REVOKED = "personal_token.revoked"


# Words of audit kinds written in capitals when shown.
ACRONYMS = {"sso": "SSO"}


class AuditEvent(db.Model):
    """Something someone did, kept for the audit log: who, when, from where, what.

    Never a token value or a password: ``target`` names things, ``details`` holds facts
    like a role or abilities. The actor's name and email are copied, so the record
    stays readable if the account changes.
    """

    __tablename__ = "audit_events"
    __table_args__ = (Index(None, "project_id", "at"), Index(None, "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(400))
    address: Mapped[str | None] = mapped_column(String(45))
    target: Mapped[str | None] = mapped_column(String(400))
    details: Mapped[dict] = mapped_column(types.JSON, default=dict)

    project: Mapped[Project | None] = relationship()

    @property
    def kind_label(self) -> str:
        """``member.role_changed`` reads "Member role changed", ``sign_in.sso_refused``
        "Sign in SSO refused"."""
        words = self.kind.replace(".", " ").replace("_", " ").capitalize().split(" ")
        return " ".join(ACRONYMS.get(word, word) for word in words)

    # What the event is about, for webhooks (``record``); not columns.
    token = None
    member = None

    # Where the action being recorded came from. The web door installs a reader of the
    # request's address (audit.py); off the web (the command line, a job) there is none.
    # Looked up only when an event is recorded, so requests that record nothing (the
    # token check) pay nothing for it.
    address_of_door: ClassVar[Callable[[], str | None]] = staticmethod(lambda: None)

    @classmethod
    def record(
        cls,
        kind: AuditKind,
        *,
        actor: User | None,
        project: Project | None = None,
        target: str | None = None,
        actor_label: str | None = None,
        token: "ApiToken | None" = None,
        member: User | None = None,
        **details,
    ) -> "AuditEvent":
        """Add an event to the session, to be committed with the action it records (a
        failed sign-in, which changes nothing else, commits its record alone).

        ``actor`` is whoever did it: required, so no caller forgets to say; None only
        where no account acts (the command line, a job, a failed sign-in). The log
        names the actor as ``actor_label`` says when given (a person acting through a
        door that must be named, like "… via API (Release script)", or someone without
        an account, like a leak report), else as the account's label, else
        "anonymous" on the web and "command line" off it.

        ``token`` and ``member`` name the token or person the event is about, for the
        project's webhooks (core/webhooks/publishing.py publishes every event as it is flushed):
        not stored in the audit row, whose ``target`` names them already.
        """
        address = cls.address_of_door()
        if actor_label is None:
            if actor is not None:
                actor_label = actor.label
            else:
                actor_label = "anonymous" if address is not None else "command line"
        event = cls(
            kind=kind.value,
            project=project,
            actor_id=actor.id if actor else None,
            actor=actor_label,
            address=address,
            target=target,
            details=details,
        )
        event.token, event.member = token, member
        db.session.add(event)
        return event
