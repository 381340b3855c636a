"""Single sign-on's refusals (issue 19): a tampered state, another browser's answer,
a replayed code, ID tokens that fail a check (audience, issuer, nonce, expiry,
signature), cancelling, provider errors, an unreachable provider. Each is a page that
says what to do, signs nobody in, and is in the audit log.
"""

import logging
from urllib.parse import urlsplit

import pytest
import requests

from flagpal_dash import redaction
from flagpal_dash.extensions import db
from flagpal_dash.models import User

from .oidc_provider import (
    ADA,
    EXPIRED,
    IssuingProvider,
    MockProvider,
    callback_path,
    is_signed_in,
    query_of,
    refusal,
    refusals,
    sso_sign_in,
    start,
)
from .support import PASSWORD, add_user, snapshot

# Refusals of the protocol: each a page saying what to do, nobody signed in, audited.


def test_a_tampered_state_is_refused(sso, provider):
    provider.add_user("ada-1", **ADA)
    back = provider.approve(start(sso), "ada-1")
    parts = urlsplit(back)
    forged = parts.query.replace("state=", "state=x")

    response = sso.get(f"{parts.path}?{forged}")

    assert response.status_code == 400
    assert refusal(response)[0] == "This sign-in did not start here"
    assert not is_signed_in(sso)
    assert User.by_email("ada@example.com") is None
    assert [r["reason"] for r in refusals()] == [
        "the sign-in did not start in this browser (state mismatch)"
    ]


def test_an_answer_for_another_browser_is_refused(sso, sso_apps, provider):
    """Login CSRF: an attacker's own code and state, sent to a victim's browser."""
    provider.add_user("mallory", email="mallory@example.com", email_verified=True)
    attacker = sso_apps(provider).test_client()
    back = provider.approve(start(attacker), "mallory")

    response = sso.get(callback_path(back))

    assert response.status_code == 400
    assert not is_signed_in(sso)


def test_a_replayed_code_is_refused(sso, sso_apps, provider):
    provider.add_user("ada-1", **ADA)
    back = provider.approve(start(sso), "ada-1")
    assert sso.get(callback_path(back)).status_code == 302
    assert sso.post("/sign-out").status_code == 302

    # The same answer again: its state was used up.
    replayed = sso.get(callback_path(back))
    assert replayed.status_code == 400
    assert refusal(replayed)[0] == "This sign-in did not start here"

    # The used code with a state this browser does hold: the provider refuses it.
    fresh_state = query_of(start(sso))["state"]
    code = query_of(back)["code"]
    response = sso.get(f"/sign-in/sso/callback?code={code}&state={fresh_state}")
    assert response.status_code == 400
    assert refusal(response)[0] == "Acme SSO's answer could not be trusted"
    assert not is_signed_in(sso)
    assert refusals()[-1]["reason"] == "the provider's ID token failed its checks"
    assert refusals()[-1]["error"] == "invalid_grant"


def test_an_expired_id_token_is_refused(sso_apps):
    provider = MockProvider(access_token_max_age=EXPIRED)
    try:
        provider.add_user("ada-1", **ADA)
        client = sso_apps(provider).test_client()
        response = sso_sign_in(client, provider, "ada-1")
    finally:
        provider.stop()

    assert response.status_code == 400
    assert refusal(response)[0] == "Acme SSO's answer could not be trusted"
    assert User.by_email("ada@example.com") is None
    assert refusals()[-1]["reason"] == "the provider's ID token failed its checks"


@pytest.fixture
def issuing():
    server = IssuingProvider(
        {"sub": "ada-1", "email": "ada@example.com", "email_verified": True, "name": "Ada"}
    )
    yield server
    server.stop()


