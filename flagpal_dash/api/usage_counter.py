"""The usage counter of a serving process: the token check counts each request it lets
through (``core.usage.UsageCounts``), and a daemon thread flushes the counts every
``FLAGPAL_USAGE_FLUSH_SECONDS``, and once more when the process exits.

The thread starts with the first count, so a process that never serves the API (the
command line, most tests) runs none; it ends when its counter goes (its app is gone).
A forked child (a gunicorn worker) starts with no counts and no thread of its parent's.
"""

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable

from sqlalchemy import Engine

from ..core.usage import UsageCounts

logger = logging.getLogger(__name__)


class UsageCounter(UsageCounts):
    """``UsageCounts`` flushed by a thread of its own every ``interval`` seconds, and at
    exit."""

    # Told the time of each flush that left nothing unsaved, when metrics are on.
    on_saved: Callable[[float], None] | None = None

    def __init__(self, engine: Engine, interval: float):
        self.interval = interval
        super().__init__(engine)
        live_counters.add(self)

    def reset(self) -> None:
        super().reset()
        self.flusher: threading.Thread | None = None

    def saved(self) -> None:
        if self.on_saved is not None:
            self.on_saved(time.time())

    def start(self) -> None:
        super().start()
        stop = threading.Event()
        self.flusher = threading.Thread(
            target=flush_every,
            args=(weakref.ref(self), self.interval, stop),
            name="flagpal-usage-flush",
            daemon=True,
        )
        # When the counter goes (its app is gone), its thread ends too.
        weakref.finalize(self, stop.set)
        self.flusher.start()


def flush_every(counter_ref: weakref.ref, interval: float, stop: threading.Event) -> None:
    """The flush thread's loop; it holds the counter only while flushing."""
    while not stop.wait(interval):
        counter = counter_ref()
        if counter is None:
            return
        try:
            counter.flush()
        except Exception:  # a bug must not end the thread, and counting with it
            logger.exception("Token usage flush failed")
        del counter


live_counters: weakref.WeakSet[UsageCounter] = weakref.WeakSet()


@atexit.register
def flush_all() -> None:
    """At exit (a server stopping), write what each counter still holds."""
    for counter in list(live_counters):
        counter.flush()


def forget_in_child() -> None:
    """A forked child starts empty: its parent writes its own counts, and the parent's
    thread and lock do not come along."""
    for counter in list(live_counters):
        counter.reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=forget_in_child)
