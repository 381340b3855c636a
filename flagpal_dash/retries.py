"""When to try again what is sent off the request and may fail: a webhook delivery
(core/webhooks/delivering.py), a queued mail (core/outbox.py). One rule for both: wait
longer after each failed attempt, never past the deadline, where one last attempt is
made, then give up. Plain Python, no Flask: the clock is an argument.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Backoff:
    # The wait after the first failed attempt, the second, …; the last repeats.
    waits: tuple[timedelta, ...]
    # How long after it started (first tried, or queued) something is given up.
    give_up_after: timedelta

    def next_attempt(self, attempts: int, started: datetime, now: datetime) -> datetime | None:
        """When to try again after the ``attempts``-th attempt failed at ``now``, for
        something started at ``started``; None when its time is up: give it up."""
        deadline = started + self.give_up_after
        if now >= deadline:
            return None
        wait = self.waits[min(attempts, len(self.waits)) - 1]
        # One last attempt at the deadline, however the waits fall.
        return min(now + wait, deadline)
