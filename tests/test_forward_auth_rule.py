"""The forward-auth rule alone (flagpal_dash/api/forward_auth.py): which ability an
original request needs, and which descriptions of it are refused rather than guessed.
Security issue 13, findings 1 and 2."""

import pytest

from flagpal_dash.api import forward_auth
from flagpal_dash.config import DEFAULT_METRICS_PATH

METRICS = DEFAULT_METRICS_PATH
TOKEN = "flagpal_" + "A" * 40 + "000000"  # token-shaped: the rule does not check checksums


def needs(method, uri, fixed=None, forwarded=(None, None), metrics_path=METRICS):
    """What the rule decides for a proxy sending the nginx headers (``method``, ``uri``)
    and, optionally, the Caddy/Traefik ones (``forwarded``)."""
    return forward_auth.abilities_needed(
        fixed, (method, forwarded[0]), (uri, forwarded[1]), metrics_path
    )


def refusal(*args, **kwargs) -> tuple[int, str]:
    with pytest.raises(forward_auth.Refused) as refused:
        needs(*args, **kwargs)
    return refused.value.status, refused.value.code


LEGIT = [
    ("GET", "/api/v1/features", "read"),
    ("HEAD", "/api/v1/features/checkout", "read"),
    ("OPTIONS", "/api/v1/actors", "read"),
    ("get", "/api/v1/funnels?page=2", "read"),
    ("GET", "/api/v1/features?names=a,b&next=/x", "read"),
    ("GET", "/api/v1/features/caf%C3%A9", "read"),
    # Only a token's whole shape is refused in a path: a feature may be named this.
    ("GET", "/api/v1/features/flagpal_beta", "read"),
    ("GET", "/api/v1/features/flagpal%5Fbeta", "read"),
    ("POST", "/api/v1/actors", "write"),
    ("PUT", "/api/v1/actors/42", "write"),
    ("PATCH", "/api/v1/actors/42", "write"),
    ("DELETE", "/api/v1/actors/42", "write"),
    ("POST", METRICS, "metrics"),
    ("POST", METRICS + "?at=2026-12-07", "metrics"),
    # Decoded once, as the upstream does: still the metric endpoint.
    ("POST", "/api/v1/metric-time-serie%73", "metrics"),
    ("GET", METRICS, "read"),
    ("PUT", METRICS, "write"),
    ("DELETE", METRICS, "write"),
    ("POST", METRICS + "-archive", "write"),
    # Finding 2: the metric endpoint's name under another prefix is not the endpoint.
    ("POST", "/api/actors/metric-time-series", "write"),
    ("POST", "/api/v1/actors/metric-time-series", "write"),
    ("POST", "/metric-time-series", "write"),
]


@pytest.mark.parametrize(("method", "uri", "needed"), LEGIT)
def test_the_ability_follows_the_original_request(method, uri, needed):
    assert needs(method, uri) == needed
    assert needs(None, None, forwarded=(method, uri)) == needed, "Caddy and Traefik's headers"
    assert needs(method, uri, forwarded=(method, uri)) == needed, "both families, agreeing"


AMBIGUOUS = [
    # Finding 2: what a `write` token sent to pass as a POST to the metric endpoint, and
    # what a `metrics` token sent to reach another one.
    METRICS + "/.",
    METRICS + "/..",
    METRICS + ";x",
    METRICS + "%20",
    METRICS + ".json",
    METRICS + "/",
    METRICS + "/1",
    METRICS + "~",
    METRICS + "%09",
    "/api/actors%2Fmetric-time-series",
    "/api/actors%2fmetric-time-series",
    "/api/v1/actors/..%2Fmetric-time-series",
    "/api/v1/Metric-Time-Series",
    "/API/V1/METRIC-TIME-SERIES",
    "/api/v1/metric-time-%C5%BFeries",  # ſ, which case-folds to s
    "/api/v1%EF%BC%8Fmetric-time-series",  # a fullwidth solidus, which NFKC makes `/`
    "/api/v1/%EF%BC%8E%EF%BC%8E/actors",  # fullwidth full stops: `..` after NFKC
    "/api/v1/features/cafe%CC%81",  # é decomposed
    "/api/v1/actors%C0%AF",  # an overlong `/`
    # Forms an upstream may read in more than one way.
    "/api/v1/./actors",
    "/api/v1/../v1/actors",
    "/api/v1//actors",
    "/api/v1/actors%2E",
    "/api/v1/actors%2e%2e",
    "/api/v1/actors%5C1",
    "/api/v1/actors\\1",
    "/api/v1/actors;jsessionid=1",
    "/api/v1/actors%3Bx",
    "/api/v1/actors%00",
    "/api/v1/actors%1F",
    "/api/v1/actors%7F",
    "/api/v1/actors\x00",
    "/api/v1/actors\t",
    "/api/v1/actors 1",
    "/api/v1/actors%252F",
    "/api/v1/actors%zz",
    "/api/v1/actors%4",
    "/api/v1/actors%",
    "/api/v1/caf\xe9",
    "/api/v1/actors%FF",
    "/api/v1/actors#x",
    "/api/v1/actors,1",
    "api/v1/actors",
    "http://api.example.com/api/v1/actors",
    "*",
]


@pytest.mark.parametrize("uri", AMBIGUOUS)
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_ambiguous_original_paths_are_refused_not_guessed(method, uri):
    assert refusal(method, uri) == (403, "original_uri_ambiguous")


