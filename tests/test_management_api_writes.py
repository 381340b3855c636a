"""The management API's write routes (create, revoke, rotate a project token): each as
each kind of caller, every refusal a client can get with its sentence and pointer (the
pages' own sentences), what the audit log and webhooks say, and that a token's value
is in the one answer that makes it and nowhere else. SQLite and PostgreSQL."""

import logging
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import time_machine
from flask import current_app
from sqlalchemy import func, select

from flagpal_dash import token_format
from flagpal_dash.core import personal_tokens, tokens, webhooks
from flagpal_dash.deliverer import webhook_settings
from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, AuditEvent, WebhookDelivery, utcnow
from flagpal_dash.validation import MAX_LIFETIME_DAYS

from .support import issue_token, snapshot
from .test_management_api import MEDIA_TYPE, bearer, error_of, personal_token

SHOP = "/api/v1/projects/shop"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
WHO = ["owner", "developer", "viewer", "outsider"]
EXPECTED = {"owner": 201, "developer": 201, "viewer": 403, "outsider": 404}


def resource(**attributes) -> dict:
    return {"data": {"type": "api-tokens", "attributes": attributes}}


def create(client, value, body, **kwargs):
    return client.post(f"{SHOP}/tokens", headers=bearer(value), json=body, **kwargs)


def rotate(client, value, token_id, body=None):
    if body is None:
        return client.post(f"{SHOP}/tokens/{token_id}/rotate", headers=bearer(value))
    return client.post(f"{SHOP}/tokens/{token_id}/rotate", headers=bearer(value), json=body)


def revoke(client, value, token_id):
    return client.delete(f"{SHOP}/tokens/{token_id}", headers=bearer(value))


def token_count() -> int:
    return db.session.scalar(select(func.count()).select_from(ApiToken))


def events() -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def assert_shown_once(response, name: str) -> tuple[dict, str]:
    """A 201 with the new token and its value, never to be cached."""
    assert response.status_code == 201, response.text
    assert response.headers["Content-Type"] == MEDIA_TYPE
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    data, value = body["data"], body["meta"]["value"]
    assert token_format.is_well_formed(value)
    assert (data["type"], data["attributes"]["name"]) == ("api-tokens", name)
    assert response.headers["Location"] == data["links"]["self"] == body["links"]["self"]
    assert data["links"]["self"] == f"{SHOP}/tokens/{data['id']}"
    # Full details, as those who may make tokens see them; the hint, never the value.
    assert data["attributes"]["hint"] == token_format.display_hint(token_format.hint(value))
    assert value not in str(data)
    return data, value


# Each route as each caller -------------------------------------------------------------


@pytest.mark.parametrize("who", WHO)
def test_create_as_each_role(client, team, who):
    value = personal_token(team.member(who))
    before = snapshot()
    response = create(client, value, resource(name="CI", abilities=["read", "metrics"]))
    assert response.status_code == EXPECTED[who], response.text
    if response.status_code != 201:
        assert error_of(response)["code"] == {403: "forbidden", 404: "not_found"}[EXPECTED[who]]
        before["personal_tokens"] = snapshot()["personal_tokens"]  # its last use only
        assert snapshot() == before, "a refused request changes nothing"
        return
    data, token_value = assert_shown_once(response, "CI")
    attributes = data["attributes"]
    assert attributes["abilities"] == ["read", "metrics"]
    assert (attributes["status"], attributes["state"]) == ("active", "active")
    assert attributes["expires_at"] is None
    assert attributes["created_by"] == team.member(who).name
    # The value works on FlagPal's API, once given.
    described = client.get("/api/v1/token", headers=bearer(token_value))
    assert described.status_code == 200
    assert described.json["data"]["id"] == data["id"]


