"""CSRF sweep: every route of the URL map with a method that changes state (POST, PUT,
PATCH, DELETE), sent as the person most entitled to use it with CSRF protection on as in
production, refuses a request without this session's CSRF token (none, a made-up one,
another session's) with a clear 400 page, as a plain form and as htmx, and changes
nothing. The same request with the session's token then does its work, so the refusals
are not from a request that was broken anyway. Only the APIs that take bearer tokens
(the token API, the management API) are exempt, each route with its reason.

The routes come from the URL map as in test_route_matrix.py, whose table (``ROUTES``) says
who may use each one and how to see that it did its work.
"""

import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from flagpal_dash.core import personal_tokens
from flagpal_dash.core.password_resets import create_reset
from flagpal_dash.extensions import csrf, db
from flagpal_dash.models import ApiToken, Membership, PasswordReset, User, utcnow

from .support import HTMX, PASSWORD, issue_token, page, setup_code, snapshot, text_of
from .test_route_matrix import (
    IGNORED_METHODS,
    NEW_ACCOUNT,
    ROUTES,
    count,
    make_targets,
    person,
    revoked_tokens,
)

NEW_PASSWORD = "a password from a reset link"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The routes CSRF protection does not guard, and why. Nothing else may be added here
# without a reason as good: a new exempt route fails test_only_the_bearer_apis_are_exempt.
EXEMPT = {
    ("api.revoke_leaked_tokens", "POST"): "the token API: secret scanners post JSON "
    "reports with no session and no form; a report only revokes the tokens it names",
    ("api.rotate_token", "POST"): "the token API: an app or CI job rotates its own token "
    "with the token as a bearer header, which a browser never adds by itself; a session "
    "cookie is not read (401 without the header)",
    **dict.fromkeys(
        [
            ("management.create_token", "POST"),
            ("management.revoke_token", "DELETE"),
            ("management.rotate_token", "POST"),
        ],
        "the management API: a person's script sends their personal access token as a "
        "bearer header, which a browser never adds by itself; no cookie is read (a "
        "signed-in browser alone gets 401, test_route_matrix.py), so a forged cross-site "
        "request carries nothing it accepts",
    ),
}
# Blueprints exempt as a whole, and why: their state-changing routes join EXEMPT above.
EXEMPT_BLUEPRINTS = {
    "api": "the token API: bearer tokens only, never a cookie",
    "management": "the management API: personal access tokens in the Authorization "
    "header only, no cookie is read (a signed-in browser alone gets 401, "
    "test_route_matrix.py), so a forged cross-site request carries nothing it accepts",
}
# GET routes that may change state, which CSRF protection (it reads no GET) leaves to
# something else, and what. A new one fails test_state_changing_gets_say_what_guards_them.
STATE_CHANGING_GETS = {
    ("sso.start", "GET"): "only puts a fresh state, nonce and PKCE verifier in this "
    "browser's own session and sends it to the provider: a forged request signs nobody in",
    ("sso.callback", "GET"): "the OpenID Connect provider sends the browser back with a "
    "GET it makes, carrying no form token; its `state` is the CSRF protection: it must "
    "be one this browser's session holds from sso.start, and is used once "
    "(test_sso.py: a tampered state, another browser's answer, a replayed code)",
}
# Who sends each request: the first of these whom the matrix allows to use the route.
MOST_ENTITLED = ["owner", "admin", "developer", "viewer", "other_owner", "anonymous"]
REFUSAL = "This form has expired or did not come from this site, so nothing was changed."
# What htmx gets where it differs from a plain form post: the changed row, not a redirect.
HTMX_STATUS = {
    ("tokens.revoke_token", "POST"): 200,
    ("members.change_role", "POST"): 200,
    ("members.remove_member", "POST"): 200,
    ("account.end_session", "POST"): 200,
    ("account.end_other_sessions", "POST"): 200,
}

SWEPT = sorted(pair for pair in ROUTES if pair[1] in STATE_CHANGING)
GUARDED = [pair for pair in SWEPT if pair not in EXEMPT]


def test_the_sweep_covers_every_state_changing_route(app):
    in_url_map = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods & STATE_CHANGING
    }
    assert in_url_map == set(SWEPT)
    assert STATE_CHANGING.isdisjoint(IGNORED_METHODS)


