"""Rate-limit counts kept in the app's own database, so every process of every server
that shares the database counts together, with no setting and no other service.

Flask-Limiter builds this storage from ``RATELIMIT_STORAGE_URI = "database://"`` (the
default, ``FLAGPAL_RATELIMIT_STORAGE_URI``). Each key is a fixed window in the table
``rate_limit_counters``: it starts at the key's first hit and lasts the limit's period,
as in Flask-Limiter's memory and Redis storages. A hit is one atomic upsert, so
concurrent hits from any number of processes are all counted.

Counts go through a connection of their own from the app's engine, committed at once,
never through the request's session: a form sent back with 422 rolls its transaction
back without losing the count, and a count never commits half of a form. (A view whose
failures are counted must therefore commit or roll back its own writes before it answers:
on SQLite the count would otherwise wait for that view's write lock.)

Only the limited views (sign-in, invitation links, leaked-token reports) reach this
module; the token check never does. Times are ``time.time()`` seconds, the clock
Flask-Limiter reads: servers sharing a database need their clocks in step (NTP).
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager

from limits.storage import Storage
from sqlalchemy import Connection, Engine, Float, Integer, String, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db

SCHEME = "database"
# Seconds between deletions of expired counts, in each process: one cheap DELETE now and
# then keeps the table as small as the number of keys counting at once.
PRUNE_INTERVAL = 60
# Upserts (SQLite 3.24 or later), with RETURNING where the database has it.
UPSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


class RateLimitCounter(db.Model):
    """One limit's count for one client address or account, until ``expires_at``."""

    __tablename__ = "rate_limit_counters"

    # Flask-Limiter's key: its prefix, the limit's scope, the address or account, the limit.
    key: Mapped[str] = mapped_column(String, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    # When the window ends, in seconds since the epoch; a row past it counts as absent.
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class DatabaseStorage(Storage):
    """A ``limits`` storage on the current app's database (``database://``)."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.next_prune = 0.0

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    @staticmethod
    def engine() -> Engine:
        # The engine of the app serving the request, looked up on each use: Flask-Limiter
        # builds the storage from its URI alone, before any request.
        return db.engine

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Count ``amount`` more hits on ``key``; a window that has ended starts again.
        The count after this hit."""
        now, key = time.time(), stored(key)
        table = RateLimitCounter.__table__
        with self.counting() as connection:
            upsert = UPSERTS[connection.dialect.name](table).values(
                key=key, count=amount, expires_at=now + expiry
            )
            # Every SET expression reads the row as it was before this statement.
            running = table.c.expires_at > now
            upsert = upsert.on_conflict_do_update(
                index_elements=[table.c.key],
                set_={
                    "count": case((running, table.c.count + upsert.excluded.count), else_=amount),
                    "expires_at": case((running, table.c.expires_at), else_=now + expiry),
                },
            )
            if connection.dialect.insert_returning:
                count = connection.scalar(upsert.returning(table.c.count))
            else:  # SQLite before 3.35: the row stays this transaction's until it commits
                connection.execute(upsert)
                count = connection.scalar(select(table.c.count).where(table.c.key == key))
            if now >= self.next_prune:
                self.next_prune = now + PRUNE_INTERVAL
                connection.execute(delete(table).where(table.c.expires_at <= now))
        return count

    @contextmanager
    def counting(self) -> Iterator[Connection]:
        """A transaction for counts, committed without waiting for the disk to flush: a
        count lost to a power cut costs nothing, and the flush cost each limited request
        far more than the count itself. The app's own writes keep waiting for it."""
        with self.engine().connect() as connection:
            if connection.dialect.name != "sqlite":
                with connection.begin():
                    # PostgreSQL: for this transaction only.
                    connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                    yield connection
                return
            # SQLite's setting belongs to the (pooled) connection: put it back after.
            sqlite = connection.connection.driver_connection
            (before,) = sqlite.execute("PRAGMA synchronous").fetchone()
            sqlite.execute("PRAGMA synchronous=NORMAL")
            try:
                with connection.begin():
                    yield connection
            finally:
                sqlite.execute(f"PRAGMA synchronous={int(before)}")

    def _live(self, column, key: str):
        with self.engine().connect() as connection:
            return connection.scalar(
                select(column).where(
                    RateLimitCounter.key == stored(key), RateLimitCounter.expires_at > time.time()
                )
            )

    def get(self, key: str) -> int:
        """Hits on ``key`` in its current window (0 when none)."""
        return self._live(RateLimitCounter.count, key) or 0

    def get_expiry(self, key: str) -> float:
        """When ``key``'s window ends (now, when it has none)."""
        return self._live(RateLimitCounter.expires_at, key) or time.time()

    def check(self) -> bool:
        try:
            with self.engine().connect() as connection:
                connection.scalar(select(RateLimitCounter.key).limit(1))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with self.engine().begin() as connection:
            return connection.execute(delete(RateLimitCounter)).rowcount

    def clear(self, key: str) -> None:
        with self.engine().begin() as connection:
            connection.execute(delete(RateLimitCounter).where(RateLimitCounter.key == stored(key)))


def stored(key: str) -> str:
    """``key`` as the table holds it. A key may hold what a visitor typed (the email of a
    sign-in), and PostgreSQL refuses text with a NUL character: it is written as ``\\0``,
    and a backslash as two, so two different keys are never stored as one."""
    return key.replace("\\", "\\\\").replace("\x00", "\\0")
