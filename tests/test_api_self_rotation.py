"""POST /api/v1/token/rotate: a token with the ``rotate`` ability (or Full access)
replaces itself, with no person involved. The new value once, the old one working for
the grace asked (1 hour by default, 24 hours at most) and not a moment longer."""

import threading
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import time_machine
from flask import current_app
from sqlalchemy import select

from flagpal_dash import token_format
from flagpal_dash.core import projects, self_rotation, tokens, webhooks
from flagpal_dash.deliverer import webhook_settings
from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, AuditEvent, WebhookDelivery

from .support import issue_token, snapshot
from .test_api_token import MEDIA_TYPE, bearer, error_of

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ROTATE = "/api/v1/token/rotate"


def body(grace=None, **attributes) -> dict:
    if grace is not None:
        attributes["grace"] = grace
    return {"data": {"type": "api-tokens", "attributes": attributes}}


def rotate(client, value: str, document=None, **kwargs):
    if document is not None:
        kwargs["data"] = orjson.dumps(document)
        kwargs.setdefault("content_type", MEDIA_TYPE)
    return client.post(ROTATE, headers=bearer(value), **kwargs)


def works(client, value: str) -> tuple[int, str | None]:
    response = client.get("/api/v1/token", headers=bearer(value))
    if response.status_code == 200:
        return 200, None
    return response.status_code, error_of(response)["code"]


@pytest.fixture
def rotating(team):
    """A token of Shop that may rotate itself, made at NOW to last 30 days."""
    with time_machine.travel(NOW, tick=False):
        token, value = issue_token(
            team.project,
            "CI deploy",
            abilities=frozenset({"read", "rotate"}),
            expires_at=NOW + timedelta(days=30),
            created_by=team.developer,
        )
    return token, value


def test_a_token_replaces_itself_and_gets_the_new_value_once(client, team, rotating):
    old, value = rotating
    with time_machine.travel(NOW + timedelta(days=2), tick=False):
        response = rotate(client, value)
    assert response.status_code == 201, response.text
    assert response.headers["Content-Type"] == MEDIA_TYPE
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    document = response.get_json(force=True)
    new_value = document["meta"]["value"]
    assert token_format.is_well_formed(new_value) and new_value != value
    db.session.expire_all()
    new = db.session.scalars(
        select(ApiToken).where(ApiToken.token_hash == token_format.digest(new_value))
    ).one()
    assert document == {
        "data": {
            "type": "api-tokens",
            "id": str(new.id),
            "attributes": {
                "name": "CI deploy",
                "abilities": ["read", "rotate"],
                "created_at": "2026-06-03T12:00:00Z",
                # As long as the old one was made to last: 30 days from now.
                "expires_at": "2026-07-03T12:00:00Z",
                "last_used_at": None,
            },
            "relationships": {"project": {"data": {"type": "projects", "id": "shop"}}},
        },
        "meta": {"value": new_value},
    }
    assert new.created_by == team.developer, "the person who made the credential"
    old = db.session.get(ApiToken, old.id)
    assert old.replaced_by_id == new.id
    assert old.expires_at == NOW + timedelta(days=2, hours=1), "the default grace: 1 hour"
    # Only the fingerprint is kept.
    assert new_value not in str(snapshot())


def test_the_old_value_works_until_the_grace_ends_and_the_new_one_at_once(client, rotating):
    _, value = rotating
    with time_machine.travel(NOW, tick=False):
        response = rotate(client, value, body("30m"))
        assert response.status_code == 201, response.text
        new_value = response.get_json(force=True)["meta"]["value"]
        assert works(client, new_value) == (200, None)
        assert works(client, value) == (200, None)
    with time_machine.travel(NOW + timedelta(minutes=29, seconds=59), tick=False):
        assert works(client, value) == (200, None)
    with time_machine.travel(NOW + timedelta(minutes=30), tick=False):
        assert works(client, value) == (401, "token_expired")
        assert works(client, new_value) == (200, None)


@pytest.mark.parametrize(
    ("grace", "stops_after"),
    [
        ("now", None),
        ("1h", timedelta(hours=1)),
        ("24h", timedelta(hours=24)),
        ("90m", timedelta(minutes=90)),
        (None, timedelta(hours=1)),
    ],
)
def test_each_grace_is_honoured(client, rotating, grace, stops_after):
    old, value = rotating
    document = body(grace) if grace is not None else body()
    with time_machine.travel(NOW, tick=False):
        assert rotate(client, value, document).status_code == 201
        db.session.expire_all()
        old = db.session.get(ApiToken, old.id)
        if stops_after is None:
            assert old.revoked_at == NOW
            assert works(client, value) == (401, "token_revoked")
            return
        assert (old.revoked_at, old.expires_at) == (None, NOW + stops_after)
    with time_machine.travel(NOW + stops_after, tick=False):
        assert works(client, value) == (401, "token_expired")


