"""Limits on guessing passwords: failed sign-ins, invitation passwords and wrong current
passwords on the Account page are counted per client address and per account, in memory
or in Redis shared by several servers; past the limit, a page says how long to wait."""

import http.client
import os
import subprocess
import time
import urllib.parse
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
import time_machine
from sqlalchemy import select

from flagpal_dash.core.invitations import create_invitation
from flagpal_dash.extensions import db, limiter
from flagpal_dash.models import AuditEvent, utcnow
from flagpal_dash.permissions import Role

from .conftest import make_app
from .serving import FLASK, ROOT, instance_environment, serve
from .support import PASSWORD, issue_token, page, soup, text_of
from .test_api_token import bearer

WRONG = "not the password"
HOME = "192.0.2.10"
ELSEWHERE = "198.51.100.20"
START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
REDIS_URL = "redis://127.0.0.1:6379"
# Every Redis key this run writes contains RUN, so the run deletes its own keys and no others.
RUN = uuid.uuid4().hex[:12]


@pytest.fixture
def small_limits(app):
    """Limits a test reaches in a few attempts (the views read them on every request)."""
    app.config.update(SIGN_IN_LIMIT="3 per 5 minutes", SIGN_IN_ACCOUNT_LIMIT="3 per 15 minutes")


def attempt(app, email: str, password: str = WRONG, address: str = HOME):
    """One sign-in, by a visitor with no cookies at ``address``."""
    return app.test_client().post(
        "/sign-in",
        data={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def fail(app, emails: list[str], addresses: list[str] | None = None) -> None:
    """Failed sign-ins: one per email, from ``addresses`` in turn (HOME if none)."""
    addresses = addresses or [HOME] * len(emails)
    for email, address in zip(emails, addresses, strict=True):
        assert attempt(app, email, WRONG, address).status_code == 422


def strangers(count: int) -> list[str]:
    return [f"stranger{n}-{RUN}@example.com" for n in range(count)]


def wait_notice(response) -> str:
    """What the 'too many attempts' page tells the person."""
    assert response.status_code == 429, response.text
    shown = page(response)
    assert text_of(shown.h1) == "Too many attempts"
    return text_of(shown.select_one("[data-error-message]"))


LOCKED = "Too many failed attempts from here or for this account."


def wait_of(seconds_or_minutes: str) -> str:
    return f"{LOCKED} Wait {seconds_or_minutes}, then try again."


@pytest.mark.parametrize(
    ("limit", "later", "wait", "retry_after"),
    [
        # Flask-Limiter adds a second to every reset time, so waits are a second longer.
        ("3 per 5 minutes", timedelta(minutes=2), "4 minutes", "181"),
        ("3 per 1 minute", timedelta(seconds=30), "31 seconds", "31"),
    ],
)
def test_past_the_limit_even_the_right_password_waits_on_a_page_saying_how_long(
    app, team, limit, later, wait, retry_after
):
    app.config["SIGN_IN_LIMIT"] = limit
    with time_machine.travel(START, tick=False):
        fail(app, strangers(3))
    client = app.test_client()
    with time_machine.travel(START + later, tick=False):
        response = client.post(
            "/sign-in",
            data={"email": team.owner.email, "password": PASSWORD},
            environ_base={"REMOTE_ADDR": HOME},
        )
        assert wait_notice(response) == wait_of(wait)
        assert response.headers["Retry-After"] == retry_after
        assert client.get("/").status_code == 302, "not signed in"


@pytest.mark.parametrize(
    ("account_limit", "window", "wait", "retry_after"),
    [
        ("3 per 15 minutes", timedelta(minutes=15), "15 minutes", "841"),
        ("3 per 1 hour", timedelta(hours=1), "60 minutes", "3541"),
    ],
)
def test_when_both_limits_are_hit_the_page_names_the_longer_wait(
    app, team, account_limit, window, wait, retry_after
):
    """Someone who mistypes their own password fills both buckets at once: the account's
    wait, not the address's 5 minutes, is when they can try again."""
    app.config.update(SIGN_IN_LIMIT="3 per 5 minutes", SIGN_IN_ACCOUNT_LIMIT=account_limit)
    with time_machine.travel(START, tick=False):
        fail(app, [team.owner.email] * 3)
    with time_machine.travel(START + timedelta(minutes=1), tick=False):
        response = attempt(app, team.owner.email, PASSWORD)
        assert wait_notice(response) == wait_of(wait)
        assert response.headers["Retry-After"] == retry_after
    with time_machine.travel(START + timedelta(minutes=6), tick=False):
        assert attempt(app, team.owner.email, PASSWORD).status_code == 429, "still locked"
    with time_machine.travel(START + window + timedelta(seconds=1), tick=False):
        assert attempt(app, team.owner.email, PASSWORD).status_code == 302


def test_successful_sign_ins_and_visits_do_not_count(app, team, small_limits):
    client = app.test_client()
    for _ in range(5):
        assert client.get("/sign-in", environ_base={"REMOTE_ADDR": HOME}).status_code == 200
        assert attempt(app, team.owner.email, PASSWORD).status_code == 302
    fail(app, [team.owner.email] * 3)
    assert attempt(app, team.owner.email, PASSWORD).status_code == 429, "the limit is on"


def test_the_limit_resets_after_its_window(app, team, small_limits):
    with time_machine.travel(START, tick=False):
        fail(app, strangers(3))
    with time_machine.travel(START + timedelta(minutes=4, seconds=59), tick=False):
        assert attempt(app, team.owner.email, PASSWORD).status_code == 429
    with time_machine.travel(START + timedelta(minutes=5, seconds=1), tick=False):
        assert attempt(app, team.owner.email, PASSWORD).status_code == 302
        fail(app, strangers(3))  # a fresh allowance
        assert attempt(app, team.owner.email, PASSWORD).status_code == 429


def test_failures_for_one_account_from_many_addresses_lock_that_account_only(app, team):
    app.config.update(SIGN_IN_LIMIT="100 per 5 minutes", SIGN_IN_ACCOUNT_LIMIT="3 per 15 minutes")
    # The same account however its email is typed.
    fail(
        app,
        ["olivia@example.com", "Olivia@Example.com", " OLIVIA@example.com "],
        ["203.0.113.1", "203.0.113.2", "203.0.113.3"],
    )
    assert wait_notice(attempt(app, team.owner.email, PASSWORD, ELSEWHERE)).startswith(LOCKED)
    assert attempt(app, team.developer.email, PASSWORD, ELSEWHERE).status_code == 302


def test_failures_over_many_emails_from_one_address_lock_that_address_only(app, team):
    app.config.update(SIGN_IN_LIMIT="3 per 5 minutes", SIGN_IN_ACCOUNT_LIMIT="100 per 15 minutes")
    fail(app, [team.developer.email, team.viewer.email, "nobody@example.com"])
    assert wait_notice(attempt(app, team.owner.email, PASSWORD, HOME)).startswith(LOCKED)
    assert attempt(app, team.owner.email, PASSWORD, ELSEWHERE).status_code == 302


def test_by_default_ten_failures_are_allowed_per_address_and_per_account(app, team):
    fail(app, strangers(10))
    assert attempt(app, team.owner.email, PASSWORD).status_code == 429
    fail(app, [team.developer.email] * 10, [f"203.0.113.{n}" for n in range(10)])
    assert attempt(app, team.developer.email, PASSWORD, ELSEWHERE).status_code == 429
    assert attempt(app, team.owner.email, PASSWORD, ELSEWHERE).status_code == 302


def join(app, secret: str, password: str, address: str):
    """Accept an invitation with an existing account's password."""
    return app.test_client().post(
        f"/invitations/{secret}", data={"password": password}, environ_base={"REMOTE_ADDR": address}
    )


@pytest.fixture
def invitation_secret(app, team) -> str:
    """An invitation to "Other" for the owner of "Shop", who has an account already."""
    _, secret = create_invitation(
        team.other_project, team.owner.email, Role.VIEWER, by=None, now=utcnow(), by_mail=False
    )
    db.session.commit()
    return secret


def test_invitation_failures_count_against_the_invited_account(app, team, invitation_secret):
    app.config.update(SIGN_IN_LIMIT="100 per 5 minutes", SIGN_IN_ACCOUNT_LIMIT="3 per 15 minutes")
    fail(app, [team.owner.email], ["203.0.113.1"])
    for address in ["203.0.113.2", "203.0.113.3"]:
        response = join(app, invitation_secret, WRONG, address)
        assert response.status_code == 422
        assert [text_of(li) for li in page(response).select(".field-errors li")] == [
            "That password does not match an account for olivia@example.com."
        ]
    assert wait_notice(attempt(app, team.owner.email, PASSWORD, ELSEWHERE)).startswith(LOCKED)
    assert wait_notice(join(app, invitation_secret, PASSWORD, ELSEWHERE)).startswith(LOCKED)
    assert attempt(app, team.developer.email, PASSWORD, ELSEWHERE).status_code == 302


def test_invitation_failures_count_against_the_address(app, team, invitation_secret):
    app.config.update(SIGN_IN_LIMIT="3 per 5 minutes", SIGN_IN_ACCOUNT_LIMIT="100 per 15 minutes")
    fail(app, ["nobody@example.com"])
    for _ in range(2):
        assert join(app, invitation_secret, WRONG, HOME).status_code == 422
    assert wait_notice(attempt(app, team.developer.email, PASSWORD, HOME)).startswith(LOCKED)
    assert wait_notice(join(app, invitation_secret, PASSWORD, HOME)).startswith(LOCKED)
    assert join(app, invitation_secret, PASSWORD, ELSEWHERE).status_code == 302, "joined"


def test_other_routes_are_not_limited_nor_counted(app, team, small_limits):
    _, value = issue_token(team.project, "Busy app")
    fail(app, strangers(2))
    developer = app.test_client()
    signed_in = developer.post(
        "/sign-in",
        data={"email": team.developer.email, "password": PASSWORD},
        environ_base={"REMOTE_ADDR": HOME},
    )
    assert signed_in.status_code == 302
    for _ in range(10):
        response = developer.post(
            "/projects/shop/tokens", data={"name": ""}, environ_base={"REMOTE_ADDR": HOME}
        )
        assert response.status_code == 422, "a form sent back, not a limit"
    api = app.test_client()
    for _ in range(10):
        response = api.get(
            "/api/v1/token", headers=bearer(value), environ_base={"REMOTE_ADDR": HOME}
        )
        assert response.status_code == 200
        assert "X-RateLimit-Limit" not in response.headers
    fail(app, strangers(1))  # the third failure: the 422s elsewhere did not count
    assert attempt(app, team.owner.email, PASSWORD).status_code == 429
    for _ in range(10):
        response = api.get(
            "/api/v1/token", headers=bearer(value), environ_base={"REMOTE_ADDR": HOME}
        )
        assert response.status_code == 200, "apps at a locked-out address still work"


def test_an_unreachable_redis_still_lets_people_sign_in_counting_in_memory(
    database_url, team, monkeypatch, caplog
):
    # Every app in this process shares one limiter; put its "storage is down" flag back.
    monkeypatch.setattr(limiter, "_storage_dead", False)
    unreachable = make_app(
        database_url,
        RATELIMIT_STORAGE_URI="redis://127.0.0.1:1",
        SIGN_IN_LIMIT="3 per 5 minutes",
        SIGN_IN_ACCOUNT_LIMIT="3 per 15 minutes",
    )
    try:
        with time_machine.travel(START, tick=False):
            assert attempt(unreachable, team.owner.email, PASSWORD).status_code == 302
            assert "falling back to in-memory storage" in caplog.text
            fail(unreachable, strangers(3))
            response = attempt(unreachable, team.owner.email, PASSWORD)
            assert wait_notice(response) == wait_of("6 minutes")
    finally:
        with unreachable.app_context():
            db.engine.dispose()


@pytest.fixture
def redis_store():
    """The local Redis; afterwards, every key this run wrote is deleted (and only those)."""
    store = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        store.ping()
    except redis.exceptions.ConnectionError:
        store.close()
        reason = f"no Redis at {REDIS_URL}: start one to test limits shared by servers"
        if os.environ.get("FLAGPAL_REQUIRE_REDIS") == "1":
            pytest.fail(reason + " (FLAGPAL_REQUIRE_REDIS=1 requires them)")
        pytest.skip(reason)
    yield store
    for key in store.scan_iter(match=f"*{RUN}*"):
        store.delete(key)
    store.close()


def sharing_redis(database_url: str, **limits):
    return make_app(
        database_url,
        RATELIMIT_STORAGE_URI=REDIS_URL,
        RATELIMIT_KEY_PREFIX=f"flagpal-test-{RUN}",
        **limits,
    )


def dispose(*apps) -> None:
    for each in apps:
        with each.app_context():
            db.engine.dispose()


def test_failures_through_one_app_lock_out_another_sharing_redis(database_url, team, redis_store):
    limits = {"SIGN_IN_LIMIT": "3 per 5 minutes", "SIGN_IN_ACCOUNT_LIMIT": "100 per 15 minutes"}
    first = sharing_redis(database_url, **limits)
    fail(first, strangers(3))
    assert list(redis_store.scan_iter(match=f"*{RUN}*sign-in-address*")), "counted in Redis"
    # A new app starts with empty memory: only the shared store remembers the failures.
    second = sharing_redis(database_url, **limits)
    try:
        response = attempt(second, team.owner.email, PASSWORD)
        assert wait_notice(response).startswith(LOCKED)
        assert 0 < int(response.headers["Retry-After"]) <= 301
        assert attempt(second, team.owner.email, PASSWORD, ELSEWHERE).status_code == 302
    finally:
        dispose(first, second)


def test_a_lockout_kept_in_redis_ends_with_its_window(database_url, team, redis_store):
    # Redis expires the count itself, so the clock cannot be moved: the window is short.
    limits = {"SIGN_IN_LIMIT": "3 per 2 seconds", "SIGN_IN_ACCOUNT_LIMIT": "100 per 15 minutes"}
    first = sharing_redis(database_url, **limits)
    second = sharing_redis(database_url, **limits)
    try:
        fail(first, strangers(3))
        assert list(redis_store.scan_iter(match=f"*{RUN}*/2/second")), "counted in Redis"
        response = attempt(second, team.owner.email, PASSWORD)
        assert response.status_code == 429
        time.sleep(int(response.headers["Retry-After"]) + 0.5)
        assert attempt(second, team.owner.email, PASSWORD).status_code == 302
    finally:
        dispose(first, second)


class Visitor:
    """A person's browser at one client address, talking HTTP to real servers: keeps the
    session cookie, sends the form's CSRF token, and does not follow redirects."""

    def __init__(self, address: str):
        self.address = address
        self.cookie = ""

    def send(self, port: int, method: str, path: str, form: dict | None = None):
        connection = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=10, source_address=(self.address, 0)
        )
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body, headers)
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        for cookie in response.headers.get_all("Set-Cookie") or []:
            if cookie.startswith("session="):
                self.cookie = cookie.split(";", 1)[0]
        return response, text

    def sign_in(self, port: int, email: str, password: str):
        response, text = self.send(port, "GET", "/sign-in")
        assert response.status == 200
        token = soup(text).find("input", attrs={"name": "csrf_token"})["value"]
        form = {"csrf_token": token, "email": email, "password": password}
        return self.send(port, "POST", "/sign-in", form)


