"""Signed-in sessions kept on the server: sign-out ends one for good, the Account page
lists them and signs out any, a new sign-in starts a new one (and a new CSRF token),
deactivation ends them all, and pages of a signed-in person are never cached."""

import hashlib
import logging
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from flagpal_dash import browsers
from flagpal_dash.core import sessions
from flagpal_dash.extensions import db
from flagpal_dash.models import AuditEvent, User, UserSession, utcnow

from .support import HTMX, PASSWORD, add_user, issue_token, page, snapshot, text_of
from .test_api_token import bearer

FIREFOX_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
)
CHROME_ON_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SAFARI_ON_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)
START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def browser(app, user: User, user_agent: str = CHROME_ON_MAC, address: str = "192.0.2.10"):
    """A browser of its own (user agent, address), signed in through the real form."""
    client = app.test_client()
    client.environ_base.update(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=address)
    response = client.post("/sign-in", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.text
    return client


def is_signed_in(client) -> bool:
    response = client.get("/account")
    if response.status_code == 302:
        assert response.headers["Location"] == "/sign-in?next=/account"
        return False
    assert response.status_code == 200
    return True


def session_rows(response) -> list[dict]:
    """The Account page's sessions as a person reads them."""
    section = page(response).find(id="sessions")
    rows = []
    for row in section.select("tbody tr"):
        badge = row.th.select_one(".badge")
        rows.append(
            {
                "browser": text_of(row.th).removesuffix(" This browser"),
                "this browser": badge is not None and text_of(badge) == "This browser",
                "address": text_of(row.select_one('td[data-label="Address"]')),
                "last seen": text_of(row.select_one('td[data-label="Last seen"]')),
                "sign out": row.select_one("form button") is not None,
            }
        )
    return rows


def sign_out_action(response, browser_name: str) -> str:
    """Where the Sign out button of the session of ``browser_name`` posts."""
    for row in page(response).find(id="sessions").select("tbody tr"):
        if text_of(row.th).startswith(browser_name):
            return row.form["action"]
    raise AssertionError(f"no session of {browser_name}")


def sessions_of(user: User) -> list[UserSession]:
    db.session.expire_all()
    return list(db.session.scalars(select(UserSession).where(UserSession.user_id == user.id)))


def events(kind: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.kind == kind)))


# Sign-out ------------------------------------------------------------------------------


def test_a_cookie_copied_before_sign_out_is_refused_after(app, team):
    here = browser(app, team.owner)
    copied = here.get_cookie("session").value
    assert here.post("/sign-out").status_code == 302

    thief = app.test_client()
    thief.set_cookie("session", copied)
    response = thief.get("/projects/shop/tokens")
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in?next=/projects/shop/tokens"
    assert not is_signed_in(thief)
    assert sessions_of(team.owner) == [], "the session is gone from the server"
    assert events("account.session_ended") == [], "signing out is not audited"


def test_signing_in_again_starts_a_new_session(app, team):
    here = browser(app, team.owner)
    first = here.get_cookie("session").value
    here.post("/sign-out")
    here.post("/sign-in", data={"email": team.owner.email, "password": PASSWORD})
    assert is_signed_in(here)
    thief = app.test_client()
    thief.set_cookie("session", first)
    assert not is_signed_in(thief)
    cookie = here.get_cookie("session").value
    secret = app.session_interface.get_signing_serializer(app).loads(cookie)["_user_id"]
    [row] = sessions_of(team.owner)
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(snapshot()), "the database keeps its SHA-256, never the secret"


def test_a_csrf_token_from_before_sign_in_is_refused_after(csrf_client, team):
    shown = page(csrf_client.get("/sign-in"))
    before = shown.find("input", attrs={"name": "csrf_token"})["value"]
    response = csrf_client.post(
        "/sign-in", data={"email": team.owner.email, "password": PASSWORD, "csrf_token": before}
    )
    assert response.status_code == 302

    for headers, data in [({}, {"csrf_token": before}), (HTMX | {"X-CSRFToken": before}, {})]:
        refused = csrf_client.post(
            "/account/name", data={"name": "Mallory", **data}, headers=headers
        )
        assert refused.status_code == 400
        assert text_of(page(refused).select_one("[data-error-message]")).startswith(
            "This form has expired or did not come from this site"
        )
    db.session.expire_all()
    assert db.session.get(User, team.owner.id).name == "Olivia Owner"

    after = page(csrf_client.get("/account")).find("input", attrs={"name": "csrf_token"})["value"]
    assert after != before
    response = csrf_client.post("/account/name", data={"name": "Olivia O.", "csrf_token": after})
    assert response.status_code == 302, "the token of the new session works"