def test_only_the_path_is_read_strictly_not_the_query():
    assert needs("GET", "/api/v1/features?q=a;b&next=/./x//y%2F") == "read"
    assert needs("POST", METRICS + "?format=.json") == "metrics"


def test_a_configured_metric_endpoint_replaces_the_default():
    mounted = "/flagpal/metric-time-series"
    assert needs("POST", mounted, metrics_path=mounted) == "metrics"
    assert needs("POST", METRICS, metrics_path=mounted) == "write"
    assert refusal("POST", mounted + "/", metrics_path=mounted)[1] == "original_uri_ambiguous"


TOKEN_IN_URI = [
    f"/api/v1/features?access_token={TOKEN}",
    "/api/v1/features?API_KEY=anything",
    f"/api/v1/features?x={TOKEN[:20]}",
    f"/api/v1/features/{TOKEN}",
    f"/api/v1/features/{TOKEN.replace('_', '%5F', 1)}",
    f"/api/v1/features/{TOKEN.replace('_', '%5f', 1)}",
    f"/api/v1/features/{TOKEN.replace('A', '%41', 3)}",
    "/api/v1/features?flagpal_x=1",
    f"/api/v1/features?x={TOKEN.replace('_', '%5F', 1)}",
]


@pytest.mark.parametrize("uri", TOKEN_IN_URI)
def test_a_token_in_the_original_path_or_query_is_refused(uri):
    assert refusal("GET", uri) == (401, "token_malformed")


CONFLICTS = [
    # Finding 1: what a client sent beside the proxy's own description.
    (("GET", None), ("DELETE", None)),
    (("POST", "/api/v1/actors"), ("POST", METRICS)),
    (("GET", "/api/v1/features"), ("POST", "/api/v1/features")),
    ((None, METRICS), (None, "/api/v1/actors")),
]


@pytest.mark.parametrize(("nginx", "forwarded"), CONFLICTS)
def test_two_header_families_that_disagree_are_refused(nginx, forwarded):
    method, uri = nginx
    other_method, other_uri = forwarded
    args = (method or "POST", uri or "/api/v1/actors")
    forwarded = (other_method or args[0], other_uri or args[1])
    assert refusal(*args, forwarded=forwarded) == (403, "original_request_conflict")


@pytest.mark.parametrize(
    ("method", "uri"),
    [
        ("GET,DELETE", "/api/v1/actors"),
        ("GET, DELETE", "/api/v1/actors"),
        ("POST", f"{METRICS},/api/v1/actors"),
        ("POST", f"/api/v1/actors?x=1,{METRICS}"),
    ],
)
def test_a_header_sent_twice_is_refused(method, uri):
    """Servers join repeated headers with commas: neither value is believed."""
    assert refusal(method, uri) == (403, "original_request_repeated")


@pytest.mark.parametrize(
    ("method", "uri", "code"),
    [
        (None, "/api/v1/actors", "method_unknown"),
        ("", "/api/v1/actors", "method_unknown"),
        ("POST", None, "uri_unknown"),
        ("POST", "", "uri_unknown"),
        ("GET /x", "/api/v1/actors", "method_invalid"),
        ("P0ST", "/api/v1/actors", "method_invalid"),
    ],
)
def test_an_undescribed_original_request_is_refused(method, uri, code):
    assert refusal(method, uri) == (400, code)


@pytest.mark.parametrize(
    ("fixed", "method", "uri", "needed"),
    [
        ("read", None, None, "read"),
        ("metrics", None, None, "metrics"),
        ("read", "GET", "/api/v1/features", "read"),
        ("metrics", "POST", METRICS, "metrics"),
        # The path's ability never lowers what the request needs, nor the other way.
        ("read", "POST", "/api/v1/actors", ("read", "write")),
        ("read", "DELETE", "/api/v1/actors/1", ("read", "write")),
        ("metrics", "DELETE", METRICS, ("metrics", "write")),
        ("metrics", "GET", METRICS, ("metrics", "read")),
        ("write", "POST", METRICS, ("write", "metrics")),
    ],
)
def test_the_ability_in_the_auth_path_is_needed_with_the_requests_own(fixed, method, uri, needed):
    assert needs(method, uri, fixed=fixed) == needed


def test_with_a_fixed_ability_the_original_request_is_still_checked():
    assert refusal("POST", METRICS + "/.", fixed="metrics")[1] == "original_uri_ambiguous"
    assert refusal("POST", f"/x/{TOKEN}", fixed="write")[1] == "token_malformed"
    assert refusal("GET", None, fixed="read")[1] == "uri_unknown"
    conflict = refusal("GET", "/a", fixed="read", forwarded=("DELETE", "/a"))
    assert conflict[1] == "original_request_conflict"


@pytest.mark.parametrize("method", ["POST", "GET", "PUT"])
def test_a_method_override_is_refused(method):
    """A write token could POST with `X-HTTP-Method-Override: GET` and read; a metrics
    token could POST to the metric endpoint as a DELETE."""
    with pytest.raises(forward_auth.Refused) as refused:
        forward_auth.abilities_needed(None, (method, None), (METRICS, None), METRICS, "DELETE")
    assert (refused.value.status, refused.value.code) == (403, "method_override_refused")
    # A path-fixed ability with no description of the request has no method to override.
    assert forward_auth.abilities_needed("read", (None, None), (None, None), METRICS, "X") == (
        "read"
    )
