"""The token check itself: one read per request, no SQL for malformed tokens, the
last_used_at interval, faults that fail closed, and revocation seen at once by every
server process."""

import os
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from flagpal_dash import token_format
from flagpal_dash.api import verification
from flagpal_dash.api.verification import EXTENSION_KEY
from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken

from .conftest import make_app
from .serving import serve
from .support import issue_token
from .test_api_token import bearer, error_of


class WrappedLookup:
    """A token lookup (by cursor, or straight through libpq) that calls ``before(sql)``
    ahead of every run."""

    def __init__(self, lookup, before):
        self.lookup = lookup
        self.before = before

    def __call__(self, digest: str):
        self.before(self.lookup.sql)
        return self.lookup(digest)


def wrap_lookups(authority, monkeypatch, before) -> None:
    """Make the token lookup's connections use ``WrappedLookup``s from now on."""
    authority.discard_thread_connection()
    open_connection = authority.open_thread_connection

    def wrapped_connection():
        opened = open_connection()
        opened.lookup = WrappedLookup(opened.lookup, before)
        return opened

    monkeypatch.setattr(authority, "open_thread_connection", wrapped_connection)


@pytest.fixture
def statements(app, monkeypatch):
    """Every SQL statement the app sends, through SQLAlchemy or the token lookup's own
    connection."""
    seen: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    authority = app.extensions[EXTENSION_KEY]
    wrap_lookups(authority, monkeypatch, seen.append)
    yield seen
    authority.discard_thread_connection()


def last_used(token: ApiToken) -> datetime | None:
    db.session.expire_all()
    return db.session.scalar(select(ApiToken.last_used_at).where(ApiToken.id == token.id))


def test_a_malformed_token_is_refused_without_any_sql(client, team, statements):
    _, value = issue_token(team.project, "Real")
    statements.clear()
    for bad in [value[:-1] + ("0" if value[-1] != "0" else "1"), value[:-1], "flagpal_" + "x" * 46]:
        response = client.get("/api/v1/token", headers=bearer(bad))
        assert error_of(response)["code"] == "token_malformed"
    assert statements == []


def test_a_good_token_costs_one_read_and_no_write_within_the_interval(client, team, statements):
    token, value = issue_token(team.project, "Busy")
    start = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        client.get("/api/v1/token", headers=bearer(value))
    assert last_used(token) == start
    statements.clear()
    with time_machine.travel(start + timedelta(seconds=59), tick=False):
        for _ in range(5):
            assert client.get("/api/v1/token", headers=bearer(value)).status_code == 200
    assert len(statements) == 5, "one SELECT per request, no UPDATE"
    assert all(sql.lstrip().upper().startswith("SELECT") for sql in statements)
    assert last_used(token) == start, "not rewritten within the interval"
    with time_machine.travel(start + timedelta(seconds=60), tick=False):
        client.get("/api/v1/token", headers=bearer(value))
    assert last_used(token) == start + timedelta(seconds=60)


def test_the_interval_is_a_setting(database_url, migrated, team):
    eager = make_app(database_url, LAST_USED_INTERVAL=0)
    token, value = issue_token(team.project, "Every time")
    client = eager.test_client()
    try:
        for second in range(3):
            moment = datetime(2026, 6, 1, 12, 0, second, tzinfo=UTC)
            with time_machine.travel(moment, tick=False):
                client.get("/api/v1/token", headers=bearer(value))
            assert last_used(token) == moment
    finally:
        with eager.app_context():
            db.engine.dispose()


def test_failing_to_record_use_does_not_fail_the_request(app, client, team, monkeypatch, caplog):
    token, value = issue_token(team.project, "Unrecorded")
    authority = app.extensions[EXTENSION_KEY]

    def broken_begin():
        raise OperationalError("UPDATE api_tokens", {}, Exception("database is locked"))

    monkeypatch.setattr(authority.engine, "begin", broken_begin)
    response = client.get("/api/v1/token", headers=bearer(value))
    assert response.status_code == 200
    assert response.get_json(force=True)["data"]["attributes"]["last_used_at"] is None
    assert f"Could not record the use of token {token.id}" in caplog.text
    assert value not in caplog.text


def test_tokens_are_compared_in_constant_time_after_the_indexed_lookup(client, team, monkeypatch):
    token, value = issue_token(team.project, "Compared")
    compared = []

    def compare_digest(a, b):
        compared.append((a, b))
        return a == b

    monkeypatch.setattr(verification.secrets, "compare_digest", compare_digest)
    assert client.get("/api/v1/token", headers=bearer(value)).status_code == 200
    assert compared == [(token.token_hash, token.token_hash)]


