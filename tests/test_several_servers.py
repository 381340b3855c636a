"""Several servers behind a load balancer: two gunicorn servers on different ports share
one PostgreSQL database and one FLAGPAL_SECRET_KEY, and count limits in that database
(the default) or in one Redis. A revoke through one is refused by the other on the very
next request, failed sign-ins through both count together, and a session made on one is
good on the other.

PostgreSQL only (CI's second pass): a SQLite file is for one server. The servers see
only rows this test commits; the ``app`` fixture empties the tables afterwards."""

import http.client
import json
import os
from pathlib import Path

import pytest

from flagpal_dash.api.errors import MEDIA_TYPE

from . import test_limits
from .serving import serve
from .support import PASSWORD, issue_token, soup, text_of
from .test_limits import LOCKED, REDIS_URL, RUN, WRONG, Visitor

# The local Redis, skipped without it (failing with FLAGPAL_REQUIRE_REDIS=1); afterwards
# every key with RUN in it is deleted.
redis_store = test_limits.redis_store

TEST_DATABASE_URL = os.environ.get("FLAGPAL_TEST_DATABASE_URL", "")
pytestmark = pytest.mark.skipif(
    not TEST_DATABASE_URL or TEST_DATABASE_URL.startswith("sqlite"),
    reason="several servers need a shared database server: set FLAGPAL_TEST_DATABASE_URL "
    "to a PostgreSQL URL (CI's PostgreSQL pass does)",
)
# Client addresses of this test's visitors (keys in Redis are made from them).
OWNER_ADDRESS = "127.0.0.21"
INTRUDER_ADDRESS = "127.0.0.22"
NEIGHBOUR_ADDRESS = "127.0.0.23"


def token_api(port: int, value: str) -> tuple[int, str | None]:
    """``GET /api/v1/token`` with ``value``: the status and, for a refusal, its code."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/api/v1/token", headers={"Authorization": f"Bearer {value}"})
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status == 200:
        return 200, None
    assert response.headers["Content-Type"] == MEDIA_TYPE
    return response.status, json.loads(body)["errors"][0]["code"]


def shared_settings(database_url: str, tmp_path) -> dict:
    """What both servers are given: the test database, a secret key, small sign-in limits
    (counted in the database, the default)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("FLAGPAL_")}
    return {
        **env,
        "FLAGPAL_DATABASE_URL": database_url,
        "FLAGPAL_SECRET_KEY": f"shared by both servers {RUN}",
        "FLAGPAL_INSTANCE_PATH": str(tmp_path),
        "FLAGPAL_BCRYPT_ROUNDS": "4",
        "FLAGPAL_SIGN_IN_LIMIT": "3 per 5 minutes",
        "FLAGPAL_SIGN_IN_ACCOUNT_LIMIT": "100 per 15 minutes",
    }


@pytest.fixture
def servers(database_url, app, team, tmp_path, redis_store):
    """Ports of two gunicorn servers sharing the test database, Redis and a secret key."""
    env = {
        **shared_settings(database_url, tmp_path),
        "FLAGPAL_RATELIMIT_STORAGE_URI": REDIS_URL,
        # Unique to this run: redis_store deletes this run's keys, and only those.
        "FLAGPAL_RATELIMIT_KEY_PREFIX": f"flagpal-test-{RUN}",
    }
    yield from serving(env)


@pytest.fixture
def servers_sharing_the_database(database_url, app, team, tmp_path):
    """Ports of two gunicorn servers sharing the test database and a secret key, and no
    other service: limits count in the database."""
    yield from serving(shared_settings(database_url, tmp_path))


def serving(env: dict):
    folder = Path(env["FLAGPAL_INSTANCE_PATH"])
    started = []
    try:
        for number in (1, 2):
            started.append(serve(env, folder / f"server-{number}.log", configured=False))
        yield [server.port for server in started]
    finally:
        # Stopped before the app fixture empties the tables: each server writes the
        # usage counts it still holds as it exits.
        for server in started:
            server.stop()


def test_a_token_revoked_through_one_server_is_refused_by_the_other_at_once(servers, team):
    a, b = servers
    token, value = issue_token(team.project, "Shared by both")
    assert token_api(b, value) == (200, None)
    assert token_api(a, value) == (200, None)

    owner = Visitor(OWNER_ADDRESS)
    response, _ = owner.sign_in(a, team.owner.email, PASSWORD)
    assert response.status == 302
    response, text = owner.send(a, "GET", f"/projects/shop/tokens/{token.id}/revoke")
    assert response.status == 200
    form = soup(text).select_one(f'form[action="/projects/shop/tokens/{token.id}/revoke"]')
    csrf_token = form.find("input", attrs={"name": "csrf_token"})["value"]
    response, _ = owner.send(
        a, "POST", f"/projects/shop/tokens/{token.id}/revoke", {"csrf_token": csrf_token}
    )
    assert response.status == 302

    assert token_api(b, value) == (401, "token_revoked"), "the very next request"
    assert token_api(a, value) == (401, "token_revoked")


def test_a_session_made_on_one_server_is_good_on_the_other(servers, team):
    a, b = servers
    on_a = Visitor(OWNER_ADDRESS)
    response, _ = on_a.sign_in(a, team.owner.email, PASSWORD)
    assert response.status == 302
    on_b = Visitor(OWNER_ADDRESS)
    on_b.cookie = on_a.cookie
    response, text = on_b.send(b, "GET", "/projects/shop/tokens")
    assert response.status == 200
    assert text_of(soup(text).h1) == "API Tokens"
    stranger = Visitor(OWNER_ADDRESS)
    response, _ = stranger.send(b, "GET", "/projects/shop/tokens")
    assert response.status == 302, "without the cookie: sent to sign in"


def test_failed_sign_ins_through_both_servers_count_together(servers, team, redis_store):
    a, b = servers
    intruder = Visitor(INTRUDER_ADDRESS)
    for port in [a, b, a]:
        response, _ = intruder.sign_in(port, f"guess-{port}@example.com", WRONG)
        assert response.status == 422
    assert list(redis_store.scan_iter(match=f"*flagpal-test-{RUN}*")), "counted in Redis"
    for port in [b, a]:
        response, text = intruder.sign_in(port, team.owner.email, PASSWORD)
        assert response.status == 429, "the right password waits too"
        assert text_of(soup(text).select_one("[data-error-message]")).startswith(LOCKED)
        assert 0 < int(response.headers["Retry-After"]) <= 301
    response, _ = Visitor(NEIGHBOUR_ADDRESS).sign_in(b, team.owner.email, PASSWORD)
    assert response.status == 302, "another address is not locked out"


def test_failed_sign_ins_through_both_servers_count_together_in_the_database(
    servers_sharing_the_database, team
):
    a, b = servers_sharing_the_database
    intruder = Visitor(INTRUDER_ADDRESS)
    for port in [a, b, a]:
        response, _ = intruder.sign_in(port, f"guess-{port}@example.com", WRONG)
        assert response.status == 422
    for port in [b, a]:
        response, text = intruder.sign_in(port, team.owner.email, PASSWORD)
        assert response.status == 429, "the right password waits too"
        assert text_of(soup(text).select_one("[data-error-message]")).startswith(LOCKED)
    response, _ = Visitor(NEIGHBOUR_ADDRESS).sign_in(b, team.owner.email, PASSWORD)
    assert response.status == 302, "another address is not locked out"
