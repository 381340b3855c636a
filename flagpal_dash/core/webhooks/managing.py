"""Managing webhooks: a project's webhooks, what each is sent and how, adding,
changing and removing them, their secrets, and what their pages list.

The signing secret is never stored: it is an HMAC of the webhook's random nonce under
the app's secret key (``settings.secret_key``), so the database alone never yields it,
and a new secret key changes every webhook's secret (owners then make a new one).

The words shared by the other two modules live here too: the event types, the
formats, a delivery's statuses, and the settings deliveries are told.
"""

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select

from ... import addresses
from ...extensions import db
from ...models import AuditEvent, AuditKind, Project, User, Webhook, WebhookDelivery
from ...validation import Invalid
from .. import rows

# The events a webhook can send, in the order the form lists them: the audit kinds of
# what happens to tokens and members. Their values are the payload's stable ``type``.
EVENT_TYPES: dict[str, str] = {
    AuditKind.TOKEN_CREATED: "A token is created",
    AuditKind.TOKEN_ROTATED: "A token is rotated",
    AuditKind.TOKEN_REVOKED: "A token is revoked",
    AuditKind.TOKEN_REVOKED_AS_LEAKED: "A token is reported as leaked (and revoked)",
    AuditKind.TOKEN_PRUNED: "An unused token is revoked by the project's policy",
    AuditKind.TOKEN_EXPIRING: "A token is about to expire (14, 7 and 1 days before)",
    AuditKind.MEMBER_ADDED: "Someone joins the project",
    AuditKind.MEMBER_ROLE_CHANGED: "A member's role changes",
    AuditKind.MEMBER_REMOVED: "Someone is removed from the project",
}
# What Send test sends: to every webhook, whatever it subscribes to.
TEST_EVENT = "webhook.test"
# Stored for "every event", so a webhook made so gets kinds added later too.
ALL_EVENTS = "*"
FORMATS = {"json": "FlagPal JSON (signed)", "slack": "Slack message"}
# A delivery's statuses.
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
# The page of a webhook shows at most this many of its deliveries.
SHOWN = 50


@dataclass(frozen=True)
class WebhookSettings:
    """What deliveries are told (README, Webhooks): the app's secret key (secrets are
    derived from it), whether private addresses are allowed, the User-Agent, and how
    names resolve (None: the system's resolver)."""

    secret_key: str
    allow_private: bool = False
    user_agent: str = "FlagPal-Dash"
    resolver: addresses.Resolver | None = None


class AddressInvalid(Invalid):
    """A webhook URL refused by its form or by where it leads (addresses.py)."""


class FormatInvalid(Invalid):
    """A format that is not one of FORMATS (a forged form)."""


def secret(webhook: Webhook, settings: WebhookSettings) -> str:
    """The webhook's signing secret: ``whsec_`` and 64 hex digits."""
    key = settings.secret_key.encode()
    digest = hmac.new(key, f"flagpal-webhook:{webhook.secret_nonce}".encode(), hashlib.sha256)
    return "whsec_" + digest.hexdigest()


def webhooks_of(project: Project) -> list[Webhook]:
    return list(
        db.session.scalars(
            select(Webhook).where(Webhook.project_id == project.id).order_by(Webhook.id)
        )
    )


def webhook_by_id(project: Project, webhook_id: int) -> Webhook | None:
    """The project's webhook ``webhook_id``; None for another project's."""
    return rows.of_project(Webhook, project, webhook_id)


def label(webhook: Webhook) -> str:
    """How the audit log and the log name a webhook: by its host only, as a URL's path
    may itself be a secret (a Slack incoming webhook's is), and developers read the
    audit log."""
    host = addresses.parse(webhook.url, allow_private=True)[1] if webhook.url else "?"
    return f"webhook #{webhook.id} to {host}"


def events_of(webhook: Webhook) -> list[str]:
    """The event types ``webhook`` is sent, in the form's order."""
    if webhook.events == ALL_EVENTS:
        return list(EVENT_TYPES)
    chosen = set(webhook.events.split())
    return [kind for kind in EVENT_TYPES if kind in chosen]


def wants(webhook: Webhook, kind: str) -> bool:
    return kind == TEST_EVENT or webhook.events == ALL_EVENTS or kind in webhook.events.split()