@pytest.mark.parametrize("who", WHO)
def test_revoke_as_each_role(client, team, who):
    token, token_value = issue_token(team.project, "Old")
    value = personal_token(team.member(who))
    before = snapshot()
    response = revoke(client, value, token.id)
    expected = {201: 200}.get(EXPECTED[who], EXPECTED[who])
    assert response.status_code == expected, response.text
    if expected != 200:
        before["personal_tokens"] = snapshot()["personal_tokens"]
        assert snapshot() == before
        assert client.get("/api/v1/token", headers=bearer(token_value)).status_code == 200
        return
    body = response.json
    assert body["meta"] == {"changed": True}
    attributes = body["data"]["attributes"]
    assert (attributes["status"], attributes["revoked_by"]) == ("revoked", team.member(who).name)
    # The row stays, and the very next request with the token fails.
    db.session.expire_all()
    assert db.session.get(ApiToken, token.id).revoked_at is not None
    refused = client.get("/api/v1/token", headers=bearer(token_value))
    assert (refused.status_code, error_of(refused)["code"]) == (401, "token_revoked")


@pytest.mark.parametrize("who", WHO)
def test_rotate_as_each_role(client, team, who):
    token, _ = issue_token(team.project, "Old")
    value = personal_token(team.member(who))
    before = snapshot()
    response = rotate(client, value, token.id, resource(grace="1h"))
    assert response.status_code == EXPECTED[who], response.text
    if EXPECTED[who] != 201:
        before["personal_tokens"] = snapshot()["personal_tokens"]
        assert snapshot() == before
        return
    data, _ = assert_shown_once(response, "Old")
    assert data["attributes"]["abilities"] == ["read"]
    db.session.expire_all()
    old = db.session.get(ApiToken, token.id)
    assert old.replaced_by_id == int(data["id"])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"{SHOP}/tokens"),
        ("DELETE", f"{SHOP}/tokens/{{token}}"),
        ("POST", f"{SHOP}/tokens/{{token}}/rotate"),
    ],
)
def test_no_token_or_a_project_token_is_401(client, team, method, path):
    token, project_value = issue_token(team.project, "Existing", abilities=frozenset({"*"}))
    path = path.format(token=token.id)
    before = snapshot()
    for headers, code in [
        ({}, "token_missing"),
        (bearer(project_value), "personal_token_required"),
    ]:
        response = client.open(path, method=method, headers=headers, json=resource(name="X"))
        assert response.status_code == 401
        assert error_of(response)["code"] == code
    assert snapshot() == before


@pytest.mark.parametrize("route", ["revoke", "rotate"])
def test_an_unknown_or_another_projects_token_is_404(client, team, route):
    others, _ = issue_token(team.other_project, "Other's")
    value = personal_token(team.owner)
    before = snapshot()
    for token_id in [others.id, 2**31, 987654]:
        if route == "revoke":
            response = revoke(client, value, token_id)
        else:
            response = rotate(client, value, token_id, resource(grace="now"))
        assert response.status_code == 404
        error = error_of(response)
        assert (error["code"], error["detail"]) == (
            "not_found",
            "This project has no token with this id.",
        )
    before["personal_tokens"] = snapshot()["personal_tokens"]
    assert snapshot() == before


# Create: every refusal, with the pages' sentences ----------------------------------------

ATTRIBUTES = "/data/attributes"
NAME = f"{ATTRIBUTES}/name"
ABILITIES = f"{ATTRIBUTES}/abilities"
EXPIRES_AT = f"{ATTRIBUTES}/expires_at"
IN_DAYS = f"{ATTRIBUTES}/expires_in_days"
GOOD = {"name": "CI", "abilities": ["read"]}


