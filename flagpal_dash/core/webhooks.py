"""Webhooks: a project's token and member events sent, signed, to URLs its owners chose.

Publishing. Every event a webhook can send is recorded in the audit log by the core
rule that does it (``AuditEvent.record``). A ``before_flush`` listener here turns each
new audit event of a published kind into one queued delivery per enabled webhook of
its project that wants that kind, in the same flush and so the same transaction: no
rule can record an event without publishing it, an action rolled back publishes
nothing, and no call site names webhooks. ``record``'s ``token=``/``member=`` say
what the event is about (the audit row names it only in words).

Delivering. A delivery row holds exactly the body to send and sign. The deliverer's
thread (deliverer.py) or ``flagpal-dash webhooks deliver`` asks ``deliver_due(now)``;
each attempt first claims its row with a conditional UPDATE (as core/jobs.py claims
a job), so of any number of servers one sends it at a time, and no transaction is open
while waiting on the receiver. The URL is checked again at send time (addresses.py):
its host is resolved, every address checked, and the connection made to the checked
address, with the host's name in the Host header and TLS's SNI. Redirects are not
followed. A failed attempt is retried with backoff until a day after the first; a
webhook whose every attempt failed for a day is switched off and its owners told.

The signing secret is never stored: it is an HMAC of the webhook's random nonce under
the app's secret key (``settings.secret_key``), so the database alone never yields it,
and a new secret key changes every webhook's secret (owners then make a new one).

The actor, the clock and the settings are arguments: nothing here reads the request.
"""

import hashlib
import hmac
import http.client
import itertools
import json
import logging
import math
import secrets
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, event, func, or_, select, update
from sqlalchemy.orm import Session

from .. import addresses, dates, links, queued_work, token_format
from ..extensions import db
from ..models import (
    ApiToken,
    AuditEvent,
    AuditKind,
    Project,
    User,
    Webhook,
    WebhookDelivery,
    utcnow,
)
from ..retries import Backoff
from ..validation import Invalid
from . import outbox, projects, rows

logger = logging.getLogger(__name__)

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

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
# After each failed attempt, the wait before the next, until a day after the first
# attempt, when one last attempt is made.
BACKOFF = Backoff(
    waits=(
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=6),
        timedelta(hours=12),
    ),
    give_up_after=timedelta(days=1),
)
# A webhook whose every attempt failed this long is switched off.
SWITCH_OFF_AFTER = timedelta(days=1)
# Seconds to connect, and then to each read of the answer.
TIMEOUT = 10.0
# Seconds an attempt may take in all: a receiver answering a byte at a time stays under
# TIMEOUT at each read, and this cuts it off, well within LEASE.
ATTEMPT_LIMIT = 30.0
# Longer than any attempt takes: an attempt whose server died frees its delivery after it.
LEASE = timedelta(minutes=2)
# Done deliveries are deleted this long after they are done; the page shows at most SHOWN.
KEEP_DONE = timedelta(days=1)
SHOWN = 50
# At most this many deliveries a call of ``deliver_due``: the thread looks again soon.
BATCH = 100
ERROR_LENGTH = 300
# Who the audit log says switched a webhook off.
DELIVERIES_ACTOR = "webhook deliveries"


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


# The secret and the signature.


def secret(webhook: Webhook, settings: WebhookSettings) -> str:
    """The webhook's signing secret: ``whsec_`` and 64 hex digits."""
    key = settings.secret_key.encode()
    digest = hmac.new(key, f"flagpal-webhook:{webhook.secret_nonce}".encode(), hashlib.sha256)
    return "whsec_" + digest.hexdigest()


def signature(webhook_secret: str, timestamp: int, body: bytes) -> str:
    """``X-FlagPal-Signature``: ``sha256=`` and the hex HMAC-SHA256, under the secret, of
    the timestamp, a dot and the body, exactly as sent."""
    signed = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(webhook_secret.encode(), signed, hashlib.sha256).hexdigest()


# Managing webhooks.


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


# Publishing: events become queued deliveries.


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


# Delivering.


@dataclass(frozen=True)
class Attempt:
    """How an attempt went: ``ok`` on a 2xx answer; the answer's code if any; why not."""

    ok: bool
    code: int | None = None
    error: str | None = None


