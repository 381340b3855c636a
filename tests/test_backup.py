"""SQLite done right: WAL, a busy timeout and foreign keys on every connection; and
`backup PATH`, a consistent copy taken while the server runs, that restores every row.

These tests make their own SQLite instance, whatever database the suite runs on.
"""

import re
import shutil
import sqlite3
import stat
import threading
import time

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.exc import IntegrityError

from flagpal_dash import PACKAGE_DIR, token_format
from flagpal_dash.backup import BackupExists, back_up
from flagpal_dash.core.projects import project_by_slug
from flagpal_dash.extensions import db

from .conftest import make_app
from .support import PASSWORD, flush_usage, issue_token
from .test_api_token import bearer


def test_every_sqlite_connection_has_wal_a_busy_timeout_and_foreign_keys(sqlite_server):
    # The connection the migrations used (they turn foreign keys off while they run),
    # then a brand-new one.
    for fresh in (False, True):
        if fresh:
            db.engine.dispose()
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            with pytest.raises(IntegrityError):
                connection.exec_driver_sql(
                    "INSERT INTO memberships (project_id, user_id, role, created_at)"
                    " VALUES (999, 999, 'viewer', '2026-11-28 00:00:00')"
                )


def backup(app, *args):
    return app.test_cli_runner().invoke(args=["backup", *map(str, args)])


def test_backup_writes_a_private_self_contained_copy_and_says_what_it_holds(
    sqlite_server, tmp_path
):
    app, values = sqlite_server
    for value in values[:2]:
        assert app.test_client().get("/api/v1/token", headers=bearer(value)).status_code == 200
    assert flush_usage(app) == 2
    target = tmp_path / "backup.sqlite3"
    result = backup(app, target)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    first, header, *rows = result.output.splitlines()
    size = target.stat().st_size
    assert first == f"Wrote {target} ({size:,} bytes, readable only by its owner)."
    assert header.split() == ["TABLE", "ROWS"]
    counts = dict(row.split() for row in rows)
    assert counts["users"] == counts["projects"] == counts["memberships"] == "1"
    assert counts["api_tokens"] == "3"
    assert counts["token_usage"] == counts["token_usage_daily"] == "2"
    # One file: not in WAL mode, no partial copy or -wal file left beside it.
    assert {path.name for path in tmp_path.iterdir() if "backup" in path.name} == {target.name}
    with sqlite3.connect(target) as copy:
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    copy.close()


def test_backup_replaces_a_file_only_with_force(sqlite_server, tmp_path):
    app, _ = sqlite_server
    target = tmp_path / "backup.sqlite3"
    target.write_text("an older backup")
    target.chmod(0o644)

    refused = backup(app, target)
    assert refused.exit_code == 1
    assert refused.output == f"Error: {target} exists. Give --force to replace it.\n"
    assert target.read_text() == "an older backup"

    replaced = backup(app, "--force", target)
    assert replaced.exit_code == 0, replaced.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT count(*) FROM api_tokens").fetchone() == (3,)
    copy.close()


def test_backup_into_a_missing_folder_says_so(sqlite_server, tmp_path):
    app, _ = sqlite_server
    result = backup(app, tmp_path / "no-such-folder" / "backup.sqlite3")
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: Cannot write in {tmp_path / 'no-such-folder'}")
    assert "Traceback" not in result.output


