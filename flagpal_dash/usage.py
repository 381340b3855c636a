"""How much each token is used: successful API requests counted per UTC hour.

Counting sits on the token check's hot path (``api/verification.py``), so a request
only adds one to a number in memory. Each server process keeps its own counts and a
background thread adds them to the ``token_usage`` table every
``FLAGPAL_USAGE_FLUSH_SECONDS``, and once more when the process exits, with an upsert
that sums what every process sends. Counts are approximate by design: a crash loses
the last few seconds, and a database that cannot be written to is retried later,
never waited for by a request.

The queries below read the counts back for the dashboard: a 30-day sparkline per
token row and the warning in the revoke dialog.
"""

import atexit
import logging
import os
import threading
import weakref
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from flask import Flask
from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from .dates import relative
from .extensions import db
from .models import ApiToken, TokenUsage

logger = logging.getLogger(__name__)

HOUR_SECONDS = 3600
# Counts kept in memory while the database cannot be written to, at most this many
# (token, hour) pairs: past it, a batch that fails to write is dropped, not kept.
MAX_KEPT = 100_000
DAY = timedelta(days=1)
SPARKLINE_DAYS = 30


class UsageCounter:
    """One process's count of successful requests per token and UTC hour, added to the
    database every ``interval`` seconds by a daemon thread and when the process exits.

    ``record`` is the only part on the request path: a dictionary increment under a
    lock that ``flush`` holds only to swap the dictionary for an empty one.
    """

    def __init__(self, engine: Engine, interval: float):
        self.engine = engine
        self.interval = interval
        self.upsert = upsert_statement(engine.dialect.name)
        self.reset()
        live_counters.add(self)

    def reset(self) -> None:
        """Start empty, with no flush thread yet (also in a child after a fork)."""
        self.lock = threading.Lock()
        # token id -> hour (hours since the epoch, UTC) -> requests
        self.counts: dict[int, dict[int, int]] = {}
        self.flusher: threading.Thread | None = None

    def record(self, token_id: int, now: datetime) -> None:
        """Count one successful request by ``token_id`` at ``now`` (aware)."""
        hour = int(now.timestamp()) // HOUR_SECONDS
        with self.lock:
            hours = self.counts.get(token_id)
            if hours is None:
                hours = self.counts[token_id] = {}
            hours[hour] = hours.get(hour, 0) + 1
            if self.flusher is None:
                # Started by the first count, so a process that never serves the API
                # (the command line, most tests) runs no thread.
                self.start_flusher()

    def start_flusher(self) -> None:
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

    def take(self) -> dict[int, dict[int, int]]:
        with self.lock:
            pending, self.counts = self.counts, {}
        return pending

    def keep(self, pending: dict[int, dict[int, int]]) -> None:
        """Put counts that could not be written back, to be tried again next flush."""
        with self.lock:
            kept = sum(len(hours) for hours in self.counts.values())
            if kept + sum(len(hours) for hours in pending.values()) > MAX_KEPT:
                logger.warning("Dropping unsaved token usage counts: too many kept in memory")
                return
            for token_id, hours in pending.items():
                mine = self.counts.setdefault(token_id, {})
                for hour, count in hours.items():
                    mine[hour] = mine.get(hour, 0) + count

    def flush(self) -> int:
        """Add the counts so far to the database; the number of requests written.

        Never raises: a failure is logged and the counts are kept for the next flush.
        Counts of tokens deleted meanwhile are dropped.
        """
        pending = self.take()
        if not pending:
            return 0
        try:
            return self.write(pending)
        except SQLAlchemyError:
            logger.warning("Could not save token usage counts; will try again", exc_info=True)
            self.keep(pending)
            return 0

    def write(self, pending: dict[int, dict[int, int]]) -> int:
        for attempt in (1, 2):
            try:
                with self.engine.begin() as connection:
                    # Only tokens that still exist: the foreign key refuses the others.
                    existing = set(
                        connection.scalars(select(ApiToken.id).where(ApiToken.id.in_(pending)))
                    )
                    # In key order, so processes flushing at once lock rows in the same
                    # order and cannot deadlock each other.
                    rows = [
                        {
                            "token_id": token_id,
                            "hour": datetime.fromtimestamp(hour * HOUR_SECONDS, UTC),
                            "count": count,
                        }
                        for token_id, hours in sorted(pending.items())
                        if token_id in existing
                        for hour, count in sorted(hours.items())
                    ]
                    if rows:
                        connection.execute(self.upsert, rows)
                return sum(row["count"] for row in rows)
            except IntegrityError:
                # A token deleted between the check and the insert: check again.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def upsert_statement(dialect_name: str):
    """INSERT … ON CONFLICT (token_id, hour) DO UPDATE SET count = count + excluded.count,
    in the dialect's own words (SQLite and PostgreSQL spell it the same)."""
    insert = sqlite.insert if dialect_name == "sqlite" else postgresql.insert
    statement = insert(TokenUsage)
    return statement.on_conflict_do_update(
        index_elements=[TokenUsage.token_id, TokenUsage.hour],
        set_={"count": TokenUsage.count + statement.excluded["count"]},
    )


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


def flush(app: Flask) -> int:
    """Write ``app``'s counts now (tests, and anything that cannot wait for the thread)."""
    from .api.verification import EXTENSION_KEY

    return app.extensions[EXTENSION_KEY].flush_usage()