def post(target: addresses.Target, body: bytes, headers: dict, timeout: float) -> Attempt:
    """POST ``body`` to ``target``, connecting to its checked address only. Nothing is
    followed: a redirect is a failed attempt."""
    if target.scheme == "https":
        connection = http.client.HTTPSConnection(
            target.host, target.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout)

    # http.client would resolve the host again; this connects to the address checked,
    # while the Host header and TLS (SNI, the certificate's name) keep the host's name.
    def connect_to_checked(address, timeout=None, source_address=None):
        return socket.create_connection((target.address, target.port), timeout, source_address)

    connection._create_connection = connect_to_checked
    cut = []

    def cut_off() -> None:
        # Shutting the socket down ends a read blocked in another thread (close does not).
        cut.append(True)
        if connection.sock is not None:
            try:
                connection.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    limit = threading.Timer(ATTEMPT_LIMIT, cut_off)
    limit.daemon = True
    limit.start()
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(1024)  # (the answer's body is not kept)
        code = response.status
        if 200 <= code < 300:
            return Attempt(True, code)
        if 300 <= code < 400:
            location = response.getheader("Location") or ""
            host = addresses.urlsplit_host(location) or target.host
            return Attempt(
                False,
                code,
                f"the webhook answered with a redirect to {host}, which is not followed",
            )
        return Attempt(False, code, f"the webhook answered {code} {response.reason}"[:ERROR_LENGTH])
    except TimeoutError:
        return Attempt(False, None, f"no answer within {timeout:g} seconds")
    except ConnectionRefusedError:
        return Attempt(False, None, f"{target.host} refused the connection")
    except ssl.SSLError as error:
        return Attempt(
            False, None, f"the secure connection failed ({error.reason or error})"[:ERROR_LENGTH]
        )
    except (OSError, http.client.HTTPException) as error:
        if cut:
            return Attempt(False, None, f"the answer took longer than {ATTEMPT_LIMIT:g} seconds")
        return Attempt(
            False, None, f"sending failed ({type(error).__name__}: {error})"[:ERROR_LENGTH]
        )
    finally:
        limit.cancel()
        connection.close()


def due_ids(now: datetime) -> list[int]:
    """Deliveries whose next attempt is due and that no attempt holds, oldest first."""
    ids = list(
        db.session.scalars(
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.status == PENDING,
                WebhookDelivery.next_attempt_at <= now,
                or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until <= now),
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(BATCH)
        )
    )
    db.session.commit()  # (ends the read, so the claims that follow see what is new)
    return ids


def claim(delivery_id: int, now: datetime, *, runner: str) -> bool:
    """Take delivery ``delivery_id`` for one attempt: True for exactly one claimant while
    it is pending and nobody holds it. Commits."""
    claimed = db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == PENDING,
            or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until <= now),
        )
        .values(claimed_until=now + LEASE, claimed_by=runner[:200])
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return claimed == 1


def deliver_due(now: datetime, settings: WebhookSettings, *, runner: str = "deliverer") -> int:
    """Attempt every delivery due at ``now``; how many were attempted. Each claim is
    made at ``now`` plus the time spent so far, so a slow receiver cannot make a
    later claim's lease end before it is taken."""
    started = time.monotonic()
    attempted = 0
    for delivery_id in due_ids(now):
        moment = now + timedelta(seconds=time.monotonic() - started)
        if deliver(delivery_id, moment, settings, runner=runner) is not None:
            attempted += 1
    return attempted


def deliver(
    delivery_id: int, now: datetime, settings: WebhookSettings, *, runner: str
) -> Attempt | None:
    """One attempt of delivery ``delivery_id``, if this claim wins (None otherwise)."""
    if not claim(delivery_id, now, runner=runner):
        return None
    delivery = db.session.get(WebhookDelivery, delivery_id, populate_existing=True)
    webhook = delivery.webhook
    if not webhook.enabled and delivery.event_type != TEST_EVENT:
        outcome = Attempt(False, None, "the webhook was switched off before this was sent")
        give_up(delivery, now, outcome)
        db.session.commit()
        return outcome
    body = delivery.body.encode()
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": settings.user_agent,
        "X-FlagPal-Event": delivery.event_type,
        "X-FlagPal-Delivery": str(delivery.id),
        "X-FlagPal-Timestamp": str(timestamp),
        "X-FlagPal-Signature": signature(secret(webhook, settings), timestamp, body),
    }
    url = webhook.url
    db.session.commit()  # nothing held while the receiver is waited on
    try:
        target = addresses.resolve(
            url, allow_private=settings.allow_private, resolver=settings.resolver
        )
    except addresses.AddressRefused as refused:
        outcome = Attempt(False, None, f"not sent: {refused}"[:ERROR_LENGTH])
    else:
        outcome = post(target, body, headers, TIMEOUT)
    record_attempt(delivery_id, now, outcome)
    return outcome