def stored_events(events: Iterable[str] | None) -> str:
    """What ``events`` (None: all) is stored as; ``Invalid`` for none or unknown ones."""
    if events is None:
        return ALL_EVENTS
    chosen = set(events)
    if not chosen:
        raise Invalid("Choose at least one event, or all events.")
    if chosen - set(EVENT_TYPES):
        raise Invalid("Choose events from the list.")
    # Every box ticked is still a list: only "all events" takes kinds added later.
    return " ".join(kind for kind in EVENT_TYPES if kind in chosen)


def checked_url(url: str, settings: WebhookSettings) -> str:
    """``url`` trimmed, or ``Invalid`` saying why it cannot be a webhook's (its form,
    and every address its host resolves to now)."""
    url = (url or "").strip()
    if not url:
        raise AddressInvalid(
            "Enter the address the events go to, like https://example.com/hooks/flagpal."
        )
    try:
        addresses.resolve(url, allow_private=settings.allow_private, resolver=settings.resolver)
    except addresses.AddressRefused as refused:
        raise AddressInvalid(str(refused)) from None
    return url


def checked_format(format: str) -> str:
    if format not in FORMATS:
        raise FormatInvalid("Choose one of the listed formats.")
    return format


def create(
    project: Project,
    url: str,
    events: Iterable[str] | None,
    format: str,
    *,
    actor: User | None,
    now: datetime,
    settings: WebhookSettings,
) -> tuple[Webhook, str]:
    """A new webhook for ``project`` (``events`` None: every event) and its secret, which
    the caller shows once. ``Invalid`` for a URL the rules refuse."""
    webhook = Webhook(
        project=project,
        url=checked_url(url, settings),
        events=stored_events(events),
        format=checked_format(format),
        enabled=True,
        secret_nonce=secrets.token_hex(32),
        created_at=now,
        created_by_id=actor.id if actor else None,
    )
    db.session.add(webhook)
    db.session.flush()
    AuditEvent.record(
        AuditKind.WEBHOOK_CREATED,
        project=project,
        target=label(webhook),
        actor=actor,
        events=events_of(webhook),
        format=webhook.format,
    )
    return webhook, secret(webhook, settings)


def change(
    webhook: Webhook,
    events: Iterable[str] | None,
    format: str,
    enabled: bool,
    *,
    actor: User | None,
    now: datetime,
) -> bool:
    """Set what ``webhook`` is sent, how, and whether it is on; False when nothing
    changed. Switching it back on forgets its failures: it gets a fresh day."""
    new_events, format = stored_events(events), checked_format(format)
    changes = {}
    if new_events != webhook.events:
        webhook.events = new_events
        changes["events"] = events_of(webhook)
    if format != webhook.format:
        webhook.format = changes["format"] = format
    if enabled != webhook.enabled:
        webhook.enabled = changes["enabled"] = enabled
        webhook.failing_since = None
        webhook.disabled_reason = None
    if not changes:
        return False
    AuditEvent.record(
        AuditKind.WEBHOOK_CHANGED,
        project=webhook.project,
        target=label(webhook),
        actor=actor,
        **changes,
    )
    return True


def new_secret(webhook: Webhook, *, actor: User | None, settings: WebhookSettings) -> str:
    """Replace the webhook's secret; the new one, for the caller to show once. The old
    one stops signing at once."""
    webhook.secret_nonce = secrets.token_hex(32)
    AuditEvent.record(
        AuditKind.WEBHOOK_CHANGED,
        project=webhook.project,
        target=label(webhook),
        actor=actor,
        secret="replaced",
    )
    return secret(webhook, settings)


def remove(webhook: Webhook, *, actor: User | None) -> None:
    """Delete the webhook, and with it its queued and past deliveries."""
    AuditEvent.record(
        AuditKind.WEBHOOK_DELETED, project=webhook.project, target=label(webhook), actor=actor
    )
    db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id))
    db.session.delete(webhook)


def recent_deliveries(webhook: Webhook) -> list[WebhookDelivery]:
    """The webhook's last SHOWN deliveries, newest first."""
    return list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == webhook.id)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
            .limit(SHOWN)
        )
    )


def last_deliveries(project: Project) -> dict[int, WebhookDelivery]:
    """Each of the project's webhooks' newest delivery, by webhook id (for the list)."""
    newest = (
        select(func.max(WebhookDelivery.id))
        .join(Webhook)
        .where(Webhook.project_id == project.id)
        .group_by(WebhookDelivery.webhook_id)
    )
    found = db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.id.in_(newest)))
    return {delivery.webhook_id: delivery for delivery in found}
