"""Publishing: audit events become queued webhook deliveries, as they are flushed.

Every event a webhook can send is recorded in the audit log by the core rule that
does it (``AuditEvent.record``). A ``before_flush`` listener here turns each new audit
event of a published kind into one queued delivery per enabled webhook of its project
that wants that kind, in the same flush and so the same transaction: no rule can
record an event without publishing it, an action rolled back publishes nothing, and
no call site names webhooks. ``record``'s ``token=``/``member=`` say what the event is
about (the audit row names it only in words).

A delivery row holds exactly the body to send and sign, in the webhook's format.
"""

import itertools
import json
import math
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from ... import queued_work, token_format
from ...extensions import db
from ...models import (
    ApiToken,
    AuditEvent,
    AuditKind,
    Project,
    User,
    Webhook,
    WebhookDelivery,
    utcnow,
)
from .managing import EVENT_TYPES, PENDING, TEST_EVENT, wants


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def payload(
    kind: str,
    at: datetime,
    project: Project,
    actor: str,
    *,
    token: ApiToken | None = None,
    member: User | None = None,
    details: dict | None = None,
) -> dict:
    """The JSON a webhook receives for an event: never a token's value, only its id,
    name and the hint owners see."""
    details = {key: value for key, value in (details or {}).items() if value is not None}
    body = {
        "id": str(uuid.uuid4()),
        "type": kind,
        "time": rfc3339(at),
        "project": {"slug": project.slug, "name": project.name},
        "actor": actor,
    }
    if token is not None:
        body["token"] = {
            "id": token.id,
            "name": token.name,
            "hint": token_format.display_hint(token.hint),
        }
    if member is not None:
        body["member"] = {"name": member.name, "email": member.email}
        if "role" in details:
            body["member"]["role"] = details["role"]
    body["data"] = details
    return body


def slack_escaped(text: str) -> str:
    """Slack reads ``<…>`` as a link and ``&`` as an entity: written as themselves."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


SENTENCES = {
    AuditKind.TOKEN_CREATED: "{actor} created the token {token} in {project}.",
    AuditKind.TOKEN_ROTATED: "{actor} rotated the token {token} in {project}.",
    AuditKind.TOKEN_REVOKED: "{actor} revoked the token {token} in {project}.",
    AuditKind.TOKEN_REVOKED_AS_LEAKED: "The token {token} in {project} was reported as "
    "leaked and has been revoked.",
    AuditKind.TOKEN_PRUNED: "The token {token} in {project} was revoked: it was unused "
    "for longer than the project allows.",
    AuditKind.TOKEN_EXPIRING: "The token {token} in {project} expires {when}: rotate it "
    "before apps stop working.",
    AuditKind.MEMBER_ADDED: "{actor} added {member} to {project} as {role}.",
    AuditKind.MEMBER_ROLE_CHANGED: "{actor} made {member} {role} in {project}.",
    AuditKind.MEMBER_REMOVED: "{actor} removed {member} from {project}.",
    TEST_EVENT: "A test from FlagPal Dash for {project}: this webhook works.",
}


def expires_in_words(body: dict) -> str:
    data = body["data"]
    if "days" in data:
        days = int(data["days"])
    elif "expires_at" in data:
        left = datetime.fromisoformat(data["expires_at"]) - datetime.fromisoformat(
            body["time"].replace("Z", "+00:00")
        )
        days = max(1, math.ceil(left / timedelta(days=1)))
    else:
        return "soon"
    return "in 1 day" if days == 1 else f"in {days} days"


def slack_text(body: dict) -> str:
    """The event in one sentence, for people reading a Slack channel."""
    token = body.get("token")
    member = body.get("member")
    words = {
        "actor": body["actor"],
        "project": body["project"]["name"],
        "token": f"“{token['name']}” ({token['hint']})" if token else "(unknown)",
        "member": member["name"] if member else "someone",
        "role": (member or {}).get("role", "a member"),
        "when": expires_in_words(body) if body["type"] == AuditKind.TOKEN_EXPIRING else "",
    }
    sentence = SENTENCES.get(body["type"], "{project}: " + body["type"])
    return slack_escaped(sentence.format(**words))


def encoded(webhook: Webhook, body: dict) -> str:
    """The exact text sent to ``webhook`` for the event ``body``."""
    if webhook.format == "slack":
        body = {"text": slack_text(body)}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def queue(
    webhook: Webhook, body: dict, at: datetime, session: Session | None = None
) -> WebhookDelivery:
    """A delivery of the event ``body`` to ``webhook``, due at once."""
    delivery = WebhookDelivery(
        webhook=webhook,
        event_id=body["id"],
        event_type=body["type"],
        body=encoded(webhook, body),
        created_at=at,
        status=PENDING,
        attempts=0,
        next_attempt_at=at,
    )
    session = session or db.session
    session.add(delivery)
    queued_work.mark(session)
    return delivery


def publish(session: Session, audit_event: AuditEvent) -> int:
    """Queue ``audit_event`` for its project's enabled webhooks that want its kind; how
    many deliveries were queued."""
    project = audit_event.project
    if project is None or project.id is None:
        return 0  # (a project being made has no webhooks yet)
    hooks = [
        hook
        for hook in session.scalars(
            select(Webhook).where(Webhook.project_id == project.id, Webhook.enabled)
        )
        if wants(hook, audit_event.kind)
    ]
    if not hooks:
        return 0
    if audit_event.at is None:
        audit_event.at = utcnow()
    body = payload(
        audit_event.kind,
        audit_event.at,
        project,
        audit_event.actor,
        token=audit_event.token,
        member=audit_event.member,
        details=audit_event.details,
    )
    for hook in hooks:
        queue(hook, body, audit_event.at, session)
    return len(hooks)


_order = itertools.count()


@event.listens_for(AuditEvent, "init")
def _number(target, args, kwargs) -> None:
    # Events recorded in one flush are published in the order they were recorded.
    target._published_order = next(_order)


@event.listens_for(Session, "before_flush")
def _publish_new_events(session: Session, flush_context, instances) -> None:
    new = [
        item for item in session.new if isinstance(item, AuditEvent) and item.kind in EVENT_TYPES
    ]
    if not new:
        return
    with session.no_autoflush:
        for audit_event in sorted(new, key=lambda item: getattr(item, "_published_order", 0)):
            publish(session, audit_event)


def send_test(webhook: Webhook, *, actor: User | None, now: datetime) -> WebhookDelivery:
    """Queue a ``webhook.test`` event for ``webhook`` (on or off: owners test a webhook
    before switching it back on), due at once."""
    actor_label = actor.label if actor else "command line"
    body = payload(TEST_EVENT, now, webhook.project, actor_label)
    return queue(webhook, body, now)