def test_the_grace_never_lengthens_the_old_token(client, team):
    with time_machine.travel(NOW, tick=False):
        old, value = issue_token(
            team.project,
            "Short",
            abilities=frozenset({"rotate"}),
            expires_at=NOW + timedelta(minutes=10),
        )
        assert rotate(client, value, body("24h")).status_code == 201
    db.session.expire_all()
    assert db.session.get(ApiToken, old.id).expires_at == NOW + timedelta(minutes=10)


def test_full_access_may_rotate_and_a_never_expiring_token_stays_so(client, team):
    _, value = issue_token(team.project, "Admin", abilities=frozenset({"*"}))
    response = rotate(client, value)
    assert response.status_code == 201, response.text
    attributes = response.get_json(force=True)["data"]["attributes"]
    assert (attributes["abilities"], attributes["expires_at"]) == (["*"], None)


def test_the_replacement_keeps_to_a_policy_tightened_since(client, team):
    with time_machine.travel(NOW, tick=False):
        _, value = issue_token(team.project, "Old timer", abilities=frozenset({"rotate"}))
        projects.set_token_policy(team.project, 30, None, actor=None)
        db.session.commit()
        response = rotate(client, value)
    assert response.status_code == 201, response.text
    assert (
        response.get_json(force=True)["data"]["attributes"]["expires_at"] == "2026-07-01T12:00:00Z"
    )


def test_a_token_without_the_ability_is_refused_and_nothing_changes(client, team):
    _, value = issue_token(
        team.project, "Reader", abilities=frozenset({"read", "write", "metrics"})
    )
    before = snapshot()
    response = rotate(client, value, body("1h"))
    assert response.status_code == 403
    assert error_of(response)["code"] == "insufficient_ability"
    assert "`rotate`" in error_of(response)["detail"]
    assert 'error="insufficient_scope", scope="rotate"' in response.headers["WWW-Authenticate"]
    assert strip_last_used(snapshot()) == strip_last_used(before)


def strip_last_used(rows: dict) -> dict:
    """Every row but the tokens' ``last_used_at`` (the token check notes a use, refused
    or not, once a minute: what the request did is what matters here)."""
    columns = [column.name for column in ApiToken.__table__.columns]
    at = columns.index("last_used_at")
    rows = dict(rows)
    rows["api_tokens"] = [row[:at] + row[at + 1 :] for row in rows["api_tokens"]]
    return rows


def test_a_token_rotated_in_grace_cannot_rotate_again(client, rotating):
    old, value = rotating
    with time_machine.travel(NOW, tick=False):
        first = rotate(client, value, body("24h"))
        assert first.status_code == 201
        new_value = first.get_json(force=True)["meta"]["value"]
        before = strip_last_used(snapshot())
        again = rotate(client, value, body("1h"))
        assert again.status_code == 409
        error = error_of(again)
        assert error["code"] == "token_already_rotated"
        assert "replacement" in error["detail"]
        assert token_format.display_hint(token_format.hint(new_value)) in error["detail"]
        assert strip_last_used(snapshot()) == before
        # Its replacement may.
        assert rotate(client, new_value).status_code == 201


@pytest.mark.parametrize(
    ("state", "code"), [("revoked", "token_revoked"), ("expired", "token_expired")]
)
def test_a_stopped_token_is_refused_as_the_token_api_refuses_it(client, team, state, code):
    fields = (
        {"revoked_at": NOW - timedelta(hours=1)}
        if state == "revoked"
        else {"expires_at": NOW - timedelta(seconds=1)}
    )
    with time_machine.travel(NOW - timedelta(days=1), tick=False):
        _, value = issue_token(team.project, "Stopped", abilities=frozenset({"rotate"}))
    token = db.session.scalars(select(ApiToken).where(ApiToken.name == "Stopped")).one()
    for field, at in fields.items():
        setattr(token, field, at)
    db.session.commit()
    before = snapshot()
    with time_machine.travel(NOW, tick=False):
        response = rotate(client, value)
    assert response.status_code == 401
    assert error_of(response)["code"] == code
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="flagpal", error="invalid_token"'
    assert snapshot() == before


def test_the_core_refuses_a_token_stopped_since_its_check(app, rotating):
    old, _ = rotating
    old.revoked_at = NOW
    db.session.commit()
    with pytest.raises(self_rotation.StoppedWorking) as refused:
        self_rotation.rotate_itself(old.id, timedelta(hours=1), now=NOW + timedelta(minutes=1))
    assert refused.value.state == tokens.TokenState.REVOKED
    with pytest.raises(ValueError):
        self_rotation.rotate_itself(old.id, timedelta(hours=25), now=NOW)


