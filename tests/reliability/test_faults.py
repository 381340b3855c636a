"""Faults: the database failing under a running gunicorn server (two workers, as served)
while client threads keep it busy with a mix of requests: good and revoked tokens on
both API endpoints, the API Tokens page, and tokens created and revoked through the
dashboard with its CSRF token. Each fault is injected, held while every client makes a
full round of requests inside it, then repaired.

PostgreSQL pass, PostgreSQL stops: the server reaches PostgreSQL through
``test_database_outage.DatabaseProxy``, and a fault cuts it (every connection closed,
new ones refused), as a stopped or restarting database server does. Nothing can be read:
the token API answers 503 ``unavailable`` for every token (never 200, never 401), every
page is the friendly 503 page.

SQLite pass, the disk fills up: the database lives on a small tmpfs of its own (mounted
by the test: it needs root, and is skipped without), which a fault fills to the last
byte with a filler file (ENOSPC) and repairs by deleting it. A full disk is how a
one-server SQLite install stops saving in practice; a filesystem remounted read-only
after an I/O error refuses writes the same way. The other faults considered do nothing
to a running server: ``chmod a-w`` on the file, its -wal and -shm and its folder (SQLite
checks permissions when it opens a file, the server's connections are open already, and
root ignores permissions anyway); moving the file or its folder away (open connections
follow the file, reading and writing it where it went); a read-only remount (the kernel
refuses it while the server holds the file open for writing). A full disk refuses
writes only. Token checks and pages are reads, and keep giving true answers: a revoked
token is refused, a good one passes (failing closed would take every app down over a
full disk, while the verdicts are known). Every change through the dashboard is refused
with a 503 page saying that nothing was changed.

Both: a refused change does not half-happen (no token, no audit record; a refused revoke
leaves the token working); service comes back by itself within a few seconds, with no
restart; afterwards every token created before still verifies and every revoked one is
still refused; no 5xx outside the fault windows and no 500 at all; no traceback in the
server's logs (one line per failure); and for SQLite, ``PRAGMA integrity_check`` is ok.
"""

import errno
import http.client
import json
import logging
import os
import sqlite3
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import request
from sqlalchemy import select
from sqlalchemy.engine import make_url

from flagpal_dash.api.errors import MEDIA_TYPE
from flagpal_dash.core.projects import add_member, create_project
from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, AuditEvent, utcnow
from flagpal_dash.permissions import Role

from ..conftest import make_app
from ..serving import serve
from ..support import PASSWORD, add_user, flush_usage, issue_token, soup, text_of
from ..test_api_token import bearer
from ..test_database_outage import DatabaseProxy, api_get, through
from ..test_limits import Visitor
from . import database_kind, record, scaled

FAULTS = scaled(2, 10)
CLIENTS = 2
# Full rounds of requests every client makes before each fault and inside it.
ROUNDS = scaled(1, 3)
# "Service comes back by itself within a few seconds."
RECOVERY_SECONDS = 5
# Each wait for the clients' rounds; far longer than a round takes.
ROUND_TIMEOUT = 60

UNREACHABLE = "503 The database cannot be reached"
CANNOT_SAVE = "503 Changes cannot be saved right now"

# What each request may answer: when nothing is wrong, and inside each kind of fault.
# A request that overlaps a fault's start or its recovery may answer either.
CLEAR = {
    "good token": {"200 ok"},
    "revoked token": {"401 token_revoked"},
    "page": {"200 page"},
    "create": {"201 created"},
    "revoke": {"302 revoked"},
    "leak report": {"202 ok"},
}
IN_FAULT = {
    "PostgreSQL": {
        "good token": {"503 unavailable"},
        "revoked token": {"503 unavailable"},
        "page": {UNREACHABLE},
        "create": {UNREACHABLE},
        "revoke": {UNREACHABLE},
        "leak report": {"503 unavailable"},
    },
    "SQLite": {
        "good token": {"200 ok"},
        "revoked token": {"401 token_revoked"},
        "page": {"200 page"},
        "create": {CANNOT_SAVE},
        "revoke": {CANNOT_SAVE},
        "leak report": {"503 unavailable"},
    },
}


