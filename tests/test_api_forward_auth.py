"""GET /api/v1/auth: forward-auth for nginx auth_request, Traefik and Caddy.

Through real nginx and Caddy: test_forward_auth_proxies.py; the rule alone:
test_forward_auth_rule.py. Security issue 13 changed the contract: the ability is named
in the auth URL's path (/api/v1/auth/read), never by ``?ability=`` (now refused), and
``metrics`` is needed only for POST to the metric endpoint's exact path.
"""

import re

import pytest

from flagpal_dash.extensions import db

from .conftest import make_app
from .support import issue_token
from .test_api_token import bearer, error_of
from .test_forward_auth_proxies import readme_snippet

NGINX = ("X-Original-Method", "X-Original-URI")
FORWARDED = ("X-Forwarded-Method", "X-Forwarded-Uri")  # Traefik ForwardAuth, Caddy forward_auth

METRICS = "/api/v1/metric-time-series"
INFERRED = [
    ("GET", "/api/features", "read"),
    ("HEAD", "/api/features/checkout", "read"),
    ("OPTIONS", "/api/actors", "read"),
    ("get", "/api/funnels?page=2", "read"),
    ("POST", "/api/actors", "write"),
    ("PUT", "/api/actors/42", "write"),
    ("PATCH", "/api/actors/42", "write"),
    ("DELETE", "/api/actors/42", "write"),
    ("POST", METRICS, "metrics"),
    ("POST", METRICS + "?x=1", "metrics"),
    ("POST", "/api/v1/metric-time-serie%73", "metrics"),
    ("GET", METRICS, "read"),
    ("PUT", METRICS, "write"),
    ("POST", METRICS + "-archive", "write"),
    # Only the metric endpoint's own path: the same name elsewhere is an ordinary write.
    ("POST", "/api/projects/shop/metric-time-series", "write"),
    ("POST", "/api/metric-time-series", "write"),
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
def test_the_auth_path_names_the_ability(client, team, ability):
    _, value = issue_token(team.project, "Only one", abilities=frozenset({ability}))
    assert client.get(f"/api/v1/auth/{ability}", headers=bearer(value)).status_code == 204
    other = next(a for a in ("read", "write", "metrics") if a != ability)
    response = client.get(f"/api/v1/auth/{other}", headers=bearer(value))
    assert response.status_code == 403
    assert error_of(response)["code"] == "insufficient_ability"


@pytest.mark.parametrize(
    ("path", "method", "uri", "passes"),
    [
        ("/api/v1/auth/metrics", "POST", METRICS, {"metrics"}),
        # The path's ability and the original request's are both needed.
        ("/api/v1/auth/metrics", "DELETE", METRICS, set()),
        ("/api/v1/auth/read", "POST", "/api/actors", set()),
        ("/api/v1/auth/write", "POST", "/api/actors", {"write"}),
    ],
)
def test_the_auth_path_never_lowers_what_the_original_request_needs(
    client, team, path, method, uri, passes
):
    for ability in ("read", "write", "metrics"):
        _, value = issue_token(team.project, ability, abilities=frozenset({ability}))
        headers = {**bearer(value), "X-Original-Method": method, "X-Original-URI": uri}
        response = client.get(path, headers=headers)
        assert response.status_code == (204 if ability in passes else 403), ability


@pytest.mark.parametrize(
    "query", ["ability=read", "ability=write", "x=1&ability=", "ability=admin"]
)
def test_an_ability_in_the_query_is_refused_not_obeyed(client, team, query):
    """Finding 1: Caddy passes the client's query string on to the auth URL, so a read
    token could POST with ?ability=read and be let through."""
    _, value = issue_token(team.project, "Reader", abilities=frozenset({"*"}))
    for path in ("/api/v1/auth", "/api/v1/auth/read"):
        headers = {**bearer(value), "X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/a"}
        response = client.get(f"{path}?{query}", headers=headers)
        assert response.status_code == 400
        error = error_of(response)
        assert error["code"] == "ability_in_query"
        assert "/api/v1/auth/read" in error["detail"]


@pytest.mark.parametrize("name", ["admin", "*", "Read", "read/", "rotate"])
def test_an_unknown_ability_in_the_path_is_a_json_api_404(client, team, name):
    _, value = issue_token(team.project, "Any", abilities=frozenset({"*"}))
    response = client.get(f"/api/v1/auth/{name}", headers=bearer(value))
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


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


# Security issue 13 ------------------------------------------------------------------------


def tokens_by_ability(team) -> dict[str, str]:
    return {
        ability: issue_token(team.project, ability, abilities=frozenset({ability}))[1]
        for ability in ("read", "write", "metrics")
    }


# Finding 1: what a client sent beside the proxy's own headers, when a proxy passes the
# client's headers on (Caddy, and Traefik without authRequestHeaders, pass them all).
CHOSEN_BY_THE_CLIENT = [
    # (token, the proxy's description, what the client added)
    ("read", FORWARDED, ("DELETE", "/api/actors/1"), {"X-Original-Method": "GET"}),
    ("read", NGINX, ("DELETE", "/api/actors/1"), {"X-Forwarded-Method": "GET"}),
    ("metrics", FORWARDED, ("POST", "/api/actors"), {"X-Original-URI": METRICS}),
    ("metrics", NGINX, ("POST", "/api/actors"), {"X-Forwarded-Uri": METRICS}),
    (
        "read",
        FORWARDED,
        ("POST", "/api/actors"),
        {"X-Original-Method": "GET", "X-Original-URI": "/api/features"},
    ),
]


@pytest.mark.parametrize(("token", "headers", "original", "added"), CHOSEN_BY_THE_CLIENT)
def test_conflicting_descriptions_of_the_original_request_are_refused(
    client, team, token, headers, original, added
):
    value = tokens_by_ability(team)[token]
    described = dict(zip(headers, original, strict=True))
    response = client.get("/api/v1/auth", headers={**bearer(value), **described, **added})
    assert response.status_code == 403
    assert error_of(response)["code"] == "original_request_conflict"


@pytest.mark.parametrize(
    "headers",
    [
        [("X-Forwarded-Method", "DELETE"), ("X-Forwarded-Method", "GET")],
        [("X-Forwarded-Method", "GET,DELETE")],
        [("X-Forwarded-Method", "POST"), ("X-Forwarded-Uri", f"{METRICS},/api/actors")],
    ],
)
def test_a_description_sent_twice_is_refused(client, team, headers):
    value = tokens_by_ability(team)["read"]
    uri = (
        []
        if len(headers) > 1 and headers[1][0] == "X-Forwarded-Uri"
        else [("X-Forwarded-Uri", "/api/actors/1")]
    )
    response = client.get("/api/v1/auth", headers=[*headers, *uri, *bearer(value).items()])
    assert response.status_code == 403
    assert error_of(response)["code"] == "original_request_repeated"


# Finding 2: the metrics ability decided by the end of the path.
NEAR_THE_METRIC_ENDPOINT = [
    ("metrics", "/api/actors/metric-time-series", "insufficient_ability"),
    ("metrics", "/api/actors%2Fmetric-time-series", "original_uri_ambiguous"),
    ("metrics", "/api/v1/actors/..%2Fmetric-time-series", "original_uri_ambiguous"),
    ("write", METRICS + "/.", "original_uri_ambiguous"),
    ("write", METRICS + ";x", "original_uri_ambiguous"),
    ("write", METRICS + "%20", "original_uri_ambiguous"),
    ("write", METRICS + ".json", "original_uri_ambiguous"),
    ("write", METRICS + "/", "original_uri_ambiguous"),
    ("write", "/api/v1/Metric-Time-Series", "original_uri_ambiguous"),
    ("write", "/api/v1//metric-time-series", "original_uri_ambiguous"),
    ("write", "/api/v1/metric-time-series%00", "original_uri_ambiguous"),
]


@pytest.mark.parametrize("headers", [NGINX, FORWARDED], ids=["nginx", "traefik-caddy"])
@pytest.mark.parametrize(("token", "uri", "code"), NEAR_THE_METRIC_ENDPOINT)
def test_metrics_covers_only_the_metric_endpoint(client, team, headers, token, uri, code):
    value = tokens_by_ability(team)[token]
    method_header, uri_header = headers
    response = client.get(
        "/api/v1/auth", headers={**bearer(value), method_header: "POST", uri_header: uri}
    )
    assert response.status_code == 403
    assert error_of(response)["code"] == code


def test_the_metric_endpoint_can_be_mounted_elsewhere(database_url, team):
    mounted = make_app(database_url, METRICS_PATH="/flagpal/metrics")
    value = tokens_by_ability(team)["metrics"]
    client = mounted.test_client()
    try:
        for uri, status in [
            ("/flagpal/metrics", 204),
            (METRICS, 403),
            ("/flagpal/metrics/", 403),
        ]:
            headers = {**bearer(value), "X-Original-Method": "POST", "X-Original-URI": uri}
            assert client.get("/api/v1/auth", headers=headers).status_code == status, uri
    finally:
        with mounted.app_context():
            db.engine.dispose()


@pytest.mark.parametrize("path", ["/api/v1/auth", "/api/v1/auth/read", "/api/v1/auth/metrics"])
def test_options_needs_a_token_like_get(client, team, path):
    """Finding 7 (part): Flask's automatic OPTIONS answer was a 200 without a token."""
    response = client.options(path, headers={"X-Original-Method": "GET", "X-Original-URI": "/a"})
    assert response.status_code == 401
    assert error_of(response)["code"] == "token_missing"
    value = tokens_by_ability(team)["read"]
    described = {**bearer(value), "X-Original-Method": "GET", "X-Original-URI": "/api/a"}
    expected = 204 if path != "/api/v1/auth/metrics" else 403
    assert client.options(path, headers=described).status_code == expected


def test_a_token_in_the_original_path_is_refused(client, team):
    value = tokens_by_ability(team)["read"]
    for uri in (f"/api/features/{value}", "/api/features/" + value.replace("_", "%5F")):
        headers = {**bearer(value), "X-Forwarded-Method": "GET", "X-Forwarded-Uri": uri}
        response = client.get("/api/v1/auth", headers=headers)
        assert response.status_code == 401, uri
        assert error_of(response)["code"] == "token_malformed"


# Traefik is not packaged for Debian: its documented configuration is read from the
# README and the header set it then sends is sent to the app directly.


def traefik_forward_auth() -> dict[str, str]:
    """The README's ForwardAuth settings (no YAML parser is installed: one per line)."""
    snippet = readme_snippet("yaml")
    pattern = r"^\s+(address|authRequestHeaders|trustForwardHeader): (.+)$"
    return dict(re.findall(pattern, snippet, re.MULTILINE))


def traefik_sends(client_headers: dict, method: str, uri: str) -> dict:
    """What Traefik's ForwardAuth sends with the README's settings: of the client's
    headers only those in ``authRequestHeaders``, then its own X-Forwarded-*, which it
    overwrites because trustForwardHeader is off."""
    passed = re.findall(r'"([^"]+)"', traefik_forward_auth()["authRequestHeaders"])
    kept = {name: value for name, value in client_headers.items() if name in passed}
    return {
        **kept,
        "X-Forwarded-Method": method,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "api.example.com",
        "X-Forwarded-Uri": uri,
        "X-Forwarded-For": "203.0.113.7",
    }


def test_the_readme_traefik_configuration_passes_only_what_the_check_reads():
    settings = traefik_forward_auth()
    assert settings["address"] == '"http://127.0.0.1:5000/api/v1/auth"'
    assert settings["authRequestHeaders"] == (
        '["Authorization", "X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"]'
    )
    assert "trustForwardHeader" not in settings, "Traefik must overwrite X-Forwarded-*"


TRAEFIK_CASES = [
    # (token, method, uri, what the client added, passes)
    ("read", "GET", "/api/features", {}, True),
    ("write", "POST", "/api/actors", {}, True),
    ("metrics", "POST", METRICS, {}, True),
    ("read", "POST", "/api/actors?ability=read", {}, False),
    ("read", "DELETE", "/api/actors/1", {"X-Original-Method": "GET"}, False),
    ("read", "DELETE", "/api/actors/1", {"X-Forwarded-Method": "GET"}, False),
    ("metrics", "POST", "/api/actors", {"X-Original-URI": METRICS}, False),
    ("metrics", "POST", "/api/actors/metric-time-series", {}, False),
    ("write", "POST", METRICS + ".json", {}, False),
    ("write", "POST", "/api/actors", {"X-HTTP-Method-Override": "GET"}, False),
    ("metrics", "POST", METRICS, {"X-HTTP-Method-Override": "DELETE"}, False),
]


@pytest.mark.parametrize(("token", "method", "uri", "added", "passes"), TRAEFIK_CASES)
def test_traefiks_documented_header_set(client, team, token, method, uri, added, passes):
    value = tokens_by_ability(team)[token]
    sent = traefik_sends({**bearer(value), **added}, method, uri)
    response = client.get("/api/v1/auth", headers=sent)
    assert response.status_code == (204 if passes else 403)
