"""Forward-auth through real nginx and real Caddy, each configured with the README's own
snippet (read from README.md, only the ports changed), in front of an upstream this test
runs: what the upstream receives is what a FlagPal API would have served.

Security issue 13, findings 1 and 2: every attack below was let through before. Traefik
is not packaged for Debian: test_api_forward_auth.py sends its documented header set to
the app directly. Skipped when nginx or Caddy is missing, unless FLAGPAL_REQUIRE_PROXIES=1
(as in .ci/run).
"""

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import delete

from flagpal_dash import token_format
from flagpal_dash.core.projects import create_project
from flagpal_dash.extensions import db

from .conftest import make_app
from .serving import ROOT, free_port, instance_environment, serve, stop
from .support import issue_token

README = ROOT / "README.md"
APP, UPSTREAM = "127.0.0.1:5000", "127.0.0.1:8080"  # as the README's snippets say
METRICS = "/api/v1/metric-time-series"
PROBE = "X-Test-Probe"  # names each request, so the upstream's record can be searched


def readme_snippet(language: str) -> str:
    """The code block in ``language`` of the README's section on reverse proxies."""
    text = README.read_text()
    section = text[text.index("### Protecting a FlagPal API with a reverse proxy") :]
    section = section[: section.index("\n## ")]
    [snippet] = re.findall(rf"```{language}\n(.*?)```", section, re.DOTALL)
    return snippet


def proxy_binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        reason = f"{name} is not installed (apt-get install {name}; .ci/run does)"
        if os.environ.get("FLAGPAL_REQUIRE_PROXIES") == "1":
            pytest.fail(reason + ", and FLAGPAL_REQUIRE_PROXIES=1")
        pytest.skip(reason)
    return found


def wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{process.args[0]} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)


# The upstream: a FlagPal API stand-in that records what reaches it -----------------------


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]


class Recorder(BaseHTTPRequestHandler):
    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.received[headers.get(PROBE.lower(), "")] = Received(
            self.command, self.path, headers
        )
        body = b"" if self.command == "HEAD" else b"upstream\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = answer

    def log_message(self, *args):
        pass


@dataclass
class Stack:
    app_port: int
    upstream: ThreadingHTTPServer
    tokens: dict[str, tuple[int, str]]  # ability -> (token id, value)
    tmp: Path
    received: dict[str, Received] = field(default_factory=dict)


@pytest.fixture(scope="module")
def stack(database_url, migrated, tmp_path_factory):
    """FlagPal Dash under gunicorn on the test database, with one project ("shop") and a
    token per ability, and the recording upstream; once for the whole module."""
    tmp = tmp_path_factory.mktemp("forward-auth")
    setup = make_app(database_url)
    with setup.app_context():
        project = create_project("Shop", actor=None)
        db.session.commit()
        tokens = {}
        for ability in ("read", "write", "metrics", "*"):
            token, value = issue_token(project, ability, abilities=frozenset({ability}))
            tokens[ability] = (token.id, value)
        db.session.remove()

    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    upstream.received = {}
    threading.Thread(target=upstream.serve_forever, daemon=True).start()

    log = tmp / "gunicorn.log"
    env = instance_environment(database_url, tmp, ACCESS_LOG="off", ERROR_LOG=str(log))
    env.pop("FLAGPAL_METRICS_PATH", None)
    app = None
    try:
        app = serve(env, log, workers=1, threads=4)
        yield Stack(app.port, upstream, tokens, tmp, upstream.received)
    finally:
        if app:
            app.stop()
        upstream.shutdown()
        upstream.server_close()
        with setup.app_context():
            with db.engine.begin() as connection:
                for table in reversed(db.metadata.sorted_tables):
                    connection.execute(delete(table))
            db.engine.dispose()


# The proxies, configured from the README ------------------------------------------------


def with_ports(snippet: str, stack: Stack) -> str:
    upstream_port = stack.upstream.server_address[1]
    assert APP in snippet and UPSTREAM in snippet, "the README's addresses changed"
    return snippet.replace(APP, f"127.0.0.1:{stack.app_port}").replace(
        UPSTREAM, f"127.0.0.1:{upstream_port}"
    )