# Reading the counts back.


def start_of_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def daily_counts(token_ids, now: datetime, days: int = SPARKLINE_DAYS) -> dict[int, list[int]]:
    """Requests per UTC day for each token, for the ``days`` days ending today, oldest
    first, days without requests as 0. One query, whatever the number of tokens."""
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    counts = {token_id: [0] * days for token_id in token_ids}
    if not counts:
        return counts
    day = func.date(TokenUsage.hour)
    rows = db.session.execute(
        select(TokenUsage.token_id, day, func.sum(TokenUsage.count))
        .where(
            TokenUsage.token_id.in_(counts),
            TokenUsage.hour >= datetime.combine(first, time(), UTC),
            TokenUsage.hour < datetime.combine(today + DAY, time(), UTC),
        )
        .group_by(TokenUsage.token_id, day)
    )
    for token_id, on, total in rows:
        # SQLite's date() gives text, PostgreSQL's a date.
        index = (date.fromisoformat(str(on)) - first).days
        if 0 <= index < days:
            counts[token_id][index] = int(total)
    return counts


def count_since(token_id: int, since: datetime) -> int:
    """Requests by the token from ``since`` on, counted in whole hours: the hour that
    holds ``since`` counts whole."""
    total = db.session.scalar(
        select(func.coalesce(func.sum(TokenUsage.count), 0)).where(
            TokenUsage.token_id == token_id, TokenUsage.hour >= start_of_hour(since)
        )
    )
    return int(total)  # PostgreSQL sums a BIGINT as a numeric


REVOKING = "apps using it will stop working"
ROTATING = "update those apps before the old token stops working"


def usage_warning(token: ApiToken, now: datetime, consequence: str = REVOKING) -> str:
    """What revoking (or rotating) would interrupt, in one sentence for the dialog;
    ``consequence`` ends it when the token is in use."""
    last = token.last_used_at
    recent = count_since(token.id, now - DAY)
    # last_used_at is written at once; counts arrive within seconds. Either says "recent".
    if recent or (last is not None and now - last < DAY):
        times = "" if not recent else " once" if recent == 1 else f" {recent:,} times"
        when = f", last used {relative(last, now)}" if last is not None else ""
        return f"Used{times} in the last 24 hours{when} — {consequence}."
    if (last is not None and now - last < SPARKLINE_DAYS * DAY) or count_since(
        token.id, now - SPARKLINE_DAYS * DAY
    ):
        when = f"; last used {relative(last, now)}" if last is not None else ""
        return f"Not used in the last 24 hours{when}."
    return f"Not used in the last {SPARKLINE_DAYS} days."


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    height: int
    count: int


@dataclass(frozen=True)
class Sparkline:
    """A token's requests per day, oldest first, ending on ``last_day``: drawn as bars
    in an inline SVG, with a sentence saying the same for those who cannot see it."""

    counts: tuple[int, ...]
    last_day: date

    BAR_WIDTH = 2
    GAP = 1
    HEIGHT = 24

    @property
    def width(self) -> int:
        return len(self.counts) * (self.BAR_WIDTH + self.GAP) - self.GAP

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def busiest_day(self) -> date | None:
        """The day with the most requests (the latest, on a tie); None without any."""
        if not self.total:
            return None
        peak = max(self.counts)
        index = max(i for i, count in enumerate(self.counts) if count == peak)
        return self.last_day - timedelta(days=len(self.counts) - 1 - index)

    @property
    def label(self) -> str:
        """``1,204 requests in the last 30 days, most on 3 Nov``."""
        days = len(self.counts)
        total, busiest = self.total, self.busiest_day
        if busiest is None:
            return f"No requests in the last {days} days"
        requests = "1 request" if total == 1 else f"{total:,} requests"
        on = f"{busiest.day} {busiest:%b}"
        if max(self.counts) == total:
            return f"{requests} in the last {days} days, {'' if total == 1 else 'all '}on {on}"
        return f"{requests} in the last {days} days, most on {on}"

    @property
    def bars(self) -> list[Bar]:
        """One bar per day, as tall as its share of the busiest day; a day without
        requests is a 1-unit tick on the baseline so the 30 days still read as such."""
        peak = max(self.counts, default=0) or 1
        bars = []
        for index, count in enumerate(self.counts):
            height = max(2, round(count / peak * self.HEIGHT)) if count else 1
            x = index * (self.BAR_WIDTH + self.GAP)
            bars.append(Bar(x=x, y=self.HEIGHT - height, height=height, count=count))
        return bars

    @property
    def paths(self) -> tuple[str, str]:
        """The bars as two SVG path outlines: days with requests, and the empty days'
        ticks. Two elements per row instead of thirty keep a 100-row page quick."""
        used, empty = [], []
        for bar in self.bars:
            outline = f"M{bar.x} {bar.y}h{self.BAR_WIDTH}v{bar.height}h-{self.BAR_WIDTH}z"
            (used if bar.count else empty).append(outline)
        return "".join(used), "".join(empty)


def sparklines(token_ids, now: datetime) -> dict[int, Sparkline]:
    """The 30-day sparkline of each token, in one query."""
    today = now.astimezone(UTC).date()
    return {
        token_id: Sparkline(tuple(counts), today)
        for token_id, counts in daily_counts(token_ids, now).items()
    }
