"""Limits counted in the app's own database (the default): they hold however many gunicorn
workers serve, and across apps sharing the database. The storage itself: fixed windows,
expiry, the key prefix, concurrent hits; and a limited request while the database is
unreachable gets the 503 page, not a 500 nor a pass."""

import http.client
import json
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from flagpal_dash.extensions import db, limiter
from flagpal_dash.limit_storage import PRUNE_INTERVAL, DatabaseStorage, RateLimitCounter

from .conftest import make_app
from .serving import ROOT, serve
from .support import PASSWORD, soup, text_of
from .test_database_outage import assert_database_unreachable_page
from .test_limits import (
    HOME,
    LOCKED,
    START,
    WRONG,
    Visitor,
    attempt,
    dispose,
    fail,
    strangers,
    wait_notice,
)
from .test_token_authority import unreachable_url

WORKERS = 4
LEAK_REPORTS = "/api/v1/tokens/revoke"


def counters() -> dict[str, int]:
    """Every count in the table, as committed."""
    with db.engine.connect() as connection:
        rows = connection.execute(select(RateLimitCounter.key, RateLimitCounter.count))
        return dict(rows.all())


# Several gunicorn workers, default settings -----------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The port of gunicorn with WORKERS workers on a fresh SQLite instance with the
    default settings (limits included), as ``make serve`` would run it."""
    instance = tmp_path_factory.mktemp("instance")
    env = {name: value for name, value in os.environ.items() if not name.startswith("FLAGPAL_")}
    env.pop("GUNICORN_CMD_ARGS", None)
    env.update(FLAGPAL_INSTANCE_PATH=str(instance), FLAGPAL_BCRYPT_ROUNDS="4")
    flask = [str(Path(sys.executable).parent / "flask"), "--app", "wsgi"]
    subprocess.run(
        [*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    server = serve(env, instance / "server.log", workers=WORKERS, configured=False)
    yield server.port
    server.stop()


def report_leak(port: int, address: str) -> http.client.HTTPResponse:
    """One leaked-token report, on a connection of its own (so any worker may take it)."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=10, source_address=(address, 0)
    )
    try:
        connection.request(
            "POST", LEAK_REPORTS, json.dumps(["not a token"]), {"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        response.read()
        return response
    finally:
        connection.close()


def test_ten_failed_sign_ins_are_allowed_whatever_the_number_of_workers(served):
    """Each attempt comes on fresh connections, so the workers share them out: with counts
    in each worker's memory, WORKERS workers allowed WORKERS times the limit."""
    intruder = Visitor("127.0.13.6")
    for email in strangers(10):
        response, _ = intruder.sign_in(served, email, WRONG)
        assert response.status == 422
    for email in strangers(5):
        response, text = intruder.sign_in(served, email, WRONG)
        assert response.status == 429, "the 11th failure and every one after it is refused"
        assert text_of(soup(text).select_one("[data-error-message]")).startswith(LOCKED)
    response, _ = Visitor("127.0.13.7").sign_in(served, "someone@example.com", PASSWORD)
    assert response.status == 422, "another address is not locked out"


def test_thirty_leak_reports_a_minute_whatever_the_number_of_workers(served):
    statuses = [report_leak(served, "127.0.13.8").status for _ in range(35)]
    assert statuses == [202] * 30 + [429] * 5
    assert report_leak(served, "127.0.13.9").status == 202, "another address is not limited"


# Apps sharing one database --------------------------------------------------------------


@pytest.fixture
def small_limits():
    return {"SIGN_IN_LIMIT": "3 per 5 minutes", "SIGN_IN_ACCOUNT_LIMIT": "100 per 15 minutes"}


def test_apps_on_one_database_count_together(database_url, app, team, small_limits):
    first = make_app(database_url, **small_limits)
    second = make_app(database_url, **small_limits)
    try:
        fail(first, strangers(3))
        assert wait_notice(attempt(second, team.owner.email, PASSWORD)).startswith(LOCKED)
        assert attempt(second, team.owner.email, PASSWORD, "198.51.100.7").status_code == 302
    finally:
        dispose(first, second)


def test_counts_are_kept_under_the_key_prefix(database_url, app, team, small_limits, monkeypatch):
    """Instances sharing a database but not their accounts count apart. (One limiter serves
    every app in a process and keeps the first prefix it is given: each app here gets the
    prefix its own process would have.)"""
    monkeypatch.setattr(limiter, "_key_prefix", "")
    first = make_app(database_url, RATELIMIT_KEY_PREFIX="instance-a", **small_limits)
    monkeypatch.setattr(limiter, "_key_prefix", "")
    second = make_app(database_url, RATELIMIT_KEY_PREFIX="instance-b", **small_limits)
    try:
        monkeypatch.setattr(limiter, "_key_prefix", "instance-a")
        fail(first, strangers(3))
        assert attempt(first, team.owner.email, PASSWORD).status_code == 429
        assert counters() and all("/instance-a/" in key for key in counters())
        monkeypatch.setattr(limiter, "_key_prefix", "instance-b")
        assert attempt(second, team.owner.email, PASSWORD).status_code == 302
    finally:
        dispose(first, second)


def test_a_count_survives_the_failed_forms_rollback(app, team):
    """Counts are written on a connection of their own, committed before the answer."""
    fail(app, strangers(1))
    assert set(counters().values()) == {1}
    assert len(counters()) == 2, "one count per address, one per account"


# The storage ---------------------------------------------------------------------------


def test_a_window_runs_from_the_first_hit_for_its_period(app):
    storage = DatabaseStorage("database://")
    start = START.timestamp()
    with time_machine.travel(START, tick=False):
        assert storage.get("k") == 0
        assert storage.incr("k", 60) == 1
        assert storage.incr("k", 60, amount=2) == 3
    with time_machine.travel(START + timedelta(seconds=59), tick=False):
        assert storage.incr("k", 60) == 4
        assert (storage.get("k"), storage.get_expiry("k")) == (4, start + 60)
    with time_machine.travel(START + timedelta(seconds=60), tick=False):
        assert (storage.get("k"), storage.get_expiry("k")) == (0, start + 60), "ended"
        assert storage.incr("k", 60) == 1, "a fresh window"
        assert storage.get_expiry("k") == start + 120
    assert storage.get("other") == 0


def test_without_returning_a_hit_reads_its_count_back(app, monkeypatch):
    """SQLite before 3.35 has upserts but not RETURNING."""
    monkeypatch.setattr(db.engine.dialect, "insert_returning", False)
    storage = DatabaseStorage("database://")
    assert [storage.incr("k", 60) for _ in range(3)] == [1, 2, 3]


def test_any_key_is_counted_apart_from_every_other(app):
    """Keys hold what visitors type; PostgreSQL stores no NUL character in text."""
    storage = DatabaseStorage("database://")
    keys = ["account:a\x00b", "account:a\\0b", "account:a\\\x00b", "account:a0b"]
    for times, key in enumerate(keys, start=1):
        for _ in range(times):
            storage.incr(key, 60)
    assert [storage.get(key) for key in keys] == [1, 2, 3, 4]
    storage.clear(keys[0])
    assert [storage.get(key) for key in keys] == [0, 2, 3, 4]


def test_ended_windows_are_deleted_now_and_then(app):
    storage = DatabaseStorage("database://")
    with time_machine.travel(START, tick=False):
        storage.incr("short", 10)
        storage.incr("long", 3600)
    with time_machine.travel(START + timedelta(seconds=PRUNE_INTERVAL - 1), tick=False):
        storage.incr("long", 3600)
        assert counters() == {"short": 1, "long": 2}, "not on every write"
        assert storage.get("short") == 0
    with time_machine.travel(START + timedelta(seconds=PRUNE_INTERVAL), tick=False):
        storage.incr("long", 3600)
        assert counters() == {"long": 3}


def test_concurrent_hits_are_each_counted_once(app):
    storage = DatabaseStorage("database://")
    seen: list[int] = []

    def hit_many() -> None:
        with app.app_context():
            for _ in range(25):
                seen.append(storage.incr("busy", 300))

    threads = [threading.Thread(target=hit_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seen) == list(range(1, 201))
    assert storage.get("busy") == 200


def test_the_apps_own_writes_still_wait_for_the_disk(app):
    """Counts are committed without waiting for the disk; the connection that made one
    goes back to the pool as it was."""
    db.engine.dispose()
    DatabaseStorage("database://").incr("k", 60)
    assert db.engine.pool.checkedin() == 1, "the connection that counted"
    with db.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        else:
            assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"


def test_clear_and_reset(app):
    storage = DatabaseStorage("database://")
    storage.incr("a", 60)
    storage.incr("b", 60)
    storage.clear("a")
    assert counters() == {"b": 1}
    assert storage.check()
    storage.reset()
    assert counters() == {}


# Without the database --------------------------------------------------------------------


def test_limited_requests_get_the_503_answer_when_the_database_is_unreachable(
    database_url, tmp_path, caplog
):
    """Sign-in cannot work without the database anyway; counting in memory meanwhile would
    give every worker the whole limit again. So: the "cannot be reached" page, no fallback."""
    unreachable = make_app(unreachable_url(database_url, tmp_path))
    client = unreachable.test_client()
    try:
        response = client.post(
            "/sign-in",
            data={"email": "someone@example.com", "password": WRONG},
            environ_base={"REMOTE_ADDR": HOME},
        )
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert_database_unreachable_page(response.text)
        report = client.post(LEAK_REPORTS, json=[], environ_base={"REMOTE_ADDR": HOME})
        assert report.status_code == 503
        assert report.get_json()["errors"][0]["code"] == "unavailable"
    finally:
        dispose(unreachable)
    assert "falling back to in-memory storage" not in caplog.text
