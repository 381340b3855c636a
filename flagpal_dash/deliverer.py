"""The deliverer's thread in a serving process: sends what is queued in the database to
be sent off the request (webhook deliveries, and the mail outbox's notices), so a token
action never waits for a receiver or a mail server.

It runs every function of ``DUE_WORK`` with the moment it runs for, each in its own app
context and database session, every few seconds, and at once when a commit in this
process queued something (queued_work.py). Each piece of work claims each row it sends
(core/webhooks/), so the threads of every worker and server can all look at once.

gunicorn starts one in each worker beside the jobs' thread (gunicorn_conf.py's
``post_worker_init``). Off with ``FLAGPAL_DELIVERIES=off``, for those who run
``flagpal-dash webhooks deliver`` from a timer instead; ``flask run`` starts none.
"""

import atexit
import logging
import threading
from collections.abc import Callable
from datetime import datetime

from flask import Flask, current_app

from . import queued_work, scheduler
from .core import outbox, webhooks
from .extensions import db
from .models import utcnow
from .version import app_version

logger = logging.getLogger(__name__)

# The longest the thread sleeps between looks: a retry that came due, or work queued by
# another process, waits at most this long.
LOOK_EVERY = 5.0


def webhook_settings(config) -> webhooks.WebhookSettings:
    """What core/webhooks/ is told, from the app's settings."""
    return webhooks.WebhookSettings(
        secret_key=config["SECRET_KEY"],
        allow_private=config["WEBHOOK_ALLOW_PRIVATE"],
        user_agent=f"FlagPal-Dash/{app_version()}",
    )


def deliver_webhooks(now: datetime) -> int:
    """``webhooks.deliver_due`` with this app's settings (the core reads no app)."""
    return webhooks.deliver_due(
        now, webhook_settings(current_app.config), runner=scheduler.runner()
    )


# Each is called with the moment it runs for, inside an app context.
DUE_WORK: list[Callable[[datetime], object]] = [deliver_webhooks, outbox.send_due]


def run_due_work(app: Flask) -> None:
    """Everything due, once: each piece of work in its own app context and session, so
    one that fails (the database gone a moment) does not stop the others."""
    for work in DUE_WORK:
        with app.app_context():
            try:
                work(utcnow())
            except Exception:
                logger.exception("Sending what is due failed (%s)", work.__name__)
            finally:
                db.session.remove()


class Deliverer:
    """A running deliverer's thread; ``stop`` ends it after the work it may be doing."""

    def __init__(self, app: Flask, look_every: float = LOOK_EVERY):
        self.stopping = threading.Event()
        self.thread = threading.Thread(
            target=self.loop, args=(app, look_every), name="flagpal-deliverer", daemon=True
        )
        self.thread.start()

    def loop(self, app: Flask, look_every: float) -> None:
        while not self.stopping.is_set():
            run_due_work(app)
            queued_work.arrived.wait(look_every)
            queued_work.arrived.clear()

    def stop(self, timeout: float | None = None) -> None:
        self.stopping.set()
        queued_work.arrived.set()
        self.thread.join(timeout)


def start(app: Flask) -> Deliverer | None:
    """Start the deliverer's thread for ``app``, unless its settings turn it off."""
    if not app.config["DELIVERIES"]:
        return None
    app.logger.debug("Starting the deliverer's thread")
    started = Deliverer(app)
    atexit.register(started.stopping.set)
    return started