@pytest.mark.parametrize(
    ("attributes", "code", "pointer", "detail"),
    [
        ({"abilities": ["read"]}, "invalid_attribute", NAME, "Name is required."),
        (GOOD | {"name": "   "}, "invalid_attribute", NAME, "Name is required."),
        (
            GOOD | {"name": "x" * 101},
            "invalid_attribute",
            NAME,
            "Name must be at most 100 characters (it has 101).",
        ),
        (
            GOOD | {"name": "a\tb"},
            "invalid_attribute",
            NAME,
            "Name cannot contain line breaks, tabs or other control characters.",
        ),
        (GOOD | {"name": 7}, "invalid_attribute", NAME, "`name` must be a string."),
        ({"name": "CI"}, "invalid_attribute", ABILITIES, "Choose at least one ability."),
        (GOOD | {"abilities": []}, "invalid_attribute", ABILITIES, "Choose at least one ability."),
        (
            GOOD | {"abilities": ["read", "admin"]},
            "invalid_attribute",
            ABILITIES,
            '`abilities` must be a list of abilities, like ["read", "write"]: `*`, `read`, '
            "`write`, `metrics`, `rotate`.",
        ),
        (
            GOOD | {"abilities": "read"},
            "invalid_attribute",
            ABILITIES,
            '`abilities` must be a list of abilities, like ["read", "write"]: `*`, `read`, '
            "`write`, `metrics`, `rotate`.",
        ),
        (
            GOOD | {"expires_at": "2026-12-01T11:59:59Z"},
            "invalid_attribute",
            EXPIRES_AT,
            "Choose a time after now (2026-12-01T12:00:00Z): a token cannot expire before "
            "it is made.",
        ),
        (
            GOOD | {"expires_at": "2026-12-01T12:00:00Z"},
            "invalid_attribute",
            EXPIRES_AT,
            "Choose a time after now (2026-12-01T12:00:00Z): a token cannot expire before "
            "it is made.",
        ),
        (
            GOOD | {"expires_at": "2036-11-29T12:00:01Z"},
            "invalid_attribute",
            EXPIRES_AT,
            f"A token can be valid for at most {MAX_LIFETIME_DAYS} days: choose "
            "2036-11-28T12:00:00Z or earlier, or no expiry.",
        ),
        (
            GOOD | {"expires_at": "9999-12-31T23:59:59-14:00"},
            "invalid_attribute",
            EXPIRES_AT,
            f"A token can be valid for at most {MAX_LIFETIME_DAYS} days: choose "
            "2036-11-28T12:00:00Z or earlier, or no expiry.",
        ),
        (
            GOOD | {"expires_at": "2027-01-31"},
            "invalid_attribute",
            EXPIRES_AT,
            "Write `expires_at` as a date and time with its offset, like 2027-01-31T00:00:00Z "
            "(or null for no expiry).",
        ),
        (
            GOOD | {"expires_at": 1767225600},
            "invalid_attribute",
            EXPIRES_AT,
            "Write `expires_at` as a date and time with its offset, like 2027-01-31T00:00:00Z "
            "(or null for no expiry).",
        ),
        (
            GOOD | {"expires_in_days": 0},
            "invalid_attribute",
            IN_DAYS,
            f"A token can be valid for 1 to {MAX_LIFETIME_DAYS} days.",
        ),
        (
            GOOD | {"expires_in_days": MAX_LIFETIME_DAYS + 1},
            "invalid_attribute",
            IN_DAYS,
            f"A token can be valid for 1 to {MAX_LIFETIME_DAYS} days.",
        ),
        (
            GOOD | {"expires_in_days": "30"},
            "invalid_attribute",
            IN_DAYS,
            "Give `expires_in_days` as a whole number of days, like 30.",
        ),
        (
            GOOD | {"expires_in_days": 30.5},
            "invalid_attribute",
            IN_DAYS,
            "Give `expires_in_days` as a whole number of days, like 30.",
        ),
        (
            GOOD | {"expires_in_days": True},
            "invalid_attribute",
            IN_DAYS,
            "Give `expires_in_days` as a whole number of days, like 30.",
        ),
        (
            GOOD | {"expires_in_days": 30, "expires_at": "2027-01-01T00:00:00Z"},
            "invalid_attribute",
            ATTRIBUTES,
            "Give `expires_at` or `expires_in_days`, not both.",
        ),
        (
            GOOD | {"value": "flagpal_x"},
            "invalid_document",
            f"{ATTRIBUTES}/value",
            "A new token takes the attributes `name`, `abilities`, and `expires_at` or "
            "`expires_in_days`.",
        ),
    ],
)
def test_create_refusals_say_why_and_where(client, team, attributes, code, pointer, detail):
    value = personal_token(team.developer)
    before = token_count(), len(events())
    with time_machine.travel(NOW, tick=False):
        response = create(client, value, resource(**attributes))
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert (error["code"], error["source"], error["detail"]) == (
        code,
        {"pointer": pointer},
        detail,
    )
    assert (token_count(), len(events())) == before