def issued_sign_in(client):
    """The flow with the issuing provider, whose authorization page answers at once."""
    answer = requests.get(start(client), allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    return client.get(callback_path(answer.headers["Location"]))


def test_the_issuing_provider_signs_in_when_its_token_is_right(sso_apps, issuing):
    client = sso_apps(issuing).test_client()
    assert issued_sign_in(client).status_code == 302
    assert User.by_email("ada@example.com") is not None


@pytest.mark.parametrize(
    "flaw",
    ["wrong audience", "wrong issuer", "wrong nonce", "expired", "unpublished key"],
)
def test_an_id_token_that_fails_a_check_is_refused(sso_apps, issuing, flaw):
    match flaw:
        case "wrong audience":
            issuing.token_overrides = {"aud": "another-app"}
        case "wrong issuer":
            issuing.token_overrides = {"iss": "https://sso.example.net"}
        case "wrong nonce":
            issuing.token_overrides = {"nonce": "not the one sent"}
        case "expired":
            issuing.token_overrides = {"exp": 1_000_000_000, "iat": 999_999_000}
        case "unpublished key":
            issuing.sign_with_other_key = True
    client = sso_apps(issuing).test_client()

    response = issued_sign_in(client)

    assert response.status_code == 400
    assert refusal(response)[0] == "Acme SSO's answer could not be trusted"
    assert "Traceback" not in response.text
    assert User.by_email("ada@example.com") is None
    assert not is_signed_in(client)
    assert refusals()[-1]["reason"] == "the provider's ID token failed its checks"


def test_cancelling_at_the_provider_says_so(sso, provider):
    back = provider.cancel(start(sso))
    assert query_of(back)["error"] == "access_denied"

    response = sso.get(callback_path(back))

    assert response.status_code == 403
    assert refusal(response) == (
        "Sign-in cancelled",
        "Signing in with Acme SSO was cancelled, so you are not signed in. To sign in, "
        "start again.",
    )
    assert refusals()[-1]["reason"] == "cancelled at the provider"


def test_a_provider_error_shows_its_code_only(sso):
    response = sso.get("/sign-in/sso/callback?error=server_error&error_description=<b>x</b>")
    assert response.status_code == 502
    assert refusal(response)[1].startswith("Acme SSO answered with an error (server_error).")
    assert "<b>x</b>" not in response.text


def test_an_unreachable_provider_is_a_page_not_a_traceback(sso_apps):
    provider = MockProvider()
    provider.stop()
    client = sso_apps(provider, OIDC_NAME="Acme SSO").test_client()

    response = client.get("/sign-in/sso")

    assert response.status_code == 502
    title, message = refusal(response)
    assert title == "Acme SSO cannot be reached"
    assert (
        message
        == "FlagPal Dash could not reach Acme SSO to sign you in. Try again in a few minutes."
    )
    assert "Traceback" not in response.text
    assert refusals()[-1]["reason"] == "the provider could not be reached"


def test_a_discovery_document_naming_another_issuer_is_refused(sso_apps, issuing):
    """Its ID tokens would otherwise be checked against whatever issuer it names."""
    issuing.discovery_issuer = "https://sso.example.net"
    client = sso_apps(issuing).test_client()

    response = client.get("/sign-in/sso")

    assert response.status_code == 502
    assert refusal(response)[0] == "Acme SSO cannot be reached"
    assert refusals()[-1]["detail"] == "IssuerMismatch"


# Who may use the two steps with single sign-on set up (test_route_matrix.py has them
# without it): anyone may start and answer; a signed-in person is sent on; an answer
# this browser did not start changes nothing but the audit log.


@pytest.mark.parametrize("who", ["anonymous", "member", "admin"])
def test_the_two_steps_for_everyone(app, team, sso_apps, provider, who):
    add_user("root@example.com", "Root", admin=True)
    db.session.commit()
    client = sso_apps(provider).test_client()
    email = {"member": "vic@example.com", "admin": "root@example.com"}.get(who)
    if email:
        assert (
            client.post("/sign-in", data={"email": email, "password": PASSWORD}).status_code == 302
        )
    before = snapshot_without_audit()

    started = client.get("/sign-in/sso")
    answered = client.get("/sign-in/sso/callback?code=made-up&state=made-up")

    assert started.status_code == 302
    if email:
        assert started.headers["Location"] == "/"
    else:
        assert started.headers["Location"].startswith(f"{provider.issuer}/oauth2/authorize?")
    assert answered.status_code == 400
    assert snapshot_without_audit() == before
    assert refusals()[-1]["reason"] == (
        "the sign-in did not start in this browser (state mismatch)"
    )


def snapshot_without_audit() -> dict:
    rows = snapshot()
    del rows["audit_events"]
    # A session's last-seen time is bookkeeping, not a change.
    rows["user_sessions"] = [row[:3] for row in rows["user_sessions"]]
    return rows


@pytest.mark.parametrize(
    "line",
    [
        '127.0.0.1 - - "GET /sign-in/sso/callback?code=SECRETCODE123&state=abc HTTP/1.1" 302',
        '127.0.0.1 - - "GET /sign-in/sso/callback?state=abc&code=SECRETCODE123 HTTP/1.1" 302',
        "GET /sign-in/sso/callback?state=abc&code=SECRETCODE123&session_state=x",
    ],
)
def test_the_authorization_code_is_kept_out_of_logs(line):
    cleaned = redaction.redact(line)
    assert "SECRETCODE123" not in cleaned
    assert "code=[redacted]" in cleaned
    assert "state=abc" in cleaned


def test_the_callbacks_access_log_line_holds_no_real_code(sso, provider, caplog):
    """As the server logs the request (the record factory cleans every logger's)."""
    provider.add_user("ada-1", **ADA)
    back = provider.approve(start(sso), "ada-1")
    code = query_of(back)["code"]
    caplog.set_level("INFO")
    logging.getLogger("werkzeug").info('"GET %s HTTP/1.1" 302 -', callback_path(back))
    assert sso.get(callback_path(back)).status_code == 302
    assert code not in caplog.text
    assert "code=[redacted]" in caplog.text


def test_without_allowed_domains_only_invited_addresses_are_new(sso_apps, provider):
    provider.add_user("sam", email="sam@example.com", email_verified=True)
    client = sso_apps(provider, OIDC_ALLOWED_DOMAINS=()).test_client()

    response = sso_sign_in(client, provider, "sam")

    assert response.status_code == 403
    assert refusal(response) == (
        "You don't have an account here yet",
        "There is no account for sam@example.com here, and new accounts are made only for "
        "invited addresses. Ask an admin to invite you.",
    )


def test_no_email_address_from_the_provider_is_refused(sso, provider):
    provider.add_user("nameless", name="No Address")

    response = sso_sign_in(sso, provider, "nameless")

    assert response.status_code == 403
    assert refusal(response)[0] == "Acme SSO did not send your email address"
    assert refusals()[-1] == {
        "target": f"subject nameless at {provider.issuer}",
        "reason": "the provider sent no email address",
        "provider": provider.issuer,
    }