def start_nginx(stack: Stack, port: int) -> tuple[subprocess.Popen, Path]:
    binary = proxy_binary("nginx")
    prefix = stack.tmp / "nginx"
    prefix.mkdir()
    # Every path nginx writes to, inside the prefix: no root needed.
    temp_paths = "".join(
        f"    {kind}_temp_path {prefix / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"daemon off; pid {prefix}/nginx.pid; error_log {prefix}/error.log;\n"
        "worker_processes 1;\nevents { worker_connections 64; }\n"
        "http {\n    access_log off;\n"
        + temp_paths
        + f"    server {{\n        listen 127.0.0.1:{port};\n"
        + with_ports(readme_snippet("nginx"), stack)
        + "    }\n}\n"
    )
    log = prefix / "error.log"
    with log.open("a") as output:
        process = subprocess.Popen(
            [binary, "-p", str(prefix), "-c", str(conf), "-e", str(log)],
            stdout=subprocess.DEVNULL,
            stderr=output,
        )
    return process, log


def start_caddy(stack: Stack, port: int) -> tuple[subprocess.Popen, Path]:
    binary = proxy_binary("caddy")
    home = stack.tmp / "caddy"
    home.mkdir()
    snippet = with_ports(readme_snippet("caddyfile"), stack)
    assert snippet.startswith("api.example.com {")
    caddyfile = home / "Caddyfile"
    caddyfile.write_text(
        "{\n    admin off\n}\n"
        + snippet.replace("api.example.com {", f"http://127.0.0.1:{port} {{", 1)
    )
    # Caddy keeps its state under $HOME and the XDG folders: a temporary one here.
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
    }
    log = home / "caddy.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [binary, "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=output,
        )
    return process, log