# The Account page's list --------------------------------------------------------------


def test_the_account_page_lists_where_you_are_signed_in(app, team):
    with time_machine.travel(START, tick=False):
        browser(app, team.owner, FIREFOX_ON_WINDOWS, "203.0.113.7")
        browser(app, team.developer, SAFARI_ON_IPHONE, "203.0.113.8")  # someone else's
    with time_machine.travel(START + timedelta(hours=3), tick=False):
        here = browser(app, team.owner, CHROME_ON_MAC, "192.0.2.10")
        response = here.get("/account")
    assert response.status_code == 200
    assert text_of(page(response).find(id="sessions-heading")) == "Signed-in sessions"
    assert session_rows(response) == [
        {
            "browser": "Chrome on macOS",
            "this browser": True,
            "address": "192.0.2.10",
            "last seen": "just now",
            "sign out": False,
        },
        {
            "browser": "Firefox on Windows",
            "this browser": False,
            "address": "203.0.113.7",
            "last seen": "3 hours ago",
            "sign out": True,
        },
    ]
    others = page(response).find("button", string="Sign out all other sessions")
    assert others.find_parent("form")["action"] == "/account/sessions/sign-out-others"
    for form in page(response).find(id="sessions").select("form"):
        assert form["method"] == "post" and form.find("input", attrs={"name": "csrf_token"})


def test_alone_there_is_nothing_else_to_sign_out(app, team):
    here = browser(app, team.owner)
    response = here.get("/account")
    assert [row["this browser"] for row in session_rows(response)] == [True]
    assert page(response).find("button", string="Sign out all other sessions") is None
    response = here.post("/account/sessions/sign-out-others", headers=HTMX)
    assert response.status_code == 200
    message = "No other session was signed in; nothing changed."
    assert text_of(page(response).find(id="flash")) == message
    assert is_signed_in(here)
    assert events("account.other_sessions_ended") == [], "nothing to record"


def test_last_seen_and_address_are_written_at_most_once_a_minute(app, team):
    with time_machine.travel(START, tick=False):
        laptop = browser(app, team.owner, FIREFOX_ON_WINDOWS, "203.0.113.7")
    [row] = sessions_of(team.owner)
    with time_machine.travel(START + timedelta(seconds=50), tick=False):
        before = snapshot()
        assert (
            laptop.get("/account", environ_base={"REMOTE_ADDR": "203.0.113.99"}).status_code == 200
        )
        assert snapshot() == before, "no write within the minute"
    with time_machine.travel(START + timedelta(minutes=5), tick=False):
        assert laptop.get("/", environ_base={"REMOTE_ADDR": "198.51.100.4"}).status_code == 200
    [row] = sessions_of(team.owner)
    assert (row.created_at, row.last_seen_at, row.address) == (
        START,
        START + timedelta(minutes=5),
        "198.51.100.4",
    )
    assert row.user_agent == FIREFOX_ON_WINDOWS


def test_a_page_is_served_when_last_seen_cannot_be_saved(app, team, monkeypatch, caplog):
    with time_machine.travel(START, tick=False):
        laptop = browser(app, team.owner)

    def refuse(*args):
        raise OperationalError("UPDATE user_sessions", {}, Exception("database or disk is full"))

    monkeypatch.setattr(sessions, "mark_seen", refuse)
    with time_machine.travel(START + timedelta(minutes=5), tick=False):
        assert laptop.get("/account").status_code == 200
    [row] = sessions_of(team.owner)
    assert row.last_seen_at == START
    [warning] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warning.getMessage() == (
        f"Could not record when session {row.id} was last seen: database or disk is full"
    )
    assert not warning.exc_info