def test_two_servers_sharing_redis_lock_an_address_out_together(tmp_path, redis_store):
    env = instance_environment(
        f"sqlite:///{tmp_path / 'flagpal.sqlite3'}",
        tmp_path,
        BCRYPT_ROUNDS="4",
        RATELIMIT_STORAGE_URI=REDIS_URL,
        SIGN_IN_LIMIT="3 per 5 minutes",
        SIGN_IN_ACCOUNT_LIMIT="100 per 15 minutes",
    )
    email = f"olivia-{RUN}@example.com"
    run = {"cwd": ROOT, "env": env, "check": True, "capture_output": True, "text": True}
    subprocess.run([*FLASK, "db", "upgrade"], **run)
    subprocess.run(
        [*FLASK, "users", "create", email, "--name", "Olivia", "--password-stdin"],
        input=PASSWORD + "\n",
        **run,
    )
    # Servers see client addresses, and keys are made from them: pick addresses no other
    # run uses, so this run's keys are its own (the servers have no key prefix).
    suffix = int(RUN[:4], 16)
    intruder = Visitor(f"127.{100 + suffix % 100}.{suffix // 256 % 256}.{suffix % 256}")
    neighbour = Visitor(f"127.{100 + suffix % 100}.{suffix // 256 % 256}.{(suffix + 1) % 256}")
    servers = []
    try:
        servers = [serve(env, tmp_path / f"server-{n}.log", configured=False) for n in (1, 2)]
        ports = [server.port for server in servers]
        for port in [ports[0], ports[1], ports[0]]:
            response, _ = intruder.sign_in(port, f"guess-{port}-{RUN}@example.com", WRONG)
            assert response.status == 422
        for port in ports:
            response, text = intruder.sign_in(port, email, PASSWORD)
            assert response.status == 429
            assert text_of(soup(text).select_one("[data-error-message]")).startswith(LOCKED)
            assert 0 < int(response.headers["Retry-After"]) <= 301
        response, _ = neighbour.sign_in(ports[1], email, PASSWORD)
        assert response.status == 302, "another address is not locked out"
    finally:
        for server in servers:
            server.stop()
        for visitor in [intruder, neighbour]:
            for key in redis_store.scan_iter(match=f"*/{visitor.address}/*"):
                redis_store.delete(key)