def is_exempt(app: Flask, endpoint: str) -> bool:
    """Whether Flask-WTF skips the CSRF check for ``endpoint`` (by its own rule, in
    ``CSRFProtect._is_exempt``: the view or its blueprint was marked ``csrf.exempt``)."""
    view = app.view_functions[endpoint]
    blueprint = app.blueprints.get(endpoint.rpartition(".")[0])
    return (
        blueprint in csrf._exempt_blueprints
        or f"{view.__module__}.{view.__name__}" in csrf._exempt_views
    )


def test_only_the_bearer_apis_are_exempt(app):
    exempt = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods & STATE_CHANGING
        if is_exempt(app, rule.endpoint)
    }
    assert exempt == set(EXEMPT), "CSRF protection must guard every route but the bearer APIs'"


def test_state_changing_gets_say_what_guards_them(app):
    """The single sign-on door's steps are GETs; each says what guards it."""
    gets = {
        (rule.endpoint, "GET")
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("sso.")
    }
    assert gets == set(STATE_CHANGING_GETS)


def test_only_the_bearer_only_apis_are_exempt_as_a_whole(app):
    exempt = {
        name for name, blueprint in app.blueprints.items() if blueprint in csrf._exempt_blueprints
    }
    assert exempt == set(EXEMPT_BLUEPRINTS)


@dataclass
class Case:
    """One state-changing request: who sends it, where, with what, and how to see that
    it did its work."""

    who: str
    path: str
    data: dict | None
    body: object  # JSON
    state: object  # a callable
    status: int
    headers: dict | None = None