def test_a_session_idle_for_31_days_is_refused_then_pruned(app, team):
    with time_machine.travel(START, tick=False):
        idle = browser(app, team.owner, FIREFOX_ON_WINDOWS)
    with time_machine.travel(START + timedelta(days=30), tick=False):
        assert is_signed_in(idle), "30 days idle: still signed in"
    with time_machine.travel(START + timedelta(days=61, seconds=1), tick=False):
        assert not is_signed_in(idle)
        assert len(sessions_of(team.owner)) == 1, "refused, until someone signs in"
        browser(app, team.developer)
        assert sessions_of(team.owner) == [], "pruned"


# Signing sessions out from the Account page -------------------------------------------


@pytest.mark.parametrize("htmx", [False, True], ids=["plain form", "htmx"])
def test_another_browsers_session_signed_out_from_the_account_page_stops_working(app, team, htmx):
    laptop = browser(app, team.owner, FIREFOX_ON_WINDOWS, "203.0.113.7")
    colleague = browser(app, team.developer, FIREFOX_ON_WINDOWS)
    here = browser(app, team.owner, CHROME_ON_MAC)
    action = sign_out_action(here.get("/account"), "Firefox on Windows")

    response = here.post(action, headers=HTMX if htmx else {})

    if htmx:
        assert response.status_code == 200
        assert page(response).find("html") is None, "a fragment"
        assert [row["browser"] for row in session_rows(response)] == ["Chrome on macOS"]
        assert text_of(page(response).find(id="flash")) == "Signed out Firefox on Windows."
        assert page(response).find(id="flash")["hx-swap-oob"] == "true"
    else:
        assert response.status_code == 302
        assert response.headers["Location"] == "/account#sessions-heading"
        after = here.get("/account")
        assert text_of(page(after).find(id="flash")) == "Signed out Firefox on Windows."
        assert [row["browser"] for row in session_rows(after)] == ["Chrome on macOS"]
    assert not is_signed_in(laptop)
    assert is_signed_in(here), "this browser stays signed in"
    assert is_signed_in(colleague), "other people's sessions are untouched"
    [event] = events("account.session_ended")
    assert event.actor == event.target == "Olivia Owner <olivia@example.com>"
    assert event.details == {"browser": "Firefox on Windows", "last_address": "203.0.113.7"}


def test_a_session_that_is_not_yours_is_not_found(app, team):
    colleague = browser(app, team.developer)
    [theirs] = sessions_of(team.developer)
    here = browser(app, team.owner)
    before = snapshot()
    for path in [f"/account/sessions/{theirs.id}/sign-out", "/account/sessions/999/sign-out"]:
        response = here.post(path)
        assert response.status_code == 404
        assert text_of(page(response).h1) == "Page not found"
    assert snapshot() == before
    assert is_signed_in(colleague)


@pytest.mark.parametrize("htmx", [False, True], ids=["plain form", "htmx"])
def test_sign_out_all_other_sessions_keeps_this_one(app, team, htmx):
    laptop = browser(app, team.owner, FIREFOX_ON_WINDOWS)
    phone = browser(app, team.owner, SAFARI_ON_IPHONE)
    colleague = browser(app, team.developer)
    here = browser(app, team.owner, CHROME_ON_MAC)

    response = here.post("/account/sessions/sign-out-others", headers=HTMX if htmx else {})

    message = "Signed out 2 other sessions. This browser stays signed in."
    shown = response if htmx else here.get(response.headers["Location"])
    assert response.status_code == (200 if htmx else 302)
    assert text_of(page(shown).find(id="flash")) == message
    assert [row["browser"] for row in session_rows(shown)] == ["Chrome on macOS"]
    assert not is_signed_in(laptop) and not is_signed_in(phone)
    assert is_signed_in(here)
    assert is_signed_in(colleague)
    [event] = events("account.other_sessions_ended")
    assert (event.actor, event.details) == ("Olivia Owner <olivia@example.com>", {"ended": 2})


def test_signing_out_this_browser_from_the_list_is_signing_out(app, team):
    here = browser(app, team.owner)
    [mine] = sessions_of(team.owner)
    response = here.post(f"/account/sessions/{mine.id}/sign-out")
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in"
    assert not is_signed_in(here)


