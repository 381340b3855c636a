"""PostgreSQL stopped while serving. The machine's PostgreSQL cannot be stopped by a
test, so a gunicorn server reaches it through a small TCP proxy that the test cuts
(every connection closed, new ones refused) and later restores.

While cut: pages show a friendly 503 page, the token API answers 503 ``unavailable``
(never 200, whatever the token), ``/healthz`` still answers. Once restored, service
comes back by itself on the next request, with no restart, and a token revoked during
the outage is refused. That test is for PostgreSQL only: a SQLite file does not go away
under a running server. The friendly page is also checked in-process, on both."""

import http.client
import json
import os
import socket
import threading

import pytest
from sqlalchemy.engine import make_url

from flagpal_dash.api.errors import MEDIA_TYPE
from flagpal_dash.extensions import db
from flagpal_dash.models import utcnow

from .conftest import make_app
from .serving import instance_environment, serve
from .support import PASSWORD, issue_token, soup, text_of
from .test_limits import Visitor
from .test_token_authority import unreachable_url

TEST_DATABASE_URL = os.environ.get("FLAGPAL_TEST_DATABASE_URL", "")
postgresql_only = pytest.mark.skipif(
    not TEST_DATABASE_URL or TEST_DATABASE_URL.startswith("sqlite"),
    reason="a database server stopping while the app serves: set FLAGPAL_TEST_DATABASE_URL "
    "to a PostgreSQL URL (CI's PostgreSQL pass does)",
)


class DatabaseProxy:
    """Forwards connections to 127.0.0.1:``port`` on to ``target`` (host, port), one
    thread per direction, until ``cut()``: then every connection is closed and new ones
    are closed as soon as they arrive, as when the server stops, until ``restore()``."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.forwarding = True
        self.lock = threading.Lock()
        self.sockets: set[socket.socket] = set()
        threading.Thread(target=self.accept_forever, daemon=True).start()

    def accept_forever(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if not self.forwarding:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                if not self.forwarding:  # cut while this one was connecting
                    client.close()
                    upstream.close()
                    continue
                self.sockets |= {client, upstream}
            for source, sink in [(client, upstream), (upstream, client)]:
                threading.Thread(target=self.pump, args=(source, sink), daemon=True).start()

    def pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self.drop(source, sink)

    def drop(self, *ends: socket.socket) -> None:
        for end in ends:
            try:
                end.shutdown(socket.SHUT_RDWR)  # wakes the thread reading it
            except OSError:
                pass
            end.close()
            with self.lock:
                self.sockets.discard(end)

    def cut(self) -> None:
        with self.lock:  # so a connection being made now is in ``sockets`` or refused
            self.forwarding = False
            ends = list(self.sockets)
        self.drop(*ends)

    def restore(self) -> None:
        self.forwarding = True

    def close(self) -> None:
        self.cut()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()


def api_get(port: int, path: str, value: str):
    """A token API request: the response and its parsed JSON body (None if empty)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {value}"})
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    return response, json.loads(body) if body else None


def refusal(port: int, path: str, value: str) -> tuple[int, str]:
    response, document = api_get(port, path, value)
    assert response.headers["Content-Type"] == MEDIA_TYPE
    return response.status, document["errors"][0]["code"]


@pytest.fixture
def proxy(database_url):
    url = make_url(database_url)
    if url.host is None or url.host.startswith("/") or "host" in url.query:
        pytest.skip("the proxy forwards TCP: give FLAGPAL_TEST_DATABASE_URL a host and port")
    proxy = DatabaseProxy((url.host, url.port or 5432))
    yield proxy
    proxy.close()


def through(database_url: str, proxy: DatabaseProxy) -> str:
    """The database URL, reaching the server through ``proxy``, quick to give up."""
    url = make_url(database_url)
    url = url.set(host="127.0.0.1", port=proxy.port, query={**url.query, "connect_timeout": "2"})
    return url.render_as_string(hide_password=False)


def assert_database_unreachable_page(text: str) -> None:
    shown = soup(text)
    assert text_of(shown.h1) == "The database cannot be reached"
    assert "cannot reach its database" in text_of(shown.select_one("[data-error-message]"))
    assert "Traceback" not in text and "psycopg" not in text and "sqlite" not in text


def test_pages_say_the_database_cannot_be_reached(database_url, tmp_path, caplog):
    unreachable = make_app(unreachable_url(database_url, tmp_path))
    client = unreachable.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = "1:0"  # signed in: loading the account needs the database
    try:
        for path in ["/projects/shop/tokens", "/sign-in"]:
            response = client.get(path)
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "5"
            assert_database_unreachable_page(response.text)
    finally:
        with unreachable.app_context():
            db.engine.dispose()
    assert "Database unreachable: " in caplog.text
    assert "Traceback" not in caplog.text, "one line per request, not a stack trace"


@postgresql_only
def test_while_the_database_is_unreachable_nothing_passes_and_service_returns_by_itself(
    database_url, app, team, tmp_path, proxy
):
    _, good = issue_token(team.project, "Good")
    _, revoked = issue_token(team.project, "Revoked before", revoked_at=utcnow())
    later_revoked, revoked_during = issue_token(team.project, "Revoked during the outage")
    env = instance_environment(through(database_url, proxy), tmp_path)
    # As served: threads, each with its own connection for token checks.
    threaded = "--worker-class gthread --threads 2"
    server = serve(env, tmp_path / "output.log", configured=False, gunicorn_args=threaded)
    port = server.port
    owner = Visitor("127.0.0.1")
    try:
        response, _ = owner.sign_in(port, team.owner.email, PASSWORD)
        assert response.status == 302
        for _ in range(3):  # every thread has its connections open
            assert owner.send(port, "GET", "/projects/shop/tokens")[0].status == 200
            assert api_get(port, "/api/v1/token", good)[0].status == 200
            assert refusal(port, "/api/v1/token", revoked) == (401, "token_revoked")

        proxy.cut()
        for path in ["/projects/shop/tokens", "/"]:
            response, text = owner.send(port, "GET", path)
            assert response.status == 503
            assert response.headers["Content-Type"].startswith("text/html")
            assert response.headers["Retry-After"] == "5"
            assert_database_unreachable_page(text)
        for value in [good, revoked, revoked_during]:
            for path in ["/api/v1/token", "/api/v1/auth/read"]:
                assert refusal(port, path, value) == (503, "unavailable"), "never a pass"
        response, _ = api_get(port, "/api/v1/token", good)
        assert response.headers["Retry-After"] == "5"
        response, _ = owner.send(port, "GET", "/healthz")
        assert response.status == 200

        # Revoked while the server cannot see the database (this test reaches it directly).
        later_revoked.revoked_at = utcnow()
        db.session.commit()
        proxy.restore()
        # The very next requests are answered: no restart, no waiting.
        assert refusal(port, "/api/v1/token", revoked_during) == (401, "token_revoked")
        for _ in range(3):
            assert api_get(port, "/api/v1/token", good)[0].status == 200
            assert refusal(port, "/api/v1/token", revoked) == (401, "token_revoked")
            assert owner.send(port, "GET", "/projects/shop/tokens")[0].status == 200
    finally:
        server.stop()