def unreachable_url(database_url: str, tmp_path) -> str:
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path}/missing-folder/flagpal.sqlite3"
    return "postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2"


def test_an_unreachable_database_gives_503_never_a_pass(database_url, tmp_path, caplog):
    app = make_app(unreachable_url(database_url, tmp_path))
    client = app.test_client()
    # A well-formed token: it must reach the database to be judged.
    for path in ["/api/v1/token", "/api/v1/auth/read"]:
        response = client.get(path, headers=bearer(token_format.generate()))
        assert response.status_code == 503
        assert error_of(response)["code"] == "unavailable"
        assert response.headers["Retry-After"] == "5"
    failures = [r for r in caplog.records if r.getMessage().startswith("Token check failed")]
    assert failures and all(
        r.getMessage().startswith("Token check failed: database unreachable: ") for r in failures
    )
    # One line each while the outage lasts, not a traceback per request.
    assert not any(r.exc_info for r in failures)
    with app.app_context():
        db.engine.dispose()


def test_a_broken_connection_is_replaced_and_a_dead_database_fails_closed(
    app, client, team, monkeypatch
):
    _, value = issue_token(team.project, "Resilient")
    authority = app.extensions[EXTENSION_KEY]
    failures = {"left": 1}

    def fail_while_told(sql):
        if failures["left"]:
            failures["left"] -= 1
            raise authority.engine.dialect.loaded_dbapi.OperationalError("server closed")

    wrap_lookups(authority, monkeypatch, fail_while_told)
    assert client.get("/api/v1/token", headers=bearer(value)).status_code == 200, "retried"

    failures["left"] = 2
    authority.discard_thread_connection()
    response = client.get("/api/v1/token", headers=bearer(value))
    assert response.status_code == 503
    assert client.get("/api/v1/token", headers=bearer(value)).status_code == 200, "came back"
    authority.discard_thread_connection()


def revoke_through_the_dashboard(client, team, token) -> None:
    response = client.post(
        "/sign-in", data={"email": team.owner.email, "password": "correct horse battery"}
    )
    assert response.status_code == 302
    assert client.post(f"/projects/shop/tokens/{token.id}/revoke").status_code == 302


def test_a_revoke_in_one_app_instance_is_seen_by_another_at_once(database_url, client, team):
    token, value = issue_token(team.project, "Shared")
    other = make_app(database_url)
    other_client = other.test_client()
    try:
        assert other_client.get("/api/v1/token", headers=bearer(value)).status_code == 200
        revoke_through_the_dashboard(client, team, token)
        response = other_client.get("/api/v1/token", headers=bearer(value))
        assert response.status_code == 401
        assert error_of(response)["code"] == "token_revoked"
    finally:
        with other.app_context():
            db.engine.dispose()


def get_status(url: str, value: str) -> int:
    request = urllib.request.Request(url, headers=bearer(value))
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_revoke_is_seen_by_every_gunicorn_worker_on_the_next_request(
    database_url, client, team, tmp_path
):
    token, value = issue_token(team.project, "Served")
    env = {
        **os.environ,
        "FLAGPAL_DATABASE_URL": database_url,
        "FLAGPAL_SECRET_KEY": "x",
        "FLAGPAL_INSTANCE_PATH": str(tmp_path),
    }
    server = serve(env, tmp_path / "output.log", workers=2, configured=False)
    url = f"{server.url}/api/v1/token"
    try:
        assert [get_status(url, value) for _ in range(20)] == [200] * 20
        revoke_through_the_dashboard(client, team, token)
        assert [get_status(url, value) for _ in range(20)] == [401] * 20
    finally:
        server.stop()


def test_a_thread_s_connection_is_closed_when_the_thread_ends(app, client, team):
    """`flask run` serves each request on a new thread: connections must not pile up."""
    import gc
    import threading

    _, value = issue_token(team.project, "Threads")
    authority = app.extensions[EXTENSION_KEY]
    before = len(authority.open_connections)
    while_alive = []

    def one_request():
        with app.test_client() as thread_client:
            assert thread_client.get("/api/v1/token", headers=bearer(value)).status_code == 200
        while_alive.append(len(authority.open_connections))

    threads = [threading.Thread(target=one_request) for _ in range(5)]
    for thread in threads:
        thread.start()
        thread.join()
    gc.collect()
    assert while_alive == [before + 1] * 5, "each thread opened its own"
    assert len(authority.open_connections) == before, "and it closed when the thread ended"