@pytest.mark.parametrize(
    ("expiry", "detail"),
    [
        ({}, "Tokens in Shop must expire within 90 days (project policy)."),
        ({"expires_at": None}, "Tokens in Shop must expire within 90 days (project policy)."),
        ({"expires_in_days": 91}, "Tokens in Shop can last at most 90 days (project policy)."),
        (
            {"expires_at": "2027-03-01T12:00:01Z"},
            "Tokens in Shop can last at most 90 days (project policy).",
        ),
    ],
)
def test_the_projects_maximum_lifetime_is_the_pages(client, team, expiry, detail):
    team.project.max_token_lifetime_days = 90
    db.session.commit()
    value = personal_token(team.owner)
    with time_machine.travel(NOW, tick=False):
        response = create(client, value, resource(**GOOD, **expiry))
    assert response.status_code == 422
    error = error_of(response)
    pointer = IN_DAYS if "expires_in_days" in expiry else EXPIRES_AT
    assert (error["detail"], error["source"]) == (detail, {"pointer": pointer})
    with time_machine.travel(NOW, tick=False):
        allowed = create(client, value, resource(**GOOD, expires_in_days=90))
    data, _ = assert_shown_once(allowed, "CI")
    assert data["attributes"]["expires_at"] == "2027-03-01T12:00:00Z"


@pytest.mark.parametrize(
    ("expiry", "expires_at"),
    [
        ({"expires_in_days": 30}, "2026-12-31T12:00:00Z"),
        ({"expires_in_days": 30.0}, "2026-12-31T12:00:00Z"),
        ({"expires_at": "2027-01-31T00:00:00+01:00"}, "2027-01-30T23:00:00Z"),
        ({"expires_at": None}, None),
        ({}, None),
    ],
)
def test_create_with_each_kind_of_expiry(client, team, expiry, expires_at):
    value = personal_token(team.developer)
    with time_machine.travel(NOW, tick=False):
        response = create(client, value, resource(**GOOD, **expiry))
    data, _ = assert_shown_once(response, "CI")
    assert data["attributes"]["expires_at"] == expires_at


def test_a_taken_name_is_the_pages_sentence(client, team):
    issue_token(team.project, "Shop Backend")
    value = personal_token(team.developer)
    before = token_count()
    response = create(client, value, resource(name="shop backend", abilities=["read"]))
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "name_taken"
    assert error["source"] == {"pointer": NAME}
    assert error["detail"] == (
        'An active token is already named "shop backend". Choose another name, '
        "or revoke the old token first."
    )
    assert token_count() == before


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code", "pointer"),
    [
        (b"", MEDIA_TYPE, 422, "invalid_document", "/data"),
        (b"", None, 415, "unsupported_media_type", None),
        (b"{", MEDIA_TYPE, 400, "invalid_json", None),
        (b"[]", MEDIA_TYPE, 422, "invalid_document", ""),
        (b'{"data": {"type": "tokens"}}', MEDIA_TYPE, 422, "invalid_document", "/data/type"),
        (orjson.dumps(resource(**GOOD)), "text/plain", 415, "unsupported_media_type", None),
        (b" " * 5000, MEDIA_TYPE, 413, "body_too_large", None),
    ],
)
def test_a_body_that_is_not_a_new_token_is_refused(
    client, team, data, content_type, status, code, pointer
):
    value = personal_token(team.owner)
    before = token_count()
    response = client.post(
        f"{SHOP}/tokens", headers=bearer(value), data=data, content_type=content_type
    )
    assert response.status_code == status, response.text
    error = error_of(response)
    assert error["code"] == code
    assert error.get("source") == ({"pointer": pointer} if pointer is not None else None)
    assert token_count() == before


def test_a_query_parameter_is_refused(client, team):
    value = personal_token(team.owner)
    response = client.post(f"{SHOP}/tokens?name=CI", headers=bearer(value), json=resource(**GOOD))
    assert response.status_code == 400
    assert error_of(response)["source"] == {"parameter": "name"}


# Revoke --------------------------------------------------------------------------------


def test_revoking_a_revoked_token_changes_nothing_and_says_so(client, team):
    token, _ = issue_token(team.project, "Old")
    value = personal_token(team.developer)
    assert revoke(client, value, token.id).json["meta"] == {"changed": True}
    before = snapshot()
    again = revoke(client, value, token.id)
    assert again.status_code == 200
    assert again.json["meta"] == {"changed": False}
    assert again.json["data"]["attributes"]["revoked_by"] == "Dana Developer"
    before["personal_tokens"] = snapshot()["personal_tokens"]
    assert snapshot() == before, "no second event, no new revoker"