def test_a_password_change_ends_the_other_sessions_on_the_server(app, team):
    laptop = browser(app, team.owner, FIREFOX_ON_WINDOWS)
    here = browser(app, team.owner, CHROME_ON_MAC)
    new = "a brand new passphrase"
    response = here.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": new, "confirm_password": new},
    )
    assert response.status_code == 302
    assert not is_signed_in(laptop)
    assert [row.user_agent for row in sessions_of(team.owner)] == [CHROME_ON_MAC]


# Deactivation ---------------------------------------------------------------------------


def test_deactivating_an_account_ends_its_sessions(app, team):
    admin = add_user("ada@example.com", "Ada Admin", admin=True)
    db.session.commit()
    dana = browser(app, team.developer, FIREFOX_ON_WINDOWS)
    dana_phone = browser(app, team.developer, SAFARI_ON_IPHONE)
    ada = browser(app, admin)
    assert ada.post(f"/admin/users/{team.developer.id}/deactivate").status_code == 302
    assert sessions_of(team.developer) == []
    assert not is_signed_in(dana) and not is_signed_in(dana_phone)
    assert ada.post(f"/admin/users/{team.developer.id}/reactivate").status_code == 302
    assert not is_signed_in(dana), "a session from before stays ended"
    assert is_signed_in(ada)


# Cache-Control ----------------------------------------------------------------------


def test_every_response_to_a_signed_in_person_is_private_and_not_stored(app, team):
    token, value = issue_token(team.project, "Shop backend")
    here = browser(app, team.owner)
    responses = {
        "projects page": (200, here.get("/")),
        "tokens page": (200, here.get("/projects/shop/tokens")),
        "account page": (200, here.get("/account")),
        "fragment": (200, here.get("/projects/shop/tokens/new", headers=HTMX)),
        "form with errors": (422, here.post("/account/name", data={"name": ""})),
        "redirect": (302, here.post("/account/name", data={"name": "Olivia O."})),
        "another project's 404": (404, here.get("/projects/other/tokens")),
        "404 of no page": (404, here.get("/no/such/page")),
        "405": (405, here.get("/sign-out")),
    }
    viewer = browser(app, team.viewer)
    responses["403"] = (403, viewer.get("/projects/shop/tokens/new"))
    for name, (status, response) in responses.items():
        assert response.status_code == status, name
        assert response.headers.getlist("Cache-Control") == ["private, no-store"], name

    anonymous = app.test_client()
    assert "private" not in anonymous.get("/sign-in").headers.get("Cache-Control", "")
    for path in ["/api/v1/token", "/api/v1/auth/read"]:
        api = anonymous.get(path, headers=bearer(value))
        assert api.status_code in (200, 204)
        assert "Cache-Control" not in api.headers, path


# Browsers in plain words ---------------------------------------------------------------


@pytest.mark.parametrize(
    "user_agent, described",
    [
        (FIREFOX_ON_WINDOWS, "Firefox on Windows"),
        (CHROME_ON_MAC, "Chrome on macOS"),
        (SAFARI_ON_IPHONE, "Safari on iPhone"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.6778.81 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Firefox on Linux",
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
            "Chrome on iPad",
        ),
        ("curl/8.5.0", "curl"),
        ("", "Unknown browser"),
        ("Mozilla/5.0", "Unknown browser"),
    ],
)
def test_a_user_agent_in_plain_words(user_agent, described):
    assert browsers.describe(user_agent) == described


def test_the_session_rules_work_without_a_request(app, team):
    """Signing in, finding, listing and ending, with the clock as an argument."""
    first, secret = sessions.start(
        team.owner, user_agent="Firefox/1\x00", address="203.0.113.7", now=START
    )
    db.session.commit()
    assert first.user_agent == "Firefox/1", "no control characters stored"
    assert sessions.find(secret, START + timedelta(days=1)).user == team.owner
    assert sessions.find(secret + "x", START) is None
    assert sessions.find(secret, START + sessions.IDLE_LIMIT) is None
    assert [s.id for s in sessions.of(team.owner, START)] == [first.id]
    assert sessions.of(team.owner, utcnow()) == [], "idle too long by now"
    assert sessions.end_all(team.owner) == 1
    db.session.commit()
    assert sessions.find(secret, START) is None
