"""The database: users, their sessions and password reset links, projects,
memberships, invitations, API tokens and their usage, the audit log.

The tables, and what a row says about itself (a label, a password check, what
Flask-Login asks of an account). Finding rows and the rules that change them live in
``core/``, one module per area; nothing here reads the request.

One module per area; every name is imported here, so ``from flagpal_dash.models import
User`` works whichever module holds it, and every table is known before SQLAlchemy
resolves a relationship named by a string.
"""

from .accounts import USER_AGENT_LENGTH, PasswordReset, SsoIdentity, User, UserSession
from .audit import ACRONYMS, LEAK_REPORT_ACTOR, AuditEvent, AuditKind
from .base import AbilitySet, UTCDateTime, role_type, utcnow
from .delivery import (
    ExpiryNotice,
    JobRun,
    MailFailure,
    OutgoingMail,
    Webhook,
    WebhookDelivery,
)
from .projects import Invitation, Membership, Project
from .tokens import ApiToken, PersonalToken, TokenUsage, TokenUsageDay

__all__ = [
    "ACRONYMS",
    "LEAK_REPORT_ACTOR",
    "USER_AGENT_LENGTH",
    "AbilitySet",
    "ApiToken",
    "AuditEvent",
    "AuditKind",
    "ExpiryNotice",
    "Invitation",
    "JobRun",
    "MailFailure",
    "Membership",
    "OutgoingMail",
    "PasswordReset",
    "PersonalToken",
    "Project",
    "SsoIdentity",
    "TokenUsage",
    "TokenUsageDay",
    "UTCDateTime",
    "User",
    "UserSession",
    "Webhook",
    "WebhookDelivery",
    "role_type",
    "utcnow",
]