# The faults ---------------------------------------------------------------------------


class StoppedDatabase:
    """PostgreSQL stopping: the proxy between the server and PostgreSQL is cut."""

    def __init__(self, database_url: str):
        url = make_url(database_url)
        if url.host is None or url.host.startswith("/") or "host" in url.query:
            pytest.skip("the proxy forwards TCP: give FLAGPAL_TEST_DATABASE_URL a host and port")
        self.proxy = DatabaseProxy((url.host, url.port or 5432))
        self.server_url = through(database_url, self.proxy)

    def inject(self) -> None:
        self.proxy.cut()

    def repair(self) -> None:
        self.proxy.restore()

    def close(self) -> None:
        self.proxy.close()


class FullDisk:
    """A disk that fills up: a tmpfs of the test's own holding the SQLite database,
    filled to the last byte by a filler file. Mounting needs root (CAP_SYS_ADMIN)."""

    SIZE = "64m"

    def __init__(self, folder: Path):
        folder.mkdir()
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.SIZE}", "tmpfs", str(folder)],
            capture_output=True,
            text=True,
        )
        if mounted.returncode != 0:
            folder.rmdir()
            pytest.skip(f"a full disk needs a tmpfs of its own: {mounted.stderr.strip()}")
        self.folder = folder
        self.path = folder / "flagpal.sqlite3"
        self.filler = folder / "filler"
        self.server_url = f"sqlite:///{self.path}"

    def inject(self) -> None:
        # The write-ahead log first gives its pages back to the database file, so no
        # write finds room left in it; then the filler takes every byte that is free.
        with sqlite3.connect(self.path, timeout=5) as connection:
            busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        connection.close()
        assert busy == 0, "the checkpoint could not finish"
        filler = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            chunk = b"\0" * (1 << 20)
            while True:
                os.write(filler, chunk)
        except OSError as error:
            assert error.errno == errno.ENOSPC
        finally:
            os.close(filler)

    def repair(self) -> None:
        self.filler.unlink(missing_ok=True)

    def integrity(self) -> str:
        with sqlite3.connect(self.path, timeout=5) as connection:
            (verdict,) = connection.execute("PRAGMA integrity_check").fetchone()
        connection.close()
        return verdict

    def close(self) -> None:
        self.repair()
        subprocess.run(["umount", "--lazy", str(self.folder)], check=True)


def copy_database(source_url: str, target: Path) -> None:
    """The migrated (empty) test database, copied to ``target``."""
    source = sqlite3.connect(make_url(source_url).database)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        source.close()
        copy.close()


# What a client sees ---------------------------------------------------------------------


def api_verdict(port: int, path: str, value: str) -> str:
    """``200 ok``, or the status and the JSON:API error code: ``503 unavailable``."""
    response, document = api_get(port, path, value)
    return document_verdict(response, document)


def document_verdict(response, document) -> str:
    if response.status < 300:
        return f"{response.status} ok"
    if response.headers["Content-Type"] != MEDIA_TYPE:
        return f"{response.status} not a JSON:API document"
    if response.status == 503 and not retry_after_given(response):
        return "503 without Retry-After"
    return f"{response.status} {document['errors'][0]['code']}"


def retry_after_given(response) -> bool:
    """A 503 says when to try again: 5 seconds, or (on a rate-limited route, where
    Flask-Limiter puts in the later of its own and the app's) when its window ends."""
    seconds = response.headers["Retry-After"] or ""
    return seconds.isdigit() and 5 <= int(seconds) <= 60