@pytest.mark.parametrize(
    ("document", "content_type", "status", "code", "pointer"),
    [
        (b"{", MEDIA_TYPE, 400, "invalid_json", None),
        (b"[]", MEDIA_TYPE, 422, "invalid_rotation", ""),
        (b'{"data": []}', MEDIA_TYPE, 422, "invalid_rotation", "/data"),
        (b'{"meta": {}}', MEDIA_TYPE, 422, "invalid_rotation", "/data"),
        (b'{"data": {"type": "tokens"}}', MEDIA_TYPE, 422, "invalid_rotation", "/data/type"),
        (
            b'{"data": {"type": "api-tokens", "attributes": 3}}',
            MEDIA_TYPE,
            422,
            "invalid_rotation",
            "/data/attributes",
        ),
        (orjson.dumps(body("7d")), MEDIA_TYPE, 422, "invalid_rotation", "/data/attributes/grace"),
        (orjson.dumps(body("25h")), MEDIA_TYPE, 422, "invalid_rotation", "/data/attributes/grace"),
        (
            orjson.dumps(body("1441m")),
            MEDIA_TYPE,
            422,
            "invalid_rotation",
            "/data/attributes/grace",
        ),
        (orjson.dumps(body("PT1H")), MEDIA_TYPE, 422, "invalid_rotation", "/data/attributes/grace"),
        (orjson.dumps(body(3600)), MEDIA_TYPE, 422, "invalid_rotation", "/data/attributes/grace"),
        (orjson.dumps(body(" 1h")), MEDIA_TYPE, 422, "invalid_rotation", "/data/attributes/grace"),
        (
            orjson.dumps(body("1h", name="x")),
            MEDIA_TYPE,
            422,
            "invalid_rotation",
            "/data/attributes/name",
        ),
        (
            orjson.dumps(body("1h", **{"a/b": 1})),
            MEDIA_TYPE,
            422,
            "invalid_rotation",
            "/data/attributes/a~1b",
        ),
        (orjson.dumps(body("1h")), "text/plain", 415, "unsupported_media_type", None),
        (b" " * 5000, MEDIA_TYPE, 413, "body_too_large", None),
    ],
)
def test_a_bad_body_is_refused_with_where_and_nothing_changes(
    client, rotating, document, content_type, status, code, pointer
):
    _, value = rotating
    before = snapshot()
    with time_machine.travel(NOW, tick=False):
        response = client.post(
            ROTATE, headers=bearer(value), data=document, content_type=content_type
        )
    assert response.status_code == status, response.text
    error = error_of(response)
    assert error["code"] == code
    if pointer is None:
        assert "source" not in error
    else:
        assert error["source"] == {"pointer": pointer}
    assert strip_last_used(snapshot()) == strip_last_used(before)


def test_plain_json_and_an_empty_body_are_fine(client, team):
    _, first = issue_token(team.project, "One", abilities=frozenset({"rotate"}))
    _, second = issue_token(team.project, "Two", abilities=frozenset({"rotate"}))
    assert client.post(ROTATE, headers=bearer(first), json=body("now")).status_code == 201
    assert (
        client.post(ROTATE, headers=bearer(second), data=b"", content_type="text/plain").status_code
        == 201
    )


def test_no_token_is_refused(client, team):
    response = client.post(ROTATE, json=body("1h"))
    assert response.status_code == 401
    assert error_of(response)["code"] == "token_missing"


def test_audited_as_a_self_rotation_and_published_to_webhooks(client, team, rotating):
    old, value = rotating
    current_app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    webhooks.create(
        team.project,
        "http://127.0.0.1:9/hook",
        ["token.rotated"],
        "json",
        actor=None,
        now=NOW,
        settings=webhook_settings(current_app.config),
    )
    db.session.commit()
    with time_machine.travel(NOW, tick=False):
        response = rotate(client, value, body("24h"))
    new_id = int(response.get_json(force=True)["data"]["id"])
    events = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.kind.in_(["token.rotated", "token.created"]))
        .order_by(AuditEvent.id)
    ).all()
    actor = f"token {old.id} “CI deploy” (self-rotation)"
    assert [(e.kind, e.actor, e.actor_id, e.target) for e in events][-2:] == [
        ("token.created", actor, None, f"token {new_id} “CI deploy”"),
        ("token.rotated", actor, None, f"token {old.id} “CI deploy”"),
    ]
    assert events[-1].details["stops_working_at"] == (NOW + timedelta(hours=24)).isoformat()
    [delivery] = db.session.scalars(select(WebhookDelivery)).all()
    payload = orjson.loads(delivery.body)
    assert delivery.event_type == "token.rotated"
    assert (payload["actor"], payload["token"]["id"]) == (actor, old.id)
    assert value not in delivery.body


def test_rotate_is_no_forward_auth_ability(client, team):
    """No request through a proxy is a rotation: the auth URL cannot name it."""
    _, value = issue_token(team.project, "Rotator", abilities=frozenset({"rotate"}))
    response = client.get("/api/v1/auth/rotate", headers=bearer(value))
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_two_rotations_at_once_make_one_replacement(app, rotating):
    """The project's row is held while the token is replaced: of two requests at the same
    moment, one rotates and the other is told the replacement exists."""
    old, value = rotating
    start = threading.Barrier(2)
    statuses = []

    def rotate_now():
        client = app.test_client()
        start.wait()
        statuses.append(rotate(client, value, body("1h")).status_code)

    threads = [threading.Thread(target=rotate_now) for _ in range(2)]
    with time_machine.travel(NOW):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(statuses) == [201, 409]
    db.session.expire_all()
    named = db.session.scalars(select(ApiToken).where(ApiToken.name == "CI deploy")).all()
    assert len(named) == 2