# Rotate --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grace", "span"),
    [
        ("now", None),
        ("1h", timedelta(hours=1)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        (None, timedelta(hours=24)),  # not given: the page's default
    ],
)
def test_rotate_with_each_grace(client, team, grace, span):
    token, old_value = issue_token(team.project, "CI deploy", abilities=frozenset({"write"}))
    value = personal_token(team.developer)
    with time_machine.travel(NOW, tick=False):
        body = None if grace is None else resource(grace=grace)
        response = rotate(client, value, token.id, body)
    data, new_value = assert_shown_once(response, "CI deploy")
    assert data["attributes"]["abilities"] == ["write"]
    db.session.expire_all()
    old = db.session.get(ApiToken, token.id)
    assert old.rotated_at == NOW
    if span is None:
        assert (old.revoked_at, old.expires_at) == (NOW, None)
    else:
        assert (old.revoked_at, old.expires_at) == (None, NOW + span)
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        answer = client.get("/api/v1/token", headers=bearer(old_value))
        assert answer.status_code == (401 if span is None else 200)
        assert client.get("/api/v1/token", headers=bearer(new_value)).status_code == 200


@pytest.mark.parametrize("grace", ["2h", "", 24, "NOW", None])
def test_rotate_refuses_a_grace_not_in_the_list(client, team, grace):
    token, _ = issue_token(team.project, "CI")
    value = personal_token(team.developer)
    before = token_count()
    response = rotate(client, value, token.id, resource(grace=grace))
    assert response.status_code == 422
    error = error_of(response)
    assert error["source"] == {"pointer": f"{ATTRIBUTES}/grace"}
    assert error["detail"] == (
        "Choose when the old token stops working from the list: `now`, `1h`, `24h`, `7d`."
    )
    assert token_count() == before


@pytest.mark.parametrize(
    ("made_with", "body", "expires_at"),
    [
        # Not given: as long as the old one was made to last, from now.
        ({"expires_at": NOW - timedelta(days=10) + timedelta(days=30)}, {}, NOW + timedelta(30)),
        ({"expires_at": None}, {}, None),
        ({"expires_at": None}, {"expires_in_days": 7}, NOW + timedelta(days=7)),
        (
            {"expires_at": NOW + timedelta(days=5)},
            {"expires_at": None},
            None,
        ),
    ],
)
def test_the_replacements_expiry(client, team, made_with, body, expires_at):
    with time_machine.travel(NOW - timedelta(days=10), tick=False):
        token, _ = issue_token(team.project, "CI", **made_with)
    value = personal_token(team.owner)
    with time_machine.travel(NOW, tick=False):
        response = rotate(client, value, token.id, resource(grace="1h", **body))
    assert response.status_code == 201, response.text
    db.session.expire_all()
    new = db.session.get(ApiToken, int(response.json["data"]["id"]))
    assert new.expires_at == expires_at


def test_rotate_keeps_to_the_projects_maximum_lifetime(client, team):
    with time_machine.travel(NOW - timedelta(days=1), tick=False):
        token, _ = issue_token(team.project, "CI")  # no expiry
    team.project.max_token_lifetime_days = 30
    db.session.commit()
    value = personal_token(team.owner)
    with time_machine.travel(NOW, tick=False):
        refused = rotate(client, value, token.id, resource(expires_in_days=31))
        assert refused.status_code == 422
        assert error_of(refused)["detail"] == (
            "Tokens in Shop can last at most 30 days (project policy)."
        )
        # Not given: the old one's lifetime (none), cut to the policy's longest.
        response = rotate(client, value, token.id, resource())
    data, _ = assert_shown_once(response, "CI")
    assert data["attributes"]["expires_at"] == "2026-12-31T12:00:00Z"


