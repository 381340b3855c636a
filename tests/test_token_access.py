"""The role matrix over every token route: who may look, who may change, who gets 404."""

from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy import event, func, select

from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken

from .support import issue_token, page, text_of

ALLOWED, CREATED, REDIRECT, FORBIDDEN, NOT_FOUND = 200, 201, 302, 403, 404

ROUTES = {
    # name: (method, path, data)
    "project": ("get", "/projects/shop", None),
    "list": ("get", "/projects/shop/tokens", None),
    "new": ("get", "/projects/shop/tokens/new", None),
    "create": (
        "post",
        "/projects/shop/tokens",
        {"name": "New", "abilities": ["read"], "expiration": "never"},
    ),
    "confirm revoke": ("get", "/projects/shop/tokens/{id}/revoke", None),
    "revoke": ("post", "/projects/shop/tokens/{id}/revoke", None),
}

MANAGER = {
    "project": ALLOWED,
    "list": ALLOWED,
    "new": ALLOWED,
    "create": CREATED,
    "confirm revoke": ALLOWED,
    "revoke": REDIRECT,  # back to the list
}
EXPECTED = {
    "anonymous": dict.fromkeys(ROUTES, REDIRECT),  # to sign in
    "outsider": dict.fromkeys(ROUTES, NOT_FOUND),
    "viewer": {"project": ALLOWED, "list": ALLOWED}
    | dict.fromkeys(["new", "create", "confirm revoke", "revoke"], FORBIDDEN),
    "developer": MANAGER,
    "owner": MANAGER,
}

# What an allowed request changes: (tokens, revoked tokens).
CHANGES = {"create": (1, 0), "revoke": (0, 1)}


def token_state():
    return db.session.execute(
        select(func.count(ApiToken.id), func.count(ApiToken.revoked_at))
    ).one()


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("who", list(EXPECTED))
def test_role_matrix(client, team, sign_in, who, route):
    token, _ = issue_token(team.project, "Existing")
    if who != "anonymous":
        sign_in(team.member(who))
    method, path, data = ROUTES[route]
    before = token_state()

    response = getattr(client, method)(path.format(id=token.id), data=data)

    assert response.status_code == EXPECTED[who][route]
    if who == "anonymous":
        assert response.headers["Location"].startswith("/sign-in?next=")
    if route in CHANGES:
        db.session.expire_all()
        allowed = who in ("developer", "owner")
        change = CHANGES[route] if allowed else (0, 0)
        assert token_state() == (before[0] + change[0], before[1] + change[1])


def test_outsiders_cannot_tell_a_project_exists(client, team, sign_in):
    sign_in(team.outsider)
    # One instant for both pages: each embeds a CSRF token stamped to the second.
    with time_machine.travel(datetime.now(UTC), tick=False):
        existing = client.get("/projects/shop/tokens")
        missing = client.get("/projects/no-such-project/tokens")
    assert existing.status_code == missing.status_code == 404
    assert existing.text == missing.text


@pytest.fixture
def statements(app):
    """Every SQL statement the app sends through SQLAlchemy."""
    seen: list[str] = []

    def note(_connection, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    yield seen
    event.remove(db.engine, "before_cursor_execute", note)


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_project_you_are_not_in_costs_the_same_queries_as_one_that_does_not_exist(
    client, team, sign_in, statements, method
):
    """The timing of a 404 must not tell whether the project exists: both answers send the
    same SQL (a POST holds the project only once the membership is found)."""
    sign_in(team.outsider)
    sent = {}
    for slug in ["shop", "no-such-project"]:
        path = f"/projects/{slug}/tokens"
        getattr(client, method)(path)  # anything a first request does once
        statements.clear()
        response = getattr(client, method)(path, data={"name": "Probe", "abilities": ["read"]})
        assert response.status_code == 404
        sent[slug] = list(statements)
    assert sent["shop"] == sent["no-such-project"]


def test_a_slug_with_a_nul_character_is_no_project(client, team, sign_in):
    """Found while fuzzing: PostgreSQL refused to compare it (a 500)."""
    sign_in(team.owner)
    assert client.get("/projects/sh%00op/tokens").status_code == 404
    assert client.post("/projects/sh%00op/tokens", data={}).status_code == 404


def test_viewers_are_told_why_they_cannot_change_tokens(client, team, sign_in):
    sign_in(team.viewer)
    response = client.post("/projects/shop/tokens", data=ROUTES["create"][2])
    assert response.status_code == 403
    message = text_of(page(response).find(attrs={"data-error-message": True}))
    assert message == (
        "Your role in Shop is Viewer. Only developers or owners can create, rotate and "
        "revoke tokens. Nothing was changed. If you need to, ask the owner of Shop for "
        "another role: Olivia Owner."
    )
