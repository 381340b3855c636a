"""How much each token is used: successful API requests counted per UTC hour.

Counting sits on the token check's hot path, so a request only adds one to a number in
memory (``UsageCounts.record``). ``UsageCounts.flush`` adds what a process counted to the
``token_usage`` table with an upsert that sums what every process sends, and in the same
transaction to the daily sums in ``token_usage_daily``. Counts are approximate by
design: a crash loses what was not flushed yet, and a database that cannot be written to
is retried at the next flush, never waited for by a request. When flushes happen (a
thread, at exit) is the serving process's business: ``api/usage_counter.py``.

The queries read the counts back: requests per day (for a token's 30-day figure, from
the daily sums: 30 rows a token instead of 720 hours) and how recently a token was used
(what revoking or rotating it would interrupt, from the hours). Rows older than any of
them reads are removed by a daily job (``remove_old``).
"""

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..extensions import db
from ..health import first_line
from ..models import ApiToken, TokenUsage, TokenUsageDay

logger = logging.getLogger(__name__)

HOUR_SECONDS = 3600
# Counts kept in memory while the database cannot be written to, at most this many
# (token, hour) pairs: past it, a batch that fails to write is dropped, not kept.
MAX_KEPT = 100_000
DAY = timedelta(days=1)
# The span of a token's usage figure, and how far back "used lately" looks.
WINDOW_DAYS = 30
# Rows are kept this long past the window that reads them. Counts held in memory while
# the database was down arrive late, and a server whose clock is behind reads a little
# further back: neither may find its window's oldest rows already gone.
KEPT_PAST_WINDOW = timedelta(days=7)


class UsageCounts:
    """One process's count of successful requests per token and UTC hour, until
    ``flush`` adds them to the database through ``engine``.

    ``record`` is the only part on the request path: a dictionary increment under a
    lock that ``flush`` holds only to swap the dictionary for an empty one.
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        self.upsert = upsert_statement(engine.dialect.name, TokenUsage)
        self.upsert_daily = upsert_statement(engine.dialect.name, TokenUsageDay)
        self.reset()

    def reset(self) -> None:
        """Start empty (also in a child after a fork: the parent writes its own counts)."""
        self.lock = threading.Lock()
        # token id -> hour (hours since the epoch, UTC) -> requests
        self.counts: dict[int, dict[int, int]] = {}
        self.started = False

    def record(self, token_id: int, now: datetime) -> None:
        """Count one successful request by ``token_id`` at ``now`` (aware)."""
        hour = int(now.timestamp()) // HOUR_SECONDS
        with self.lock:
            hours = self.counts.get(token_id)
            if hours is None:
                hours = self.counts[token_id] = {}
            hours[hour] = hours.get(hour, 0) + 1
            if not self.started:
                self.start()

    def start(self) -> None:
        """Called once, with the first count and under the lock: where a serving process
        starts flushing (api/usage_counter.py), so a process that never counts (the
        command line, most tests) runs nothing for it."""
        self.started = True

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
            self.saved()
            return 0
        try:
            written = self.write(pending)
        except SQLAlchemyError as error:
            # One line each time, not a traceback: this runs every few seconds.
            logger.warning(
                "Could not save token usage counts; will try again: %s", first_line(error)
            )
            self.keep(pending)
            return 0
        self.saved()
        return written

    def saved(self) -> None:
        """Called when a flush leaves every count taken so far in the database: a
        serving process reports when (api/usage_counter.py)."""

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


def remove_old(now: datetime) -> tuple[int, int]:
    """Delete the usage rows no page reads any more, as of ``now``: hours and days older
    than WINDOW_DAYS plus KEPT_PAST_WINDOW. The hours are kept as long as the days,
    not just the revoke dialog's 24 hours, because "used in the last 30 days"
    (``recent_use``) counts them. The hourly and daily rows removed; the caller commits.
    """
    cutoff = start_of_hour(now) - WINDOW_DAYS * DAY - KEPT_PAST_WINDOW
    hours = db.session.execute(delete(TokenUsage).where(TokenUsage.hour < cutoff)).rowcount
    days = db.session.execute(
        delete(TokenUsageDay).where(TokenUsageDay.day < cutoff.date())
    ).rowcount
    return hours, days


# Reading the counts back.


def start_of_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def daily_counts(token_ids, now: datetime, days: int = WINDOW_DAYS) -> dict[int, list[int]]:
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


@dataclass(frozen=True)
class RecentUse:
    """How much a token was used lately: what revoking or rotating it would interrupt."""

    # Requests counted in the last 24 hours (whole hours).
    last_day: int
    last_used_at: datetime | None
    # Used in the last 24 hours, by either measure.
    in_last_day: bool
    # Used in the last ``WINDOW_DAYS`` days, by either measure.
    in_window: bool


def recent_use(token: ApiToken, now: datetime) -> RecentUse:
    """``token``'s use lately, as of ``now``: one query, two when it was not used in the
    last day."""
    last = token.last_used_at
    last_day = count_since(token.id, now - DAY)
    # last_used_at is written at once; counts arrive within seconds. Either says "used".
    in_last_day = bool(last_day) or (last is not None and now - last < DAY)
    in_window = in_last_day or (
        (last is not None and now - last < WINDOW_DAYS * DAY)
        or bool(count_since(token.id, now - WINDOW_DAYS * DAY))
    )
    return RecentUse(last_day, last, in_last_day, in_window)