def record_attempt(delivery_id: int, now: datetime, outcome: Attempt) -> None:
    """Write how the attempt went, and what follows: done, the next try, or giving up
    (and, after a day of failures, switching the webhook off). Commits."""
    delivery = db.session.get(WebhookDelivery, delivery_id, populate_existing=True)
    webhook = db.session.get(Webhook, delivery.webhook_id, populate_existing=True)
    delivery.attempts += 1
    delivery.first_attempt_at = delivery.first_attempt_at or now
    delivery.last_attempt_at = now
    delivery.response_code = outcome.code
    delivery.error = outcome.error
    delivery.claimed_until = delivery.claimed_by = None
    if outcome.ok:
        delivery.status, delivery.done_at, delivery.next_attempt_at = DELIVERED, now, None
        webhook.failing_since = None
        webhook.last_success_at = now
    else:
        retry_at = BACKOFF.next_attempt(delivery.attempts, delivery.first_attempt_at, now)
        if retry_at is None:
            give_up(delivery, now, outcome)
        else:
            delivery.next_attempt_at = retry_at
        webhook.failing_since = webhook.failing_since or now
        if webhook.enabled and now - webhook.failing_since >= SWITCH_OFF_AFTER:
            switch_off(webhook, now, outcome)
    db.session.commit()
    logger.log(
        logging.INFO if outcome.ok else logging.WARNING,
        "Webhook delivery %s (%s) to %s: %s",
        delivery.id,
        delivery.event_type,
        label(webhook),
        f"delivered ({outcome.code})" if outcome.ok else f"failed: {outcome.error}",
    )


def give_up(delivery: WebhookDelivery, now: datetime, outcome: Attempt) -> None:
    delivery.status, delivery.done_at, delivery.next_attempt_at = FAILED, now, None
    delivery.error = outcome.error
    delivery.claimed_until = delivery.claimed_by = None


def switch_off(webhook: Webhook, now: datetime, outcome: Attempt) -> None:
    """Switch off a webhook that failed for a day, say why, and tell its owners. Its
    queued deliveries are given up: an owner who switches it on again starts afresh."""
    webhook.enabled = False
    since = webhook.failing_since.strftime("%Y-%m-%d %H:%M UTC")
    why = f"every delivery failed since {since} (the last: {outcome.error or 'no answer'})"
    webhook.disabled_reason = f"Switched off automatically: {why}."[:400]
    AuditEvent.record(
        AuditKind.WEBHOOK_DISABLED,
        project=webhook.project,
        target=label(webhook),
        actor=None,
        actor_label=DELIVERIES_ACTOR,
        failing_since=webhook.failing_since.isoformat(),
        last_error=outcome.error,
    )
    db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook.id, WebhookDelivery.status == PENDING)
        .values(
            status=FAILED, done_at=now, next_attempt_at=None, error="the webhook was switched off"
        )
        .execution_options(synchronize_session=False)
    )
    tell_owners_webhook_off(webhook, now, why)


def tell_owners_webhook_off(webhook: Webhook, now: datetime, why: str) -> None:
    """Mail the project's active owners that ``webhook`` was switched off, through the
    outbox (so with the switch-off's commit), and say so in the log. The mail names
    the webhook by its host, like the audit log: its URL's path may be a secret."""
    owners = projects.owners_of(webhook.project, active=True)
    page = links.on_this_server(
        links.external_url("webhooks.webhook", slug=webhook.project.slug, webhook_id=webhook.id)
    )
    host = label(webhook).partition(" to ")[2]
    subject = f"A FlagPal webhook of {webhook.project.name} was switched off"
    for owner in owners:
        outbox.queue(
            owner.email,
            subject,
            f"""Hello {owner.name},

The webhook of the project {webhook.project.name} that sends events to {host} was \
switched off {dates.exact(now)}: {why}.

Until it is switched on again, nothing is sent to it: events of the project's tokens \
and members are not delivered there. Check that the receiver at {host} is running and \
answers with a 2xx status, then switch the webhook on and use Send test on its page:
{page}

You get this mail because you are an owner of {webhook.project.name}.
""",
            now=now,
        )
    logger.warning(
        "%s of %s was switched off at %s after a day of failed deliveries; %s",
        label(webhook),
        webhook.project.slug,
        rfc3339(now),
        f"owners mailed: {len(owners)}",
    )


def remove_old(now: datetime) -> int:
    """Delete deliveries done more than KEEP_DONE ago; how many. (The usage-cleanup job
    calls it daily; the caller commits.)"""
    return db.session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.status != PENDING, WebhookDelivery.done_at < now - KEEP_DONE
        )
    ).rowcount
