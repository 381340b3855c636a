"""Delivering: claiming due deliveries, signing and sending them, retrying, and
switching off a webhook that failed for a day.

The deliverer's thread (deliverer.py) or ``flagpal-dash webhooks deliver`` asks
``deliver_due(now)``; each attempt first claims its row with a conditional UPDATE
(core/leases.py, as core/jobs.py claims a job), so of any number of servers one sends
it at a time, and no transaction is open while waiting on the receiver. The URL is
checked again at send time (addresses.py): its host is resolved, every address
checked, and the connection made to the checked address, with the host's name in the
Host header and TLS's SNI. Redirects are not followed. A failed attempt is retried
with backoff until a day after the first; a webhook whose every attempt failed for a
day is switched off and its owners told.
"""

import hashlib
import hmac
import http.client
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from ... import addresses, dates, links
from ...extensions import db
from ...models import AuditEvent, AuditKind, Webhook, WebhookDelivery
from ...retries import Backoff
from .. import leases, outbox, projects
from .managing import DELIVERED, FAILED, PENDING, TEST_EVENT, WebhookSettings, label, secret
from .publishing import rfc3339

logger = logging.getLogger(__name__)

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
# Done deliveries are deleted this long after they are done.
KEEP_DONE = timedelta(days=1)
# At most this many deliveries a call of ``deliver_due``: the thread looks again soon.
BATCH = 100
ERROR_LENGTH = 300
# Who the audit log says switched a webhook off.
DELIVERIES_ACTOR = "webhook deliveries"


def signature(webhook_secret: str, timestamp: int, body: bytes) -> str:
    """``X-FlagPal-Signature``: ``sha256=`` and the hex HMAC-SHA256, under the secret, of
    the timestamp, a dot and the body, exactly as sent."""
    signed = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(webhook_secret.encode(), signed, hashlib.sha256).hexdigest()


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
                leases.free(WebhookDelivery.claimed_until, now),
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
    return leases.claim(
        WebhookDelivery.claimed_until,
        now,
        LEASE,
        WebhookDelivery.id == delivery_id,
        WebhookDelivery.status == PENDING,
        claimed_by=runner[:200],
    )


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