def case_for(request: pytest.FixtureRequest, endpoint: str, method: str) -> tuple[Case, object]:
    """The request the matrix allows for the route, sent by the most entitled person;
    the routes that the matrix shows refusing everyone get the one situation where
    they work: setup on a fresh install, an invitation or password reset link that is
    real, "Forgot your password?" and the admin's test mail with mail set up."""
    if (endpoint, method) == ("auth.setup", "POST"):
        case = Case(
            "anonymous",
            f"/setup/{setup_code()}",
            ROUTES[endpoint, method].data,
            None,
            lambda: count(User),
            302,
        )
        return case, None
    team = request.getfixturevalue("team")
    targets = make_targets(team)
    # The matrix's webhooks go to this machine, as the matrix's app allows (make_targets).
    request.getfixturevalue("csrf_client").application.config["WEBHOOK_ALLOW_PRIVATE"] = True
    if (endpoint, method) == ("invitations.accept", "POST"):
        path = f"/invitations/{targets['invitation_secret']}"
        return Case("anonymous", path, NEW_ACCOUNT, None, lambda: count(Membership), 302), None
    if (endpoint, method) == ("recovery.forgot_password", "POST"):
        # Only with mail set up.
        mail_server = request.getfixturevalue("mail_server")
        request.getfixturevalue("csrf_client").application.config.update(mail_server.settings())
        data = {"email": team.owner.email}
        return Case(
            "anonymous", "/forgot-password", data, None, lambda: count(PasswordReset), 302
        ), None
    if (endpoint, method) == ("admin.send_test_mail", "POST"):
        # Only with mail set up; what it does is a mail arriving.
        mail_server = request.getfixturevalue("mail_server")
        request.getfixturevalue("csrf_client").application.config.update(mail_server.settings())
        case = Case("admin", "/admin/mail/test", None, None, lambda: len(mail_server.messages), 303)
        return case, person("admin", team, targets)
    if (endpoint, method) == ("recovery.reset_password", "POST"):
        _, secret = create_reset(team.owner, by=None, now=utcnow(), how="test")
        db.session.commit()
        data = {"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}

        def password_hash():
            return db.session.scalar(select(User.password_hash).where(User.id == team.owner.id))

        return Case("anonymous", f"/password-reset/{secret}", data, None, password_hash, 302), None
    if (endpoint, method) == ("api.rotate_token", "POST"):
        # Only with its bearer token (the matrix shows a session alone refused).
        _, value = issue_token(team.project, "Rotates itself", abilities=frozenset({"rotate"}))
        body = {"data": {"type": "api-tokens", "attributes": {"grace": "1h"}}}
        headers = {"Authorization": f"Bearer {value}"}
        case = Case(
            "owner", "/api/v1/token/rotate", None, body, lambda: count(ApiToken), 201, headers
        )
        return case, person("owner", team, targets)
    if endpoint.startswith("management."):
        # Only with the person's personal token (the matrix shows a session alone refused).
        _, value = personal_tokens.issue(
            team.developer, "Sweep", utcnow() + timedelta(days=1), now=utcnow()
        )
        db.session.commit()
        headers = {"Authorization": f"Bearer {value}"}
        path = ROUTES[endpoint, method].path.format(**targets)
        if method == "DELETE":
            case = Case("developer", path, None, None, revoked_tokens, 200, headers)
        else:
            body = ROUTES[endpoint, method].json(targets)
            case = Case("developer", path, None, body, lambda: count(ApiToken), 201, headers)
        return case, person("developer", team, targets)
    route = ROUTES[endpoint, method]
    who = next(who for who in MOST_ENTITLED if who in route.allowed)
    case = Case(
        who,
        route.path.format(**targets),
        route.form(targets),
        route.json(targets) if route.json else None,
        route.state or (lambda: None),
        route.allowed[who],
    )
    return case, None if who == "anonymous" else person(who, team, targets)


def sign_in_with_csrf(client, user: User) -> None:
    form = page(client.get("/sign-in")).find("input", attrs={"name": "csrf_token"})
    response = client.post(
        "/sign-in", data={"email": user.email, "password": PASSWORD, "csrf_token": form["value"]}
    )
    assert response.status_code == 302, response.text[:500]


def tokens_of(client) -> tuple[str, str]:
    """The session's CSRF token as a page carries it: in its forms' hidden field, and in
    the ``hx-headers`` htmx sends with every request."""
    response = client.get("/sign-in")
    if response.status_code == 302:  # signed in
        response = client.get("/account")
    html = page(response)
    field = html.find("input", attrs={"name": "csrf_token"})["value"]
    header = json.loads(html.body["hx-headers"])["X-CSRFToken"]
    return field, header


def is_signed_in(client) -> bool:
    return client.get("/account").status_code == 200


def send(client, case: Case, method: str, transport: str, token: str | None):
    """The request as a form posts it (the token in its hidden field) or as htmx does
    (the token in the X-CSRFToken header); ``None``: without a token."""
    if case.body is not None or case.headers:  # JSON or a bearer: no form to carry a field
        return client.open(case.path, method=method, json=case.body, headers=case.headers)
    if transport == "form":
        data = (case.data or {}) | ({"csrf_token": token} if token else {})
        return client.open(case.path, method=method, data=data)
    headers = HTMX | ({"X-CSRFToken": token} if token else {})
    return client.open(case.path, method=method, data=case.data, headers=headers)


@pytest.mark.parametrize("transport", ["form", "htmx"])
@pytest.mark.parametrize(("endpoint", "method"), GUARDED)
def test_a_change_needs_this_sessions_csrf_token(
    request, app, csrf_client, endpoint, method, transport
):
    client = csrf_client
    case, user = case_for(request, endpoint, method)
    if user is not None:
        sign_in_with_csrf(client, user)
    field, header = tokens_of(client)
    valid = field if transport == "form" else header
    another_session = tokens_of(client.application.test_client())[0]
    assert another_session != valid

    def effect():
        db.session.expire_all()
        return case.state(), is_signed_in(client)

    before, rows_before = effect(), snapshot()
    for attempt, token in [
        ("no token", None),
        ("a made-up token", "IjVmYjA4NWQ2MDBhYmQ1ZjE5YjM3NTlhYWY5NDI0In0.forged"),
        ("another session's token", another_session),
    ]:
        response = send(client, case, method, transport, token)
        assert response.status_code == 400, (attempt, response.text[:500])
        message = text_of(page(response).find(attrs={"data-error-message": True}))
        assert message.startswith(REFUSAL), attempt
        assert snapshot() == rows_before, f"{attempt}: nothing changed"
    assert effect() == before, "the session is as it was (still signed in, or still not)"

    response = send(client, case, method, transport, valid)

    status = (
        HTMX_STATUS.get((endpoint, method), case.status) if transport == "htmx" else case.status
    )
    assert response.status_code == status, response.text[:500]
    assert effect() != before, "with the session's token, the request did its work"


@pytest.mark.parametrize(("endpoint", "method"), list(EXEMPT))
def test_the_bearer_apis_work_without_a_csrf_token(request, csrf_client, endpoint, method):
    """Even from a browser that holds a signed-in session's cookie."""
    case, user = case_for(request, endpoint, method)
    sign_in_with_csrf(csrf_client, user)
    before = case.state()

    response = send(csrf_client, case, method, "form", None)

    assert response.status_code == case.status, response.text[:500]
    db.session.expire_all()
    assert case.state() != before