def leak_report_verdict(port: int, value: str) -> str:
    """A secret scanner reporting ``value`` as leaked: ``202 ok`` or the error code."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = json.dumps([{"token": value, "type": "flagpal_token", "source": "content"}])
        connection.request(
            "POST", "/api/v1/tokens/revoke", body, {"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    return document_verdict(response, json.loads(body) if body else None)


def error_verdict(response, text: str) -> str:
    """An error page's status and title: ``503 The database cannot be reached``; or
    ``unfriendly`` when it is not the app's page with a sentence for the person, or
    shows anything technical."""
    shown = soup(text)
    if (
        not response.headers["Content-Type"].startswith("text/html")
        or shown.select_one("[data-error-message]") is None
        or any(word in text.lower() for word in ("traceback", "psycopg", "sqlite"))
    ):
        return f"{response.status} unfriendly page"
    if response.status == 503 and not retry_after_given(response):
        return "503 without Retry-After"
    return f"{response.status} {text_of(shown.h1)}"


def csrf_token_of(text: str) -> str:
    return soup(text).find("input", attrs={"name": "csrf_token"})["value"]


@dataclass
class Outcome:
    """One request: what it was, when it started and ended, what it answered."""

    operation: str
    started: float
    ended: float
    verdict: str
    token_name: str | None = None  # of a create or a revoke
    value: str | None = None  # a created token's value, a list page's HTML

    @property
    def status(self) -> int:
        return int(self.verdict.split()[0])


def timed(outcomes: list[Outcome], operation: str, call, token_name=None) -> Outcome:
    """Make a request (``call`` answers a verdict and a value or None) and note it."""
    started = time.monotonic()
    verdict, value = call()
    outcome = Outcome(operation, started, time.monotonic(), verdict, token_name, value)
    outcomes.append(outcome)
    return outcome


class Developer:
    """A developer's browser: signed in, keeps the session, sends the CSRF token, and
    notes every request it makes in ``outcomes``."""

    def __init__(self, port: int, address: str, seed: "Seed"):
        self.port = port
        self.seed = seed
        self.outcomes: list[Outcome] = []
        self.visitor = Visitor(address)
        response, _ = self.visitor.sign_in(port, seed.email, PASSWORD)
        assert response.status == 302
        response, text = self.visitor.send(port, "GET", "/projects/shop/tokens")
        assert response.status == 200
        self.csrf_token = csrf_token_of(text)
        self.setup_requests = 3

    def good_token(self) -> Outcome:
        return timed(
            self.outcomes,
            "good token",
            lambda: (api_verdict(self.port, "/api/v1/token", self.seed.good), None),
        )

    def revoked_token(self) -> Outcome:
        return timed(
            self.outcomes,
            "revoked token",
            lambda: (api_verdict(self.port, "/api/v1/auth/read", self.seed.revoked), None),
        )

    def list_page(self, query: str = "") -> tuple[str, str]:
        response, text = self.visitor.send(self.port, "GET", "/projects/shop/tokens" + query)
        if response.status == 200:
            shown = text_of(soup(text).h1) == "API Tokens"
            return "200 page" if shown else "200 another page", text
        return error_verdict(response, text), text

    def page(self) -> Outcome:
        return timed(self.outcomes, "page", lambda: (self.list_page()[0], None))

    def create(self, name: str) -> Outcome:
        def call():
            form = {
                "csrf_token": self.csrf_token,
                "name": name,
                "abilities": "read",
                "expiration": "30",
            }
            response, text = self.visitor.send(self.port, "POST", "/projects/shop/tokens", form)
            if response.status == 201:
                return "201 created", soup(text).find(id="new-token-value")["value"]
            return error_verdict(response, text), None

        return timed(self.outcomes, "create", call, name)

    def token_id(self, name: str) -> int | None:
        """The id of the token ``name``, from the list filtered by its name (a request
        noted as a page); None if it is not listed."""
        query = "?" + urllib.parse.urlencode({"name": name})
        listed = timed(self.outcomes, "page", lambda: self.list_page(query))
        if listed.verdict != "200 page":
            return None
        for row in soup(listed.value).select("tr.token-row"):
            if text_of(row.select_one(".token-name")) == name:
                return int(row["id"].removeprefix("token-"))
        return None

    def report_leak(self, value: str, name: str) -> Outcome:
        return timed(
            self.outcomes,
            "leak report",
            lambda: (leak_report_verdict(self.port, value), None),
            name,
        )

    def revoke(self, token_id: int, name: str) -> Outcome:
        def call():
            path = f"/projects/shop/tokens/{token_id}/revoke"
            form = {"csrf_token": self.csrf_token}
            response, text = self.visitor.send(self.port, "POST", path, form)
            if response.status == 302:
                return "302 revoked", None
            return error_verdict(response, text), None

        return timed(self.outcomes, "revoke", call, name)


@dataclass
class Seed:
    good: str
    good_id: int
    revoked: str
    email: str = "dev@example.com"


def seed() -> Seed:
    """A project "Shop" with a developer, a good token and a revoked one."""
    developer = add_user("dev@example.com", "Dana Developer")
    project = create_project("Shop", actor=None)
    add_member(project, developer, Role.DEVELOPER, actor=None)
    db.session.commit()
    good, good_value = issue_token(project, "Good before")
    _, revoked = issue_token(project, "Revoked before", revoked_at=utcnow())
    return Seed(good_value, good.id, revoked)


# The load -----------------------------------------------------------------------------


class LoadClient(threading.Thread):
    """Rounds of requests until told to stop. Each round checks the good and the revoked
    token, creates a token, loads the list and, every other round, finds the new token
    in the list and revokes it."""

    def __init__(self, number: int, port: int, seed: Seed, stop: threading.Event):
        super().__init__(daemon=True)
        self.number = number
        self.stop = stop
        self.rounds_begun: list[float] = []  # when each finished round began
        self.progress = threading.Condition()
        self.failure: BaseException | None = None
        self.developer = Developer(port, f"127.0.0.{10 + number}", seed)

    def run(self) -> None:
        try:
            count = 0
            while not self.stop.is_set():
                begun = time.monotonic()
                self.one_round(count)
                with self.progress:
                    self.rounds_begun.append(begun)
                    self.progress.notify_all()
                count += 1
        except BaseException as error:  # surfaced by the test
            self.failure = error
            with self.progress:
                self.progress.notify_all()

    def one_round(self, count: int) -> None:
        developer = self.developer
        developer.good_token()
        developer.revoked_token()
        name = f"Load {self.number}-{count}"
        created = developer.create(name)
        developer.page()
        if created.verdict == "201 created" and count % 2 == 1:
            token_id = developer.token_id(name)
            if token_id is not None:
                developer.revoke(token_id, name)

    def rounds_since(self, moment: float) -> int:
        return sum(1 for begun in self.rounds_begun if begun >= moment)


class Load:
    def __init__(self, port: int, seed: Seed):
        self.stop = threading.Event()
        self.clients = [LoadClient(n, port, seed, self.stop) for n in range(CLIENTS)]
        for client in self.clients:
            client.start()

    def wait_for_rounds(self, rounds: int) -> None:
        """Until every client has made ``rounds`` full rounds that began from now on."""
        since = time.monotonic()
        for client in self.clients:
            with client.progress:
                done = client.progress.wait_for(
                    lambda c=client: c.failure is not None or c.rounds_since(since) >= rounds,
                    timeout=ROUND_TIMEOUT,
                )
            if client.failure is not None:
                raise client.failure
            assert done, f"client {client.number} made no round in {ROUND_TIMEOUT} s"

    def finish(self) -> list[Developer]:
        self.stop.set()
        for client in self.clients:
            client.join(timeout=ROUND_TIMEOUT)
            if client.failure is not None:
                raise client.failure
        return [client.developer for client in self.clients]


@dataclass
class Window:
    """One fault: ``began`` just before it was injected, ``injected`` once in place,
    ``repaired`` just before the repair, ``recovered`` when service was back."""

    began: float
    injected: float = 0.0
    repaired: float = 0.0
    recovered: float | None = None
    bad: list[str] = field(default_factory=list)


def phase(outcome: Outcome, windows: list[Window]) -> tuple[str, Window | None]:
    """``fault`` inside a fault, ``edge`` overlapping its start or recovery, or ``clear``."""
    for window in windows:
        if window.injected <= outcome.started and outcome.ended <= window.repaired:
            return "fault", window
        end = window.recovered if window.recovered is not None else float("inf")
        if outcome.started < end and outcome.ended > window.began:
            return "edge", window
    return "clear", None


# The test ------------------------------------------------------------------------------


@pytest.fixture
def fault(request, database_url, migrated, tmp_path):
    """The database the server uses, seeded, and the fault to inject into it."""
    if database_kind(database_url) == "SQLite":
        fault = FullDisk(tmp_path / "disk")
        fault.app = make_app(fault.server_url)
        try:
            copy_database(database_url, fault.path)
            with fault.app.app_context():
                fault.seed = seed()
                db.session.remove()
            yield fault
        finally:
            with fault.app.app_context():
                db.engine.dispose()
            fault.close()
    else:
        fault = StoppedDatabase(database_url)
        fault.app = request.getfixturevalue("app")  # empties the tables afterwards
        try:
            fault.seed = seed()
            yield fault
        finally:
            fault.close()


@pytest.fixture
def server(fault, tmp_path):
    """gunicorn as served (flagpal_dash/gunicorn_conf.py): two workers of four threads.
    Its error log and anything else it prints go to one file."""
    log = tmp_path / "server.log"
    env = {
        **os.environ,
        "FLAGPAL_DATABASE_URL": fault.server_url,
        "FLAGPAL_SECRET_KEY": "faults test",
        "FLAGPAL_INSTANCE_PATH": str(tmp_path),
        "FLAGPAL_BCRYPT_ROUNDS": "4",
        "FLAGPAL_ACCESS_LOG": "off",
        "FLAGPAL_ERROR_LOG": str(log),
        # Every request writes last-used and usage counts are saved every second, so
        # the faults catch those writes too.
        "FLAGPAL_LAST_USED_INTERVAL": "0",
        "FLAGPAL_USAGE_FLUSH_SECONDS": "1",
    }
    server = serve(env, log, workers=2)
    yield server.port, log
    server.stop()


def probe_inside(prober: Developer, kind: str, number: int) -> list[str]:
    """The test's own round inside a fault: what went wrong, if anything. (It revokes the
    good token and reports it as leaked: refused, it must keep working.)"""
    expected = IN_FAULT[kind]
    seen = [
        prober.good_token(),
        prober.revoked_token(),
        prober.page(),
        prober.create(f"Made during fault {number}"),
        prober.revoke(prober.seed.good_id, "Good before"),
        prober.report_leak(prober.seed.good, "Good before"),
    ]
    return [
        f"{outcome.operation} answered {outcome.verdict} inside the fault (the test's own)"
        for outcome in seen
        if outcome.verdict not in expected[outcome.operation]
    ]


def wait_for_recovery(prober: Developer, number: int) -> float | None:
    """When every kind of request works again, polled; None if not within
    RECOVERY_SECONDS of the repair."""
    deadline = time.monotonic() + RECOVERY_SECONDS
    while time.monotonic() < deadline:
        if (
            prober.good_token().verdict == "200 ok"
            and prober.page().verdict == "200 page"
            and prober.create(f"Made after fault {number}").verdict == "201 created"
        ):
            return time.monotonic()
        time.sleep(0.1)
    return None


def judge(outcome: Outcome, where: str, kind: str) -> bool:
    in_fault = IN_FAULT[kind][outcome.operation]
    allowed = {
        "clear": CLEAR[outcome.operation],
        "fault": in_fault,
        "edge": CLEAR[outcome.operation] | in_fault,
    }[where]
    return outcome.verdict in allowed


def test_service_survives_database_faults_under_load(database_url, fault, server):
    kind = database_kind(database_url)
    port, log = server
    prober = Developer(port, "127.0.0.9", fault.seed)
    windows: list[Window] = []
    load = Load(port, fault.seed)
    try:
        for number in range(FAULTS):
            load.wait_for_rounds(ROUNDS)
            window = Window(began=time.monotonic())
            windows.append(window)
            fault.inject()
            window.injected = time.monotonic()
            window.bad += probe_inside(prober, kind, number)
            load.wait_for_rounds(ROUNDS)
            window.repaired = time.monotonic()
            fault.repair()
            window.recovered = wait_for_recovery(prober, number)
            if window.recovered is None:
                window.bad.append(f"no service {RECOVERY_SECONDS} s after the repair")
        load.wait_for_rounds(ROUNDS)
    finally:
        developers = [prober, *load.finish()]
    outcomes = [outcome for developer in developers for outcome in developer.outcomes]

    # Every answer, judged by when it came.
    clear_problems: list[str] = []
    server_errors = 0
    refused_inside: list[Outcome] = []  # changes refused while the fault surely held
    for outcome in outcomes:
        where, window = phase(outcome, windows)
        if outcome.status == 500 or (outcome.status >= 500 and where == "clear"):
            server_errors += 1
        if not judge(outcome, where, kind):
            problem = f"{outcome.operation} answered {outcome.verdict} ({where})"
            (window.bad if window else clear_problems).append(problem)
        elif where == "fault" and outcome.operation in ("create", "revoke", "leak report"):
            refused_inside.append(outcome)

    # Afterwards, with no restart: what was made works, what was revoked stays refused,
    # and no refused change half-happened. (A change refused at a fault's edge may or
    # may not have been saved: its answer can be lost after the commit.)
    revokes = {o.token_name: o for o in outcomes if o.operation == "revoke"}
    still_good, refused = [fault.seed.good], [fault.seed.revoked]
    for made in (o for o in outcomes if o.verdict == "201 created"):
        revoke = revokes.get(made.token_name)
        if revoke is None or revoke in refused_inside:
            still_good.append(made.value)
        elif revoke.verdict == "302 revoked":
            refused.append(made.value)
    after = [
        f"a token made before answers {verdict}"
        for value in still_good
        if (verdict := api_verdict(port, "/api/v1/token", value)) != "200 ok"
    ] + [
        f"a revoked token answers {verdict}"
        for value in refused
        if (verdict := api_verdict(port, "/api/v1/auth/read", value)) != "401 token_revoked"
    ]
    with fault.app.app_context():
        db.session.expire_all()
        tokens = {token.name: token for token in db.session.scalars(select(ApiToken))}
        audited = " ".join(filter(None, db.session.scalars(select(AuditEvent.target))))
    for outcome in refused_inside:
        quoted = f"“{outcome.token_name}”"
        if outcome.operation == "create" and (outcome.token_name in tokens or quoted in audited):
            after.append(f"the refused create of {quoted} half-happened")
        if outcome.operation in ("revoke", "leak report"):
            if tokens[outcome.token_name].revoked_at is not None:
                after.append(f"the refused {outcome.operation} of {quoted} happened")

    record(
        f"faults, {kind}",
        requests=len(outcomes)
        + len(still_good)
        + len(refused)
        + sum(developer.setup_requests for developer in developers),
        server_errors=server_errors,
        faults_injected=len(windows),
        faults_survived=sum(1 for window in windows if not window.bad),
    )
    assert [window.bad for window in windows] == [[]] * len(windows)
    assert clear_problems == []
    assert after == []
    assert server_errors == 0
    assert len(refused_inside) >= 3 * len(windows), "the faults refused changes"
    if kind == "SQLite":
        assert fault.integrity() == "ok"
    assert "Traceback" not in log.read_text(), "one line per failure, not a stack trace"


# The same faults met once, in-process: what a person and the log see ----------------------


def test_a_full_disk_refuses_a_change_with_a_clear_page_and_one_line_logs(
    database_url, migrated, tmp_path, caplog
):
    """SQLite only (the PostgreSQL pass has no full disk to fill)."""
    if database_kind(database_url) != "SQLite":
        pytest.skip("a full disk under SQLite")
    disk = FullDisk(tmp_path / "disk")
    full = make_app(disk.server_url, LAST_USED_INTERVAL=0)
    try:
        copy_database(database_url, disk.path)
        with full.app_context():
            seeded = seed()
        client = full.test_client()
        response = client.post("/sign-in", data={"email": seeded.email, "password": PASSWORD})
        assert response.status_code == 302
        disk.inject()
        try:
            response = client.post(
                "/projects/shop/tokens",
                data={"name": "Made on a full disk", "abilities": ["read"], "expiration": "30"},
            )
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "5"
            shown = soup(response.text)
            assert text_of(shown.h1) == "Changes cannot be saved right now"
            message = text_of(shown.select_one("[data-error-message]"))
            assert "so nothing was changed" in message
            # Token checks are reads: the verdict stands; last-used and the usage counts
            # cannot be saved, and wait.
            response = client.get("/api/v1/token", headers=bearer(seeded.good))
            assert response.status_code == 200
            with full.app_context():
                assert flush_usage(full) == 0
        finally:
            disk.repair()
        with full.app_context():
            assert flush_usage(full) == 1, "the count kept in memory is saved now"
            assert db.session.scalar(select(ApiToken).filter_by(name="Made on a full disk")) is None
            db.session.remove()
        assert (
            client.post(
                "/projects/shop/tokens",
                data={"name": "Made after", "abilities": ["read"], "expiration": "30"},
            ).status_code
            == 201
        )
    finally:
        with full.app_context():
            db.engine.dispose()
        disk.close()
    failures = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in failures] == [
        "Database refused a write: database or disk is full",
        f"Could not record the use of token {seeded.good_id}: database or disk is full",
        "Could not save token usage counts; will try again: database or disk is full",
    ]
    assert not any(r.exc_info for r in failures), "one line each, not a stack trace"


def test_the_database_going_away_after_the_last_query_keeps_the_answer(database_url, app, caplog):
    """PostgreSQL stopping between a page's last query and the end of the request: the
    page is ready and goes out. (The session's rollback at the end used to fail there,
    and gunicorn answered a bare 500 in its place.)"""
    if database_kind(database_url) != "PostgreSQL":
        pytest.skip("a database server that stops: PostgreSQL")
    fault = StoppedDatabase(database_url)
    served = make_app(fault.server_url)
    cut_after = set()

    @served.after_request
    def stop_the_database(response):
        if request.path in cut_after:
            fault.inject()
        return response

    try:
        seeded = seed()
        client = served.test_client()
        response = client.post("/sign-in", data={"email": seeded.email, "password": PASSWORD})
        assert response.status_code == 302
        cut_after.add("/projects/shop/tokens")
        response = client.get("/projects/shop/tokens")
        assert response.status_code == 200
        assert text_of(soup(response.text).h1) == "API Tokens"
        fault.repair()
        cut_after.clear()
        assert client.get("/projects/shop/tokens").status_code == 200, "back by itself"
    finally:
        with served.app_context():
            db.engine.dispose()
        fault.close()
    failures = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage().split(":")[0] for r in failures] == ["Database unreachable"]
    assert not failures[0].exc_info