def test_back_up_needs_only_an_engine(tmp_path):
    """The rule is callable without an app: an engine and a path, rows per table back."""
    with sqlite3.connect(tmp_path / "plain.sqlite3") as source:
        source.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
        source.executemany("INSERT INTO users VALUES (?)", [(1,), (2,)])
    source.close()
    engine = create_engine(f"sqlite:///{tmp_path}/plain.sqlite3")
    target = tmp_path / "copy.sqlite3"
    try:
        assert back_up(engine, target) == {"users": 2}
        with pytest.raises(BackupExists, match=f"^{re.escape(str(target))} exists.$"):
            back_up(engine, target)
        assert back_up(engine, target, replace=True) == {"users": 2}
    finally:
        engine.dispose()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_backup_of_postgresql_points_to_pg_dump(tmp_path):
    # Nothing connects: the command refuses before touching the database.
    app = make_app("postgresql+psycopg://flagpal@127.0.0.1:1/flagpal")
    result = backup(app, tmp_path / "backup.sqlite3")
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith("Error: backup copies a SQLite database") and "pg_dump" in line
    assert not (tmp_path / "backup.sqlite3").exists()


def wait_for(condition, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_a_backup_taken_while_the_server_writes_is_consistent_and_restores(sqlite_server, tmp_path):
    """Another connection issues tokens in a loop and API traffic updates last-used
    times and usage counts, as a running server would, while the backup is taken."""
    app, values = sqlite_server
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    stop = threading.Event()
    issued: list[str] = []  # token values, each appended once its row is committed
    rounds: list[int] = []  # rounds of API requests, each with its usage counts written
    failures: list[BaseException] = []
    # Both apps are built here, not on their threads: building an app parses Python ASTs
    # (werkzeug compiles each URL rule), which CPython 3.11 cannot do on two threads at
    # once ("SystemError: AST constructor recursion depth mismatch"). A server builds its
    # app once, before it takes requests.
    writer = make_app(url)
    api = make_app(url, LAST_USED_INTERVAL=0)

    def issue_tokens() -> None:
        with writer.app_context():
            shop = project_by_slug("shop")
            while not stop.is_set():
                issued.append(issue_token(shop, f"Loop {len(issued)}")[1])
            db.engine.dispose()

    def use_tokens() -> None:
        client = api.test_client()
        while not stop.is_set():
            for value in values:
                response = client.get("/api/v1/token", headers=bearer(value))
                assert response.status_code == 200, response.text
            rounds.append(flush_usage(api))

    def failing_loudly(work):
        def run() -> None:
            try:
                work()
            except BaseException as failure:  # reported by the test, not lost in a thread
                failures.append(failure)
                stop.set()

        return run

    threads = [threading.Thread(target=failing_loudly(work)) for work in (issue_tokens, use_tokens)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: len(issued) >= 20 and rounds or failures, "tokens and API traffic")
        committed_before = list(issued)
        result = backup(app, tmp_path / "backup.sqlite3")
        # The server was not held up: it went on writing after the backup.
        wait_for(lambda: len(issued) >= len(committed_before) + 5 or failures, "more tokens")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not failures, failures
    assert result.exit_code == 0, result.output

    with sqlite3.connect(tmp_path / "backup.sqlite3") as copy:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert copy.execute("PRAGMA foreign_key_check").fetchall() == []
        hashes = {digest for (digest,) in copy.execute("SELECT token_hash FROM api_tokens")}
        [(version,)] = copy.execute("SELECT version_num FROM alembic_version")
    copy.close()
    assert {token_format.digest(value) for value in values + committed_before} <= hashes
    assert version == ScriptDirectory(str(PACKAGE_DIR / "migrations")).get_current_head()

    # Restore: the server stopped, the copy put in place of its database.
    restored_path = tmp_path / "restored.sqlite3"
    shutil.copyfile(tmp_path / "backup.sqlite3", restored_path)
    restored = make_app(f"sqlite:///{restored_path}")
    with restored.app_context():
        client = restored.test_client()
        signed_in = client.post(
            "/sign-in", data={"email": "olivia@example.com", "password": PASSWORD}
        )
        assert signed_in.status_code == 302, signed_in.text
        in_copy = [value for value in values + issued if token_format.digest(value) in hashes]
        assert len(in_copy) == len(hashes)
        for value in in_copy:
            assert client.get("/api/v1/token", headers=bearer(value)).status_code == 200
        db.engine.dispose()
