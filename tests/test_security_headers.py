"""Security headers on every kind of response, a Content-Security-Policy the pages keep,
htmx configured for it, and no-store on every page that shows a secret."""

import json
import re
import timeit

import pytest

from flagpal_dash import security
from flagpal_dash.extensions import db

from .conftest import make_app
from .support import HTMX, PASSWORD, issue_token, page
from .test_api_token import bearer

EXPECTED = {
    "Content-Security-Policy": security.CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
TOKEN_VALUE = re.compile(r"flagpal_[0-9A-Za-z]{46}")
INVITATION_LINK = re.compile(r"/invitations/[A-Za-z0-9_-]{20,}")


def assert_security_headers(response, name: str = "") -> None:
    for header, value in EXPECTED.items():
        assert response.headers.getlist(header) == [value], f"{name}: {header}"
    assert "Strict-Transport-Security" not in response.headers, f"{name}: HSTS over http"


def test_every_kind_of_response_has_the_headers(app, client, team, sign_in):
    token, value = issue_token(team.project, "Shop backend")
    anonymous = app.test_client()
    responses = {
        "sign-in page": (200, anonymous.get("/sign-in")),
        "static file": (200, anonymous.get("/static/app.css")),
        "not found page": (404, anonymous.get("/no/such/page")),
        "405 page": (405, anonymous.put("/sign-in")),
        "API 200": (200, anonymous.get("/api/v1/token", headers=bearer(value))),
        "API 401": (401, anonymous.get("/api/v1/token")),
        "API 404": (404, anonymous.get("/api/v1/nothing")),
        "forward-auth 204": (
            204,
            anonymous.get("/api/v1/auth/read", headers=bearer(value)),
        ),
        "health check": (200, anonymous.get("/healthz")),
        "readiness check": (200, anonymous.get("/readyz")),
    }
    sign_in(team.owner)
    responses["page"] = (200, client.get("/projects/shop/tokens"))
    responses["fragment"] = (200, client.get("/projects/shop/tokens/new", headers=HTMX))
    responses["redirect"] = (302, client.post(f"/projects/shop/tokens/{token.id}/revoke"))
    viewer = app.test_client()
    viewer.post("/sign-in", data={"email": team.viewer.email, "password": PASSWORD})
    responses["403 page"] = (403, viewer.get("/projects/shop/tokens/new"))
    for name, (status, response) in responses.items():
        response.close()  # (the static file's)
        assert response.status_code == status, name
        assert_security_headers(response, name)


def test_429_and_500_answers_have_the_headers(database_url, migrated, team):
    limited = make_app(database_url, SIGN_IN_LIMIT="1 per 5 minutes")

    @limited.get("/boom")
    def boom():
        raise RuntimeError("a bug")

    visitor = limited.test_client()
    address = {"REMOTE_ADDR": "192.0.2.201"}
    wrong = {"email": "nobody-headers@example.com", "password": "wrong"}
    assert visitor.post("/sign-in", data=wrong, environ_base=address).status_code == 422
    too_many = visitor.post("/sign-in", data=wrong, environ_base=address)
    assert too_many.status_code == 429
    assert_security_headers(too_many, "429")
    broken = visitor.get("/boom")
    assert broken.status_code == 500
    assert_security_headers(broken, "500")
    with limited.app_context():
        db.engine.dispose()


def test_the_policy_allows_no_inline_code_and_no_framing():
    directives = dict(
        directive.strip().split(" ", 1) for directive in security.CONTENT_SECURITY_POLICY.split(";")
    )
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    for unsafe in ("'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:"):
        assert unsafe not in security.CONTENT_SECURITY_POLICY.split()


def test_htmx_is_configured_to_add_no_inline_style_or_script(client):
    response = client.get("/sign-in")
    assert response.status_code == 200
    config = json.loads(page(response).find("meta", attrs={"name": "htmx-config"})["content"])
    assert config["includeIndicatorStyles"] is False
    assert config["allowEval"] is False
    assert config["allowScriptTags"] is False


def test_hsts_and_secure_cookies_only_when_served_over_https(database_url, migrated, team):
    plain = make_app(database_url).test_client()
    response = plain.post("/sign-in", data={"email": team.owner.email, "password": PASSWORD})
    assert response.status_code == 302
    assert "Strict-Transport-Security" not in response.headers
    assert "secure" not in response.headers["Set-Cookie"].lower()

    secure_app = make_app(database_url, SECURE_COOKIES=True)
    secure = secure_app.test_client()
    response = secure.post(
        "/sign-in",
        data={"email": team.owner.email, "password": PASSWORD},
        base_url="https://localhost",
    )
    assert response.status_code == 302
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    cookies = response.headers.getlist("Set-Cookie")
    assert cookies and all("; Secure" in cookie for cookie in cookies), cookies
    assert secure_app.config["REMEMBER_COOKIE_SECURE"] is True
    for each in (plain.application, secure_app):
        with each.app_context():
            db.engine.dispose()


def test_an_https_form_post_passes_csrf_with_the_origin_as_referrer(csrf_client, team):
    """strict-origin, not no-referrer: Flask-WTF refuses an https post without a referrer
    of this site, and the origin alone is enough."""
    https = {"base_url": "https://localhost"}
    form = page(csrf_client.get("/sign-in", **https))
    data = {
        "csrf_token": form.find("input", attrs={"name": "csrf_token"})["value"],
        "email": team.owner.email,
        "password": PASSWORD,
    }
    refused = csrf_client.post("/sign-in", data=data, **https)
    assert refused.status_code == 400, "no referrer at all is refused on https"
    signed_in = csrf_client.post(
        "/sign-in", data=data, headers={"Referer": "https://localhost/"}, **https
    )
    assert signed_in.status_code == 302


def test_every_response_showing_a_secret_is_not_stored(app, client, team, sign_in):
    token, _ = issue_token(team.project, "Existing")
    sign_in(team.owner)
    responses = {}
    for via, headers in [("page", {}), ("htmx", HTMX)]:
        responses[f"create ({via})"] = client.post(
            "/projects/shop/tokens",
            data={"name": f"New {via}", "abilities": ["read"], "expiration": "30"},
            headers=headers,
        )
        rotated = issue_token(team.project, f"To rotate {via}")[0]
        responses[f"rotate ({via})"] = client.post(
            f"/projects/shop/tokens/{rotated.id}/rotate",
            data={"grace": "24h", "expiration": "30"},
            headers=headers,
        )
        responses[f"invite ({via})"] = client.post(
            "/projects/shop/invitations",
            data={"email": f"new-{via}@example.com", "role": "viewer"},
            headers=headers,
        )
    link = INVITATION_LINK.search(responses["invite (page)"].text).group()
    responses["invitation page"] = app.test_client().get(link)
    responses["setup page"] = app.test_client().get("/setup/" + "x" * 32)
    for path in [
        "/projects/shop",
        "/projects/shop/tokens",
        f"/projects/shop/tokens/{token.id}/revoke",
        f"/projects/shop/tokens/{token.id}/rotate",
        "/projects/shop/members",
        "/projects/shop/audit",
    ]:
        responses[path] = client.get(path)

    showing_secrets = set()
    for name, response in responses.items():
        assert response.status_code < 500, name
        if TOKEN_VALUE.search(response.text) or INVITATION_LINK.search(response.text):
            showing_secrets.add(name)
        if name in showing_secrets or name in ("invitation page", "setup page"):
            assert response.headers["Cache-Control"] == "no-store", name
    assert {
        f"{action} ({via})"
        for action in ("create", "rotate", "invite")
        for via in (
            "page",
            "htmx",
        )
    } <= showing_secrets, "the sweep saw every reveal"


def test_adding_the_headers_costs_well_under_a_microsecond():
    """The token API is the hot path: a request only extends its header list."""

    def bare_app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    wrapped = security.SecurityHeaders(bare_app, security.HEADERS)

    def respond(wsgi_app) -> None:
        wsgi_app({}, lambda status, headers, exc_info=None: None)

    rounds = 20_000
    bare = min(timeit.repeat(lambda: respond(bare_app), number=rounds, repeat=7))
    with_headers = min(timeit.repeat(lambda: respond(wrapped), number=rounds, repeat=7))
    per_request = (with_headers - bare) / rounds
    # ~0.3 µs here; an after_request hook with response.headers.extend costs ~5 µs.
    assert per_request < 2e-6, f"{per_request * 1e6:.2f} µs per request"


@pytest.mark.parametrize("endpoint", sorted(security.SECRET_ADDRESS_ENDPOINTS))
def test_pages_at_secret_addresses_exist(app, endpoint):
    assert endpoint in app.view_functions