def change_password(client, current: str, new: str = "a brand new passphrase"):
    """The Account page's password form, from HOME."""
    return client.post(
        "/account/password",
        data={"current_password": current, "new_password": new, "confirm_password": new},
        environ_base={"REMOTE_ADDR": HOME},
    )


def test_wrong_current_passwords_on_the_account_page_count_like_failed_sign_ins(
    app, team, small_limits
):
    """A stolen session must not be a way to guess the password: the Account page's check
    fills the same buckets as sign-in, and each wrong guess is in the audit log."""
    with time_machine.travel(START, tick=False):
        client = app.test_client()
        signed_in = client.post(
            "/sign-in",
            data={"email": team.owner.email, "password": PASSWORD},
            environ_base={"REMOTE_ADDR": HOME},
        )
        assert signed_in.status_code == 302
        for _ in range(3):  # mistakes in the new password are not guesses
            assert change_password(client, PASSWORD, new="short").status_code == 422
        for _ in range(3):
            response = change_password(client, WRONG)
            assert response.status_code == 422
            errors = page(response).select("#current_password-errors li")
            assert [text_of(li) for li in errors] == ["That is not your current password."]

        assert wait_notice(change_password(client, PASSWORD)).startswith(LOCKED)
        assert client.get("/account").status_code == 200, "still signed in"
        assert attempt(app, team.owner.email, PASSWORD, ELSEWHERE).status_code == 429
        assert attempt(app, team.developer.email, PASSWORD, HOME).status_code == 429
        assert attempt(app, team.developer.email, PASSWORD, ELSEWHERE).status_code == 302

    db.session.expire_all()
    assert team.owner.check_password(PASSWORD), "unchanged"
    failures = db.session.scalars(
        select(AuditEvent).where(AuditEvent.kind == "sign_in.failed").order_by(AuditEvent.id)
    ).all()
    assert [(e.actor, e.target, e.address, e.details) for e in failures] == [
        (
            "Olivia Owner <olivia@example.com>",
            "Olivia Owner <olivia@example.com>",
            HOME,
            {"reason": "wrong password", "via": "password change"},
        )
    ] * 3