def test_a_token_rotated_revoked_or_expired_is_409_with_the_pages_sentence(client, team):
    value = personal_token(team.developer)
    rotated, _ = issue_token(team.project, "Rotated")
    first = rotate(client, value, rotated.id, resource(grace="1h"))
    new_hint = first.json["data"]["attributes"]["hint"]
    revoked, _ = issue_token(team.project, "Revoked")
    revoke(client, value, revoked.id)
    expired, _ = issue_token(team.project, "Expired", expires_at=utcnow() - timedelta(days=1))
    before = snapshot()
    for token, code, detail in [
        (
            rotated,
            "token_already_rotated",
            f'"Rotated" was already rotated; its replacement is {new_hint}.',
        ),
        (
            revoked,
            "token_revoked",
            '"Revoked" is revoked, so there is nothing to rotate. Create a new token instead.',
        ),
        (
            expired,
            "token_expired",
            '"Expired" is expired, so there is nothing to rotate. Create a new token instead.',
        ),
    ]:
        response = rotate(client, value, token.id, resource(grace="now"))
        assert response.status_code == 409, response.text
        error = error_of(response)
        assert (error["code"], error["detail"]) == (code, detail)
        assert code in tokens.CannotRotate.CODES
    before["personal_tokens"] = snapshot()["personal_tokens"]
    assert snapshot() == before


def test_a_rotation_takes_no_name(client, team):
    token, _ = issue_token(team.project, "CI")
    response = rotate(client, personal_token(team.owner), token.id, resource(name="New"))
    assert response.status_code == 422
    error = error_of(response)
    assert (error["code"], error["source"]) == (
        "invalid_document",
        {"pointer": f"{ATTRIBUTES}/name"},
    )


# The audit log, webhooks and logs ------------------------------------------------------


def test_each_write_is_audited_as_the_person_via_the_api(client, team, sign_in):
    current_app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    webhooks.create(
        team.project,
        "http://127.0.0.1:9/hook",
        None,
        "slack",
        actor=None,
        now=utcnow(),
        settings=webhook_settings(current_app.config),
    )
    db.session.commit()
    _, value = personal_tokens.issue(
        team.developer, "Release script", utcnow() + timedelta(days=30), now=utcnow()
    )
    db.session.commit()
    created = create(client, value, resource(**GOOD))
    token_id = int(created.json["data"]["id"])
    rotated = rotate(client, value, token_id, resource(grace="1h"))
    revoke(client, value, int(rotated.json["data"]["id"]))
    actor = "Dana Developer <dev@example.com> via API (Release script)"
    written = [e for e in events() if e.kind.startswith("token.")]
    assert [(e.kind, e.actor, e.actor_id) for e in written] == [
        ("token.created", actor, team.developer.id),
        ("token.created", actor, team.developer.id),
        ("token.rotated", actor, team.developer.id),
        ("token.revoked", actor, team.developer.id),
    ]
    # Developers read the log without addresses, on the page and from the API.
    developer_view = client.get(f"{SHOP}/audit-events", headers=bearer(value)).json
    actors = {e["attributes"]["actor"] for e in developer_view["data"][-4:]}
    assert actors == {"Dana Developer via API (Release script)"}
    sign_in(team.developer)
    page = client.get("/projects/shop/audit")
    assert page.status_code == 200
    assert "Dana Developer via API (Release script)" in page.text
    assert "dev@example.com" not in page.text
    # Webhooks name the person and the door.
    deliveries = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
    texts = [orjson.loads(delivery.body)["text"] for delivery in deliveries]
    assert texts[0] == (
        "Dana Developer &lt;dev@example.com&gt; via API (Release script) created the token "
        f"“CI” ({created.json['data']['attributes']['hint']}) in Shop."
    )


def test_the_value_is_in_no_log_and_no_audit_row(client, team, caplog):
    value = personal_token(team.owner)
    caplog.set_level(logging.DEBUG)
    created = create(client, value, resource(**GOOD))
    made = created.json["meta"]["value"]
    rotated = rotate(client, value, int(created.json["data"]["id"]), resource(grace="now"))
    remade = rotated.json["meta"]["value"]
    rows = str(snapshot())
    logged = caplog.text + " ".join(str(record.__dict__) for record in caplog.records)
    for secret in (made, remade, value):
        assert secret not in rows.replace(token_format.digest(secret), "")
        assert secret not in logged