@dataclass
class Proxy:
    name: str
    port: int
    stack: Stack

    def send(self, method, path, token=None, headers=None, body=None):
        """Send a request through the proxy; its status, and what the upstream received
        of it (None when the proxy did not let it through)."""
        probe = uuid.uuid4().hex
        sent = {PROBE: probe, **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {self.stack.tokens[token][1]}"
        if body is not None:
            sent["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()
        return response.status, self.stack.received.pop(probe, None)


@pytest.fixture(scope="module", params=["nginx", "caddy"])
def proxy(request, stack):
    port = free_port()
    start = start_nginx if request.param == "nginx" else start_caddy
    process, log = start(stack, port)
    try:
        wait_for_port(port, process, log)
        yield Proxy(request.param, port, stack)
    finally:
        stop(process)


# Legitimate requests pass, naming the project and token ---------------------------------

LEGIT = [
    ("read", "GET", "/api/v1/features?page=2", None),
    ("read", "HEAD", "/api/v1/features/checkout", None),
    ("read", "OPTIONS", "/api/v1/actors", None),
    ("write", "POST", "/api/v1/actors", b'{"key": "42"}'),
    ("write", "DELETE", "/api/v1/actors/42", None),
    ("metrics", "POST", METRICS, b"[]"),
    ("metrics", "POST", METRICS + "?at=now", b"[]"),
    ("*", "PATCH", "/api/v1/actors/42", b"{}"),
    ("*", "POST", METRICS, b"[]"),
]


@pytest.mark.parametrize(("token", "method", "path", "body"), LEGIT)
def test_a_token_with_the_ability_reaches_the_upstream(proxy, token, method, path, body):
    status, received = proxy.send(method, path, token, body=body)
    assert status == 200
    assert (received.method, received.path) == (method, path)
    assert received.headers["x-flagpal-project"] == "shop"
    assert received.headers["x-flagpal-token-id"] == str(proxy.stack.tokens[token][0])


def test_a_client_cannot_forge_the_project_or_token_id(proxy):
    status, received = proxy.send(
        "GET",
        "/api/v1/features",
        "read",
        {"X-FlagPal-Project": "other", "X-FlagPal-Token-Id": "999999"},
    )
    assert status == 200
    assert received.headers["x-flagpal-project"] == "shop"
    assert received.headers["x-flagpal-token-id"] == str(proxy.stack.tokens["read"][0])


def test_the_snippet_replaces_or_removes_both_header_families(proxy):
    """Each snippet sets its own family and removes the other, so what a client sends
    in either is never seen by the check: a legit request still passes (a header the
    proxy left in place would conflict with the proxy's own, and be refused)."""
    sent = {
        "X-Original-Method": "DELETE",
        "X-Original-URI": "/api/v1/elsewhere",
        "X-Forwarded-Method": "DELETE",
        "X-Forwarded-Uri": "/api/v1/elsewhere",
    }
    status, received = proxy.send("GET", "/api/v1/features", "read", sent)
    assert status == 200
    assert (received.method, received.path) == ("GET", "/api/v1/features")


@pytest.mark.parametrize(
    ("token", "method", "path"),
    [
        (None, "GET", "/api/v1/features"),
        (None, "OPTIONS", "/api/v1/features"),
        ("read", "POST", "/api/v1/actors"),
        ("read", "POST", METRICS),
        ("write", "POST", METRICS),
        ("metrics", "GET", "/api/v1/features"),
        ("metrics", "DELETE", METRICS),
    ],
)
def test_a_token_without_the_ability_is_stopped_at_the_proxy(proxy, token, method, path):
    status, received = proxy.send(method, path, token)
    assert status in (401, 403)
    assert received is None


# Finding 1: a client chooses the ability that forward-auth checks ------------------------

CHOSEN_ABILITY = [
    ("read", "POST", "/api/v1/actors?ability=read", {}),
    ("read", "POST", "/api/v1/actors?ability=write&ability=read", {}),
    ("metrics", "POST", "/api/v1/actors?ability=metrics", {}),
    ("read", "DELETE", "/api/v1/actors/1", {"X-Original-Method": "GET"}),
    ("read", "DELETE", "/api/v1/actors/1", {"X-Forwarded-Method": "GET"}),
    ("read", "DELETE", "/api/v1/actors/1", {"X_Original_Method": "GET"}),
    ("read", "POST", "/api/v1/actors", {"X-Original-URI": "/api/v1/features"}),
    ("metrics", "POST", "/api/v1/actors", {"X-Original-URI": METRICS}),
    ("metrics", "POST", "/api/v1/actors", {"X-Forwarded-Uri": METRICS}),
    (
        "metrics",
        "PUT",
        "/api/v1/actors/1",
        {"X-Original-Method": "POST", "X-Original-URI": METRICS},
    ),
    (
        "read",
        "DELETE",
        "/api/v1/actors/1",
        {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/v1/features"},
    ),
    # The method the upstream serves named in a header: a write token reading, a
    # metrics token deleting.
    ("write", "POST", "/api/v1/features", {"X-HTTP-Method-Override": "GET"}),
    ("write", "POST", "/api/v1/features", {"X-Method-Override": "GET"}),
    ("metrics", "POST", METRICS, {"X-HTTP-Method": "DELETE"}),
]


@pytest.mark.parametrize(("token", "method", "path", "headers"), CHOSEN_ABILITY)
def test_nothing_a_client_sends_lowers_the_ability_needed(proxy, token, method, path, headers):
    status, received = proxy.send(method, path, token, headers, body=b"{}")
    assert received is None, f"{proxy.name} let {method} {path} {headers} through"
    assert 400 <= status < 500


# Finding 2: the metrics ability decided by the end of the path ----------------------------

AMBIGUOUS_PATHS = [
    ("metrics", "/api/actors/metric-time-series"),
    ("metrics", "/api/v1/actors/metric-time-series"),
    ("metrics", "/api/actors%2Fmetric-time-series"),
    ("metrics", "/api/v1/actors/..%2Fmetric-time-series"),
    ("write", METRICS + "/."),
    ("write", METRICS + ";x"),
    ("write", METRICS + "%20"),
    ("write", METRICS + ".json"),
    ("write", METRICS + "/"),
    ("write", "/api/v1/Metric-Time-Series"),
    ("write", "/api/v1//metric-time-series"),
    ("write", "/api/v1/./metric-time-series"),
]


@pytest.mark.parametrize(("token", "path"), AMBIGUOUS_PATHS)
def test_the_metrics_ability_covers_only_the_metric_endpoint(proxy, token, path):
    status, received = proxy.send("POST", path, token, body=b"[]")
    assert received is None, f"{proxy.name} let a {token} token POST {path}"
    assert 400 <= status < 500


def test_a_token_in_the_original_path_is_refused(proxy):
    value = proxy.stack.tokens["read"][1]
    for path in (f"/api/v1/features/{value}", f"/api/v1/features/{value.replace('_', '%5F')}"):
        status, received = proxy.send("GET", path, "read")
        assert (status, received) == (401, None), path


def test_the_readme_metrics_location_adds_the_metrics_ability(proxy):
    """nginx's exact location for the metric endpoint asks /api/v1/auth/metrics: every
    request there needs `metrics` as well as what the request itself needs. (Caddy's
    snippet has no such location: there a GET needs `read` alone.)"""
    assert proxy.send("POST", METRICS, "metrics", body=b"[]")[1] is not None
    assert proxy.send("GET", METRICS, "metrics")[1] is None
    assert proxy.send("GET", METRICS, "*")[1] is not None
    assert (proxy.send("GET", METRICS, "read")[1] is not None) == (proxy.name == "caddy")


# The token API's 503 reaches clients as 503 ----------------------------------------------

# nginx's auth_request passes on a 401 or 403 from the check and turns any other answer
# into its own 500: the README's snippet maps that back to FlagPal's 503 (issue 16).


class UnavailableCheck(BaseHTTPRequestHandler):
    """Stands in for the app while its database is unreachable: it answers every check
    with the response the real app gives then (recorded in ``unavailable_response``)."""

    def do_GET(self):
        status, headers, body = self.server.answer
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def unavailable_response(database_url: str, tmp_path: Path) -> tuple[int, list, bytes]:
    """What the app's /api/v1/auth answers with a well-formed token while its database
    is unreachable."""
    from .test_token_authority import unreachable_url

    app = make_app(unreachable_url(database_url, tmp_path))
    try:
        response = app.test_client().get(
            "/api/v1/auth",
            headers={
                "Authorization": f"Bearer {token_format.generate()}",
                "X-Original-Method": "GET",
                "X-Original-URI": "/api/v1/features",
            },
        )
    finally:
        with app.app_context():
            db.engine.dispose()
    assert response.status_code == 503
    return response.status_code, list(response.headers.items()), response.data


@pytest.fixture(params=["nginx", "caddy"])
def proxy_of_an_unavailable_app(request, database_url, tmp_path):
    check = ThreadingHTTPServer(("127.0.0.1", 0), UnavailableCheck)
    check.answer = unavailable_response(database_url, tmp_path)
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    upstream.received = {}
    for server in (check, upstream):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    stack = Stack(check.server_address[1], upstream, {}, tmp_path, upstream.received)
    port = free_port()
    start = start_nginx if request.param == "nginx" else start_caddy
    process, log = start(stack, port)
    try:
        wait_for_port(port, process, log)
        yield Proxy(request.param, port, stack)
    finally:
        stop(process)
        for server in (check, upstream):
            server.shutdown()
            server.server_close()


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/v1/features"), ("POST", METRICS)])
def test_a_check_that_cannot_reach_the_database_is_a_503_for_the_client(
    proxy_of_an_unavailable_app, method, path
):
    proxy = proxy_of_an_unavailable_app
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        connection.request(
            method,
            path,
            body=b"[]" if method == "POST" else None,
            headers={"Authorization": f"Bearer {token_format.generate()}"},
        )
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 503, f"{proxy.name} answered {response.status}"
    assert response.getheader("Content-Type") == "application/vnd.api+json"
    assert response.getheader("Retry-After") == "5"
    [error] = json.loads(body)["errors"]
    assert (error["status"], error["code"]) == ("503", "unavailable")
    assert proxy.stack.received == {}, "nothing reached the upstream"
