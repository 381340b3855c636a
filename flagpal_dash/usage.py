"""How much each token is used: successful API requests counted per UTC hour.

Counting sits on the token check's hot path (``api/verification.py``), so a request
only adds one to a number in memory. Each server process keeps its own counts and a
background thread adds them to the ``token_usage`` table every
``FLAGPAL_USAGE_FLUSH_SECONDS``, and once more when the process exits, with an upsert
that sums what every process sends; the same transaction adds them to the daily sums
in ``token_usage_daily``. Counts are approximate by design: a crash loses the last few
seconds, and a database that cannot be written to is retried later, never waited for
by a request.

The queries below read the counts back for the dashboard: a 30-day sparkline per
token row (from the daily sums, 30 rows a token instead of 720 hours) and the warning
in the revoke dialog (from the hours).
"""

import atexit
import functools
import logging
import os
import threading
import weakref
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from flask import Flask
from markupsafe import Markup, escape
from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from .dates import relative
from .extensions import db
from .health import first_line
from .models import ApiToken, TokenUsage, TokenUsageDay

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
        self.upsert = upsert_statement(engine.dialect.name, TokenUsage)
        self.upsert_daily = upsert_statement(engine.dialect.name, TokenUsageDay)
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
        except SQLAlchemyError as error:
            # One line each time, not a traceback: this runs every few seconds.
            logger.warning(
                "Could not save token usage counts; will try again: %s", first_line(error)
            )
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
                        # Hours first, then days, in every process: the same lock order.
                        connection.execute(self.upsert, rows)
                        connection.execute(self.upsert_daily, daily_sums(rows))
                return sum(row["count"] for row in rows)
            except IntegrityError:
                # A token deleted between the check and an insert: nothing was written
                # (neither its hours nor its days); check again.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def upsert_statement(dialect_name: str, model: type[TokenUsage] | type[TokenUsageDay]):
    """INSERT … ON CONFLICT (token_id, hour or day) DO UPDATE SET count = count +
    excluded.count, in the dialect's own words (SQLite and PostgreSQL spell it the same)."""
    insert = sqlite.insert if dialect_name == "sqlite" else postgresql.insert
    statement = insert(model)
    return statement.on_conflict_do_update(
        index_elements=list(model.__table__.primary_key.columns),
        set_={"count": model.count + statement.excluded["count"]},
    )


def daily_sums(hourly: list[dict]) -> list[dict]:
    """The ``token_usage_daily`` rows that add up ``token_usage`` rows (``token_id``,
    ``hour`` aware, ``count``): one per token and UTC day, in key order."""
    sums: dict[tuple[int, date], int] = {}
    for row in hourly:
        key = (row["token_id"], row["hour"].astimezone(UTC).date())
        sums[key] = sums.get(key, 0) + row["count"]
    return [
        {"token_id": token_id, "day": day, "count": count}
        for (token_id, day), count in sorted(sums.items())
    ]


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
    # The daily sums: at most ``days`` rows a token, where the hours would be 24 times as
    # many.
    rows = db.session.execute(
        select(TokenUsageDay.token_id, TokenUsageDay.day, TokenUsageDay.count).where(
            TokenUsageDay.token_id.in_(counts),
            TokenUsageDay.day >= first,
            TokenUsageDay.day <= today,
        )
    )
    for token_id, day, count in rows:
        counts[token_id][(day - first).days] = count
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


@functools.cache
def bar_outline(x: int, height: int) -> str:
    """One sparkline bar as an SVG path outline: from its top left corner across, down to
    the baseline, back. Cached: there are only so many places and heights (30 × 24),
    and a busy page draws hundreds of bars."""
    width, full = Sparkline.BAR_WIDTH, Sparkline.HEIGHT
    return f"M{x} {full - height}h{width}v{height}h-{width}z"


@dataclass(frozen=True)
class Sparkline:
    """A token's requests per day, oldest first, ending on ``last_day``: drawn as bars
    in an inline SVG, with a sentence saying the same for those who cannot see it.

    Frozen, so equal figures hash alike: a page draws each distinct one once (most
    history rows share the empty one)."""

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
    def paths(self) -> tuple[str, str]:
        """The bars as two SVG path outlines: days with requests, and the empty days'
        ticks. Two elements per row instead of thirty keep a long page quick.

        One bar per day, as tall as its share of the busiest day (at least 2 units, so a
        quiet day still shows); a day without requests is a 1-unit tick on the baseline
        so the 30 days still read as such."""
        peak = max(self.counts, default=0) or 1
        step = self.BAR_WIDTH + self.GAP
        used, empty = [], []
        for day, count in enumerate(self.counts):
            if count:
                used.append(bar_outline(day * step, max(2, round(count / peak * self.HEIGHT))))
            else:
                empty.append(bar_outline(day * step, 1))
        return "".join(used), "".join(empty)

    @property
    def svg(self) -> Markup:
        """The inline SVG (a ``Markup``, safe in a template as it is), named for screen
        readers by its aria-label. Sizes are SVG attributes and colours come from app.css
        (``.spark-bar``, ``.spark-empty``), so it needs no inline style. Built here, not
        in a template macro, which took twice as long: a busy page draws a couple of
        dozen distinct ones."""
        used, empty = self.paths
        width, height = self.width, self.HEIGHT
        # Only the label is text; the rest are numbers.
        return Markup(
            f'<svg class="sparkline" role="img" aria-label="{escape(self.label)}"'
            f' width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
            f' data-counts="{",".join(map(str, self.counts))}">'
            + (f'<path class="spark-empty" d="{empty}"/>' if empty else "")
            + (f'<path class="spark-bar" d="{used}"/>' if used else "")
            + "</svg>"
        )


def sparklines(token_ids, now: datetime) -> dict[int, Sparkline]:
    """The 30-day sparkline of each token, in one query."""
    today = now.astimezone(UTC).date()
    return {
        token_id: Sparkline(tuple(counts), today)
        for token_id, counts in daily_counts(token_ids, now).items()
    }
