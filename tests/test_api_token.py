"""GET /api/v1/token and the refusals every token API route shares."""

import logging
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from flagpal_dash import token_format
from flagpal_dash.models import utcnow

from .support import issue_token

MEDIA_TYPE = "application/vnd.api+json"
REALM = 'Bearer realm="flagpal"'
INVALID = 'Bearer realm="flagpal", error="invalid_token"'


def bearer(value: str) -> dict:
    return {"Authorization": f"Bearer {value}"}


def error_of(response) -> dict:
    assert response.headers["Content-Type"] == MEDIA_TYPE
    [error] = response.get_json(force=True)["errors"]
    assert error["status"] == str(response.status_code)
    assert error["title"] and error["detail"]
    return error


def test_a_valid_token_gets_its_json_api_document(client, team):
    created = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    with time_machine.travel(created, tick=False):
        token, value = issue_token(
            team.project,
            "Shop backend",
            abilities=frozenset({"read", "metrics"}),
            expires_at=created + timedelta(days=30),
        )
    with time_machine.travel(created + timedelta(hours=1), tick=False):
        response = client.get("/api/v1/token", headers=bearer(value))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == MEDIA_TYPE
    assert "Set-Cookie" not in response.headers
    assert response.get_json(force=True) == {
        "data": {
            "type": "api-tokens",
            "id": str(token.id),
            "attributes": {
                "name": "Shop backend",
                "abilities": ["read", "metrics"],
                "created_at": "2026-03-01T12:30:15Z",
                "expires_at": "2026-03-31T12:30:15Z",
                "last_used_at": "2026-03-01T13:30:15Z",
            },
            "relationships": {"project": {"data": {"type": "projects", "id": "shop"}}},
        }
    }


def test_full_access_is_listed_as_star_and_no_expiry_as_null(client, team):
    _, value = issue_token(team.project, "Admin", abilities=frozenset({"*"}))
    attributes = client.get("/api/v1/token", headers=bearer(value)).get_json(force=True)["data"][
        "attributes"
    ]
    assert attributes["abilities"] == ["*"]
    assert attributes["expires_at"] is None


def test_no_header_is_token_missing(client, team):
    response = client.get("/api/v1/token")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == REALM
    assert error_of(response)["code"] == "token_missing"


def test_expired_and_revoked_tokens_are_refused_with_their_code(client, team):
    _, expired = issue_token(team.project, "Old", expires_at=utcnow() - timedelta(seconds=1))
    _, revoked = issue_token(team.project, "Gone", revoked_at=utcnow())
    _, both = issue_token(team.project, "Both", revoked_at=utcnow(), expires_at=utcnow())
    for value, code in [
        (expired, "token_expired"),
        (revoked, "token_revoked"),
        (both, "token_revoked"),
    ]:
        response = client.get("/api/v1/token", headers=bearer(value))
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == INVALID
        assert error_of(response)["code"] == code


def test_a_token_stops_working_the_moment_it_expires(client, team):
    expires = datetime(2026, 5, 1, tzinfo=UTC)
    _, value = issue_token(team.project, "Soon", expires_at=expires)
    with time_machine.travel(expires - timedelta(microseconds=1), tick=False):
        assert client.get("/api/v1/token", headers=bearer(value)).status_code == 200
    with time_machine.travel(expires, tick=False):
        assert (
            error_of(client.get("/api/v1/token", headers=bearer(value)))["code"] == "token_expired"
        )


def authorization_cases(valid: str) -> list[tuple[str, str | list[str], str]]:
    unknown = token_format.generate()
    wrong_checksum = valid[:-1] + ("0" if valid[-1] != "0" else "1")
    return [
        ("empty header", "", "token_missing"),
        ("blank header", "   ", "token_missing"),
        ("Basic scheme", "Basic dXNlcjpwYXNz", "token_missing"),
        ("scheme only", "Bearer", "token_malformed"),
        ("lower-case bearer", f"bearer {valid}", "token_malformed"),
        ("upper-case BEARER", f"BEARER {valid}", "token_malformed"),
        ("two spaces", f"Bearer  {valid}", "token_malformed"),
        ("two tokens", f"Bearer {valid} {unknown}", "token_malformed"),
        ("two headers", [f"Bearer {valid}", f"Bearer {unknown}"], "token_malformed"),
        ("non-ASCII", f"Bearer {valid[:-1]}é", "token_malformed"),
        ("8 KB long", "Bearer " + "a" * 8192, "token_malformed"),
        ("one character short", f"Bearer {valid[:-1]}", "token_malformed"),
        ("one character long", f"Bearer {valid}0", "token_malformed"),
        ("wrong prefix", f"Bearer flagpol_{valid[8:]}", "token_malformed"),
        ("wrong checksum", f"Bearer {wrong_checksum}", "token_malformed"),
        ("right checksum but unknown", f"Bearer {unknown}", "token_invalid"),
        ("a different project's revoked token", None, "token_revoked"),
    ]


CASE_NAMES = [case[0] for case in authorization_cases(token_format.generate())]


@pytest.mark.parametrize("case", CASE_NAMES)
@pytest.mark.parametrize("path", ["/api/v1/token", "/api/v1/auth/read"])
def test_bad_authorization_headers_get_their_exact_401(client, team, case, path):
    _, valid = issue_token(team.project, "Valid")
    _, revoked = issue_token(team.other_project, "Revoked", revoked_at=utcnow())
    name, header, code = next(c for c in authorization_cases(valid) if c[0] == case)
    if header is None:
        header = f"Bearer {revoked}"
    headers = (
        [("Authorization", h) for h in header]
        if isinstance(header, list)
        else [("Authorization", header)]
    )
    response = client.get(path, headers=headers)
    assert response.status_code == 401, name
    assert error_of(response)["code"] == code
    expected_challenge = REALM if code == "token_missing" else INVALID
    assert response.headers["WWW-Authenticate"] == expected_challenge


@pytest.mark.parametrize("query", ["?access_token={v}", "?token={v}", "?api_key={v}", "?x={v}"])
def test_a_token_in_the_query_string_is_refused_with_a_hint(client, team, query):
    _, value = issue_token(team.project, "Leaky")
    response = client.get("/api/v1/token" + query.format(v=value), headers=bearer(value))
    assert response.status_code == 401
    error = error_of(response)
    assert error["code"] == "token_malformed"
    assert "only in the `Authorization: Bearer` header" in error["detail"]
    assert value not in response.text


def test_token_values_never_reach_the_logs(client, team, caplog):
    caplog.set_level(logging.DEBUG)
    _, value = issue_token(team.project, "Quiet")
    client.get("/api/v1/token", headers=bearer(value))
    client.get("/api/v1/token", headers=bearer(value[:-1] + "x"))
    client.get("/api/v1/token?access_token=" + value)
    assert value not in caplog.text
    assert value[8:48] not in caplog.text


def test_unknown_api_urls_and_methods_answer_json_api(client, team):
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "not_found"
    wrong_method = client.post("/api/v1/token")
    assert wrong_method.status_code == 405
    assert error_of(wrong_method)["code"] == "method_not_allowed"
