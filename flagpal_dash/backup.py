"""A copy of the app's SQLite database, taken safely while the server runs
(``flask --app wsgi backup PATH``). PostgreSQL has pg_dump (README, Backups); moving
to another database is moving.py's.

The copy is the database as it was at one moment, readable only by its owner (it
holds password hashes). To restore, stop the server and put the copy in place of the
database file.

The nightly backup job (core/jobs.py) writes one copy a run into a folder, named by its
time, and deletes the ones older than the days it keeps (``nightly``).
"""

import os
import re
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

# What a backup reports, in the order a person reads them.
TABLES = (
    "users",
    "projects",
    "memberships",
    "invitations",
    "api_tokens",
    "token_usage",
    "token_usage_daily",
    "audit_events",
)


# The nightly copies: flagpal-dash-20261207T030000Z.sqlite3, their time in UTC.
NIGHTLY_NAME = "flagpal-dash-{:%Y%m%dT%H%M%SZ}.sqlite3"
NIGHTLY_PATTERN = re.compile(r"flagpal-dash-(\d{8}T\d{6}Z)\.sqlite3")


class BackupRefused(Exception):
    """Nothing was written; the message says why."""


class BackupExists(BackupRefused):
    """The file is there already, and replacing it was not asked for."""


def back_up(engine: Engine, path: Path, *, replace: bool = False) -> dict[str, int]:
    """Copy the SQLite database of ``engine`` to ``path``; the rows of each table in
    the copy. ``path`` is replaced only when ``replace`` is given."""
    refuse_unless_sqlite(engine)
    if path.exists() and not replace:
        raise BackupExists(f"{path} exists.")
    try:
        # Made beside PATH with mode 0600, then renamed over it: PATH is never half a
        # copy, and an old backup stays whole until the new one is.
        handle, partial = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".partial", dir=path.parent
        )
    except OSError as error:
        raise BackupRefused(f"Cannot write in {path.parent}: {error.strerror}.") from None
    os.close(handle)
    try:
        rows = copy_database(engine, partial)
        os.replace(partial, path)
    except (sqlite3.Error, OSError) as error:  # a full disk, say
        os.unlink(partial)
        raise BackupRefused(f"Nothing written: {error}") from None
    except BaseException:
        os.unlink(partial)
        raise
    return rows


def refuse_unless_sqlite(engine: Engine) -> None:
    """``BackupRefused`` for a database this backup cannot copy; nothing connects."""
    if engine.dialect.name != "sqlite":
        raise BackupRefused(
            f"backup copies a SQLite database and this one is {engine.dialect.name}: "
            "use pg_dump (the README's Backups section has the commands)."
        )


def copy_database(engine: Engine, destination: str) -> dict[str, int]:
    """Copy the SQLite database of ``engine`` into the file ``destination`` with
    SQLite's backup API, and count the rows of the copy's tables."""
    copy = sqlite3.connect(destination)
    try:
        source = engine.raw_connection()
        try:
            # In one step, so the copy is the database at one moment. It takes a read
            # transaction, which in WAL mode holds up no writer: the server goes on.
            source.driver_connection.backup(copy)
        finally:
            source.close()
        # One self-contained file, no -wal beside it (an app that opens the copy
        # turns WAL on again).
        copy.execute("PRAGMA journal_mode=DELETE")
        present = {
            name for (name,) in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        return {
            table: copy.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            for table in TABLES
            if table in present
        }
    finally:
        copy.close()


def nightly(
    engine: Engine, folder: Path, keep_days: int, now: datetime
) -> tuple[Path, dict[str, int], list[Path]]:
    """Write a copy named by ``now`` into ``folder`` (made, private, if missing), then
    delete the nightly copies taken more than ``keep_days`` days before ``now``: the new
    copy, its rows, the copies deleted. Only files named like the nightly copies are
    ever deleted, by the time in their name (what a copy restored or touched by hand
    would not change)."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise BackupRefused(f"Cannot make {folder}: {error.strerror}.") from None
    path = folder / NIGHTLY_NAME.format(now.astimezone(UTC))
    rows = back_up(engine, path, replace=True)
    # Deleted only once the new copy is whole: a failed night keeps every old one.
    cutoff = now - timedelta(days=keep_days)
    deleted = []
    for old in sorted(folder.iterdir()):
        match = NIGHTLY_PATTERN.fullmatch(old.name)
        if match is None or old == path:
            continue
        taken = datetime.strptime(match[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if taken < cutoff:
            old.unlink()
            deleted.append(old)
    return path, rows, deleted
