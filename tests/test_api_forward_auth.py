"""GET /api/v1/auth: forward-auth for nginx auth_request, Traefik and Caddy."""

import pytest

from .support import issue_token
from .test_api_token import bearer, error_of

NGINX = ("X-Original-Method", "X-Original-URI")
FORWARDED = ("X-Forwarded-Method", "X-Forwarded-Uri")  # Traefik ForwardAuth, Caddy forward_auth

INFERRED = [
    ("GET", "/api/features", "read"),
    ("HEAD", "/api/features/checkout", "read"),
    ("OPTIONS", "/api/actors", "read"),
    ("get", "/api/funnels?page=2", "read"),
    ("POST", "/api/actors", "write"),
    ("PUT", "/api/actors/42", "write"),
    ("PATCH", "/api/actors/42", "write"),
    ("DELETE", "/api/actors/42", "write"),
    ("POST", "/api/projects/shop/metric-time-series", "metrics"),
    ("POST", "/api/metric-time-series?x=1", "metrics"),
    ("POST", "/api/metric-time-series/", "metrics"),
    ("POST", "/api/Metric-Time-Series", "metrics"),
    ("POST", "/api/metric-time-serie%73", "metrics"),
    ("GET", "/api/metric-time-series", "read"),
    ("PUT", "/api/metric-time-series", "write"),
    ("POST", "/api/metric-time-series-archive", "write"),
]


@pytest.mark.parametrize("headers", [NGINX, FORWARDED], ids=["nginx", "traefik-caddy"])
@pytest.mark.parametrize("method, uri, needed", INFERRED)
def test_the_needed_ability_is_inferred_from_the_original_request(
    client, team, headers, method, uri, needed
):
    method_header, uri_header = headers
    tokens = {
        ability: issue_token(team.project, ability, abilities=frozenset({ability}))
        for ability in ("read", "write", "metrics", "*")
    }
    for ability, (token, value) in tokens.items():
        response = client.get(
            "/api/v1/auth", headers={**bearer(value), method_header: method, uri_header: uri}
        )
        if ability in (needed, "*"):
            assert response.status_code == 204, ability
            assert response.headers["X-FlagPal-Project"] == "shop"
            assert response.headers["X-FlagPal-Token-Id"] == str(token.id)
            assert response.data == b""
        else:
            assert response.status_code == 403, ability
            assert error_of(response)["code"] == "insufficient_ability"
            assert response.headers["WWW-Authenticate"] == (
                f'Bearer realm="flagpal", error="insufficient_scope", scope="{needed}"'
            )


@pytest.mark.parametrize("ability", ["read", "write", "metrics"])
def test_ability_parameter_wins_over_the_original_request(client, team, ability):
    _, value = issue_token(team.project, "Only one", abilities=frozenset({ability}))
    headers = {**bearer(value), "X-Original-Method": "DELETE", "X-Original-URI": "/api/actors/1"}
    assert client.get(f"/api/v1/auth?ability={ability}", headers=headers).status_code == 204
    other = next(a for a in ("read", "write", "metrics") if a != ability)
    assert client.get(f"/api/v1/auth?ability={other}", headers=headers).status_code == 403


def test_an_unknown_ability_parameter_is_a_clear_400(client, team):
    _, value = issue_token(team.project, "Any", abilities=frozenset({"*"}))
    response = client.get("/api/v1/auth?ability=admin", headers=bearer(value))
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "ability_unknown"
    assert "read" in error["detail"] and "metrics" in error["detail"]


def test_without_ability_or_original_method_the_proxy_is_told_what_to_send(client, team):
    _, value = issue_token(team.project, "Any", abilities=frozenset({"*"}))
    response = client.get("/api/v1/auth", headers=bearer(value))
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "method_unknown"
    assert "X-Original-Method" in error["detail"]


def test_a_token_in_the_original_uri_is_refused(client, team):
    _, value = issue_token(team.project, "Leaky", abilities=frozenset({"*"}))
    response = client.get(
        "/api/v1/auth",
        headers={
            **bearer(value),
            "X-Original-Method": "GET",
            "X-Original-URI": f"/api/features?access_token={value}",
        },
    )
    assert response.status_code == 401
    assert error_of(response)["code"] == "token_malformed"


def test_failures_never_pass(client, team):
    """A proxy lets a request through only on 2xx: every refusal must be 4xx or 5xx."""
    _, value = issue_token(team.project, "Reader", abilities=frozenset({"read"}))
    for headers in [{}, bearer("nonsense"), {**bearer(value), "X-Original-Method": "POST"}]:
        assert client.get("/api/v1/auth", headers=headers).status_code >= 400
