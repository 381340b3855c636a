"""Secret hygiene: after a full run, no token value, invitation or password reset secret
or password is left in any log line, any page, any database column or any backup file.

The run: a gunicorn server as served (flagpal_dash/gunicorn_conf.py, at log level debug)
with its access log, its error log and its output in files. People sign in with wrong
and right passwords (one types the password into the email field), create tokens in the
dashboard (a plain form and htmx), rotate one and revoke one; apps verify tokens on both
API endpoints, good, unknown, malformed and revoked, and also send them where they do
not belong (a query string, the forwarded URI, the path, other headers and schemes); a
secret scanner reports one as leaked, with the token in the URL where it was found; the
owner makes a personal access token on the Account page, uses it on the management API
and sends it where it does not belong, and it is reported as leaked too; an
owner invites someone, who joins by the link with a new password and signs in again,
then chooses another password from a reset link printed by ``users reset-link``;
``tokens create`` makes one on the command line; then ``flask --app wsgi backup PATH``.

Then every place is searched for every secret: each line of the server's logs and of
the in-process log (caplog at DEBUG: SQLAlchemy's statements, parameters and rows too);
every response a client had (headers, body, and the session cookie decoded), except the
one that shows a secret to the person it is for; every column of every row of every
table, as text; for SQLite the database file and its write-ahead log, byte by byte, and
the backup (``backup`` copies SQLite only; for PostgreSQL no pg_dump is taken); and what
the command line printed besides the one value it shows. A secret's SHA-256 in the
database is fine; the plain value is a leak, and so are a token's 40 random characters
without its prefix or checksum, or a password URL-encoded.
"""

import http.client
import json
import logging
import os
import socket
import subprocess
import urllib.parse
from base64 import b64encode
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import MetaData, create_engine, select, text
from sqlalchemy.engine import make_url

from flagpal_dash import token_format
from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, Webhook, utcnow

from ..serving import FLASK, ROOT, Server, serve
from ..support import HTMX, PASSWORD, add_user, issue_token, soup
from . import database_kind, record

SECRET_KEY = "test secret key"  # the app fixture's: the test can read the server's cookies
WRONG_PASSWORD = "Tr0ub4dor&3 is not it"
NEWCOMER_PASSWORD = "a long passphrase, 7 words"
NEWCOMER_WRONG_PASSWORD = "a long passphrase, 8 words"
RESET_PASSWORD = "chosen from a reset link, at last"


class Scanner:
    """Searches whatever it is given for every secret it knows, and notes each secret
    found with where: ``found`` holds (what the secret is, where) pairs."""

    def __init__(self):
        self.variants: dict[str, str] = {}  # text to look for -> what the secret is
        self.found: set[tuple[str, str]] = set()
        self.places = 0

    def add(self, what: str, secret: str) -> None:
        variants = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
        # Encoders that encode more than they must write ``_`` as %5F (or %5f).
        variants |= {secret.replace("_", "%5F"), secret.replace("_", "%5f")} - {secret}
        if token_format.is_well_formed(secret):
            # Its random characters are the secret: without the prefix or the checksum,
            # a token can still be rebuilt.
            random = secret[len(token_format.PREFIX) :][:40]
            variants.add(random)
        if token_format.is_well_formed_personal(secret):
            variants.add(secret[len(token_format.PERSONAL_PREFIX) :][:40])
        for variant in variants:
            self.variants[variant] = what

    def text(self, where: str, content: str) -> None:
        self.places += 1
        for variant, what in self.variants.items():
            if variant in content:
                self.found.add((what, where))

    def data(self, where: str, content: bytes) -> None:
        self.places += 1
        for variant, what in self.variants.items():
            if variant.encode() in content:
                self.found.add((what, where))

    def log(self, where: str, content: str) -> int:
        """Each line of a log; the number of lines."""
        lines = content.splitlines()
        for number, line in enumerate(lines, 1):
            self.text(f"{where}, line {number}", line)
        return len(lines)

    def database(self, engine) -> int:
        """Every column of every row of every table, as text; the number of rows."""
        tables = MetaData()
        tables.reflect(engine)
        rows = 0
        with engine.connect() as connection:
            for table in tables.sorted_tables:
                for row in connection.execute(select(table)):
                    rows += 1
                    for column, value in row._mapping.items():
                        if value is not None:
                            self.text(f"table {table.name}, column {column}", str(value))
        return rows


def test_the_scanner_finds_a_planted_secret_wherever_it_is(tmp_path):
    """The hygiene test cannot pass for want of looking: each kind of place it searches
    gives up a secret planted in it, in each form it looks for."""
    scanner = Scanner()
    value, other = token_format.generate(), token_format.generate()
    scanner.add("a token", value)
    scanner.add("a password", "correct horse")
    log = tmp_path / "access.log"
    log.write_text(
        '127.0.0.1 "GET /healthz HTTP/1.1" 200\n'
        f'127.0.0.1 "GET /api/v1/token?key={value[8:48]} HTTP/1.1" 401\n'
    )
    assert scanner.log("access log", log.read_text()) == 2
    scanner.text("a page", "<p>You typed correct+horse</p>")
    scanner.data("a backup", b"\x00SQLite format 3\x00" + value.encode())
    engine = create_engine(f"sqlite:///{tmp_path / 'planted.sqlite3'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
        connection.execute(
            text("INSERT INTO notes (body) VALUES (:safe), (:leak)"),
            {"safe": token_format.digest(value), "leak": f"found {value} here"},
        )
    assert scanner.database(engine) == 2
    engine.dispose()
    scanner.text("another page", f"{other} and {token_format.digest(value)}")
    assert scanner.found == {
        ("a token", "access log, line 2"),
        ("a password", "a page"),
        ("a token", "a backup"),
        ("a token", "table notes, column body"),
    }


# The run ----------------------------------------------------------------------------------


@dataclass
class Seen:
    """A response as a client had it."""

    request: str
    status: int
    headers: list[tuple[str, str]]
    text: str


class Run:
    """The full run's HTTP traffic. Every response is kept to be searched, except the
    one that shows a secret to the person it is for (``shown_once``)."""

    def __init__(self, port: int):
        self.port = port
        self.seen: list[Seen] = []
        self.requests = 0

    def send(self, method: str, path: str, headers: dict | None = None, body=None) -> Seen:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body, headers or {})
            response = connection.getresponse()
            content = response.read().decode()
        finally:
            connection.close()
        seen = Seen(f"{method} {path}", response.status, response.getheaders(), content)
        self.seen.append(seen)
        self.requests += 1
        return seen

    def api(self, path: str, headers: dict | None = None) -> tuple[int, str]:
        """A token API request: the status and the error code (``ok`` for 2xx)."""
        seen = self.send("GET", path, headers)
        if seen.status < 300:
            return seen.status, "ok"
        return seen.status, json.loads(seen.text)["errors"][0]["code"]

    def shown_once(self, seen: Seen, secret: str) -> None:
        """``seen`` is where ``secret`` is shown, to the person it is for: it must be
        there, and nowhere else."""
        assert secret in seen.text
        self.seen.remove(seen)


class Browser:
    """A person's browser: keeps the session cookie, and sends the CSRF token from the
    last page it loaded with every form (or in htmx's header)."""

    def __init__(self, run: Run):
        self.run = run
        self.cookie = ""
        self.csrf_token = ""

    def send(self, method: str, path: str, form: dict | None = None, headers=None) -> Seen:
        headers = dict(headers or {})
        if self.cookie:
            headers["Cookie"] = self.cookie
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        seen = self.run.send(method, path, headers, body)
        for name, value in seen.headers:
            if name.lower() == "set-cookie" and value.startswith("session="):
                self.cookie = value.split(";", 1)[0]
        field = soup(seen.text).find("input", attrs={"name": "csrf_token"})
        if field is not None:
            self.csrf_token = field["value"]
        return seen

    def get(self, path: str, headers=None) -> Seen:
        return self.send("GET", path, headers=headers)

    def post(self, path: str, form: dict, headers=None) -> Seen:
        return self.send("POST", path, {"csrf_token": self.csrf_token, **form}, headers)

    def htmx_post(self, path: str, form: dict) -> Seen:
        headers = {**HTMX, "X-CSRFToken": self.csrf_token}
        return self.send("POST", path, form, headers)

    def sign_in(self, email: str, password: str) -> Seen:
        self.get("/sign-in")
        return self.post("/sign-in", {"email": email, "password": password})


def token_id(name: str) -> int:
    db.session.expire_all()
    return db.session.scalar(select(ApiToken.id).where(ApiToken.name == name))


def start_server(database_url: str, folder: Path) -> Server:
    env = {
        **os.environ,
        "FLAGPAL_DATABASE_URL": database_url,
        "FLAGPAL_SECRET_KEY": SECRET_KEY,
        "FLAGPAL_INSTANCE_PATH": str(folder),
        "FLAGPAL_BCRYPT_ROUNDS": "4",
        "FLAGPAL_USAGE_FLUSH_SECONDS": "1",
        "FLAGPAL_ACCESS_LOG": str(folder / "access.log"),
        "FLAGPAL_ERROR_LOG": str(folder / "error.log"),
        # Webhook deliveries from the servers' thread, to a receiver on this machine.
        "FLAGPAL_DELIVERIES": "on",
        "FLAGPAL_WEBHOOK_ALLOW_PRIVATE": "on",
    }
    # The most an operator would turn on: gunicorn logs every request's path too.
    return serve(env, folder / "output.log", workers=2, gunicorn_args="--log-level debug")


def test_no_secret_is_left_anywhere_after_a_full_run(
    app, team, database_url, tmp_path, caplog, receiver
):
    caplog.set_level(logging.DEBUG)
    kind = database_kind(database_url)
    scanner = Scanner()
    scanner.add("a password", PASSWORD)
    scanner.add("a wrong password", WRONG_PASSWORD)
    admin = add_user("ada@example.com", "Ada Admin", admin=True)
    db.session.commit()
    _, seeded = issue_token(team.project, "Seeded backend")
    _, revoked = issue_token(team.project, "Seeded and revoked", revoked_at=utcnow())
    _, leaked = issue_token(team.project, "Leaked on GitHub")
    _, rotates_itself = issue_token(
        team.project, "Rotates itself", abilities=frozenset({"read", "rotate"})
    )
    unknown = token_format.generate()  # well-formed, never issued
    for what, value in [
        ("a token issued", seeded),
        ("a revoked token", revoked),
        ("a token reported as leaked", leaked),
        ("a token that rotates itself", rotates_itself),
        ("an unknown token sent", unknown),
    ]:
        scanner.add(what, value)

    folder = tmp_path / "server"
    folder.mkdir()
    server = start_server(database_url, folder)
    port = server.port
    run = Run(port)
    cli_output: list[str] = []
    try:
        # Signing in: wrong, the password in the email field, then right.
        owner = Browser(run)
        assert owner.sign_in(team.owner.email, WRONG_PASSWORD).status == 422
        typed = owner.sign_in(PASSWORD, PASSWORD)
        assert typed.status == 422
        # The form gives the person back what they typed, to correct it: only to them.
        run.shown_once(typed, PASSWORD)
        assert owner.sign_in(team.owner.email, PASSWORD).status == 302

        # A webhook for every event, its secret shown once; then its page, Send test and
        # a new secret, shown once too. Every event that follows is delivered to it.
        owner.get("/projects/shop/settings/webhooks")
        added = owner.post(
            "/projects/shop/settings/webhooks",
            {"url": receiver.url, "all_events": "y", "format": "json"},
        )
        assert added.status == 201
        first_secret = soup(added.text).find(id="webhook-secret")["value"]
        run.shown_once(added, first_secret)
        scanner.add("a webhook secret", first_secret)
        webhook_page = "/projects/shop/settings/webhooks/" + str(
            db.session.scalar(select(Webhook.id))
        )
        owner.get(webhook_page)
        assert owner.post(webhook_page + "/test", {}).status == 302
        owner.get(webhook_page)
        renewed = owner.post(webhook_page + "/secret", {})
        assert renewed.status == 200
        webhook_secret = soup(renewed.text).find(id="webhook-secret")["value"]
        run.shown_once(renewed, webhook_secret)
        scanner.add("a new webhook secret", webhook_secret)

        # Tokens made in the dashboard, each shown once.
        owner.get("/projects/shop/tokens")
        made = owner.post(
            "/projects/shop/tokens",
            {"name": "Shop backend", "abilities": ["read", "write"], "expiration": "30"},
        )
        assert made.status == 201
        backend = soup(made.text).find(id="new-token-value")["value"]
        run.shown_once(made, backend)
        scanner.add("a token made in the dashboard", backend)
        made = owner.htmx_post(
            "/projects/shop/tokens",
            {"name": "Shop worker", "abilities": ["read"], "expiration": "never"},
        )
        assert made.status == 201
        worker = soup(made.text).find(id="new-token-value")["value"]
        run.shown_once(made, worker)
        scanner.add("a token made in the dashboard (htmx)", worker)

        # Rotating the backend's token (the old one works an hour more), revoking the
        # worker's; the dialogs before each.
        backend_id, worker_id = token_id("Shop backend"), token_id("Shop worker")
        owner.get("/projects/shop/tokens")
        owner.get(f"/projects/shop/tokens/{backend_id}/rotate", HTMX)
        owner.get(f"/projects/shop/tokens/{backend_id}/rotate")
        rotated = owner.post(
            f"/projects/shop/tokens/{backend_id}/rotate", {"expiration": "30", "grace": "1h"}
        )
        assert rotated.status == 201
        replacement = soup(rotated.text).find(id="new-token-value")["value"]
        run.shown_once(rotated, replacement)
        scanner.add("a token made by rotation", replacement)
        owner.get(f"/projects/shop/tokens/{worker_id}/revoke", HTMX)
        owner.get(f"/projects/shop/tokens/{worker_id}/revoke")
        assert owner.post(f"/projects/shop/tokens/{worker_id}/revoke", {}).status == 302

        # Apps: both endpoints, good, unknown, malformed, revoked.
        def bearer(value: str) -> dict:
            return {"Authorization": f"Bearer {value}"}

        for value in (seeded, backend, replacement):
            assert run.api("/api/v1/token", bearer(value)) == (200, "ok")
            assert run.api("/api/v1/auth/read", bearer(value)) == (204, "ok")
        forwarded = {"X-Original-Method": "POST", "X-Original-URI": "/api/features/checkout"}
        assert run.api("/api/v1/auth", {**bearer(backend), **forwarded}) == (204, "ok")
        assert run.api("/api/v1/token", bearer(unknown)) == (401, "token_invalid")
        broken = seeded[:-1] + ("A" if seeded[-1] != "A" else "B")
        assert run.api("/api/v1/token", bearer(broken)) == (401, "token_malformed")
        for value in (revoked, worker):
            assert run.api("/api/v1/token", bearer(value)) == (401, "token_revoked")
            assert run.api("/api/v1/auth/read", bearer(value)) == (401, "token_revoked")
        # ... and where a token does not belong.
        misplaced = [
            (f"/api/v1/token?token={seeded}", {}),
            (f"/api/v1/token?access_token={seeded}", bearer(seeded)),
            (f"/api/v1/auth/read?api_key={backend}", {}),
            (f"/api/v1/token/{seeded}", {}),
            (f"/api/v1/token/{seeded.replace('_', '%5F')}", {}),
            (f"/sign-in/{backend.replace('_', '%5f')}", {"Referer": f"/x/{seeded}"}),
            (f"/projects/shop/tokens/{seeded}", {}),
            (
                "/api/v1/auth",
                {
                    **bearer(seeded),
                    "X-Original-Method": "GET",
                    "X-Original-URI": f"/api/features?token={backend}",
                },
            ),
            ("/api/v1/token", {"X-API-Key": seeded}),
            ("/api/v1/token", {"Authorization": f"Token {seeded}"}),
            ("/api/v1/token", {"Authorization": f"bearer {seeded}"}),
            ("/api/v1/token", {"Authorization": f"Bearer {seeded}, Bearer {backend}"}),
            (
                "/api/v1/token",
                {"Authorization": "Basic " + b64encode(f"{seeded}:".encode()).decode()},
            ),
            ("/api/v1/token", {"Authorization": f"Bearer {seeded}", "Referer": f"/?t={seeded}"}),
        ]
        # An app rotates its own token: the new value in that answer alone; the old one
        # cannot rotate again (its refusal names the replacement by its hint only).
        rotation = json.dumps({"data": {"type": "api-tokens", "attributes": {"grace": "1h"}}})
        api_json = {"Content-Type": "application/vnd.api+json"}
        rotated_itself = run.send(
            "POST", "/api/v1/token/rotate", {**bearer(rotates_itself), **api_json}, rotation
        )
        assert rotated_itself.status == 201
        self_replacement = json.loads(rotated_itself.text)["meta"]["value"]
        run.shown_once(rotated_itself, self_replacement)
        scanner.add("a token made by self-rotation", self_replacement)
        again = run.send(
            "POST", "/api/v1/token/rotate", {**bearer(rotates_itself), **api_json}, rotation
        )
        assert again.status == 409
        for value in (rotates_itself, self_replacement):
            assert run.api("/api/v1/token", bearer(value)) == (200, "ok")
        for path, headers in misplaced:
            assert run.send("GET", path, headers).status in (200, 401, 404), path
        # A request gunicorn cannot parse, a token in its line: refused before the app,
        # and logged as a warning. (Its answer quotes the line back to the sender alone.)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(f"GET /api/v1/token?token={seeded} HTTP/1.1 x\r\n\r\n".encode())
            assert connection.recv(65536).startswith(b"HTTP/1.1 400 ")

        # A secret scanner reports one, with the token in the URL where it was found.
        report = [
            {
                "token": leaked,
                "type": "flagpal_api_token",
                "url": f"https://github.com/acme/shop/blob/main/.env?line=3&token={leaked}",
                "source": f"content {leaked}",
            }
        ]
        seen = run.send(
            "POST",
            "/api/v1/tokens/revoke",
            {"Content-Type": "application/json"},
            json.dumps(report),
        )
        assert seen.status == 202
        assert run.api("/api/v1/token", bearer(leaked)) == (401, "token_revoked")

        # A personal access token made on the Account page, shown once; used on the
        # management API, sent where it does not belong, then reported as leaked.
        owner.get("/account")
        expires_on = (utcnow() + timedelta(days=30)).date().isoformat()
        made = owner.post("/account/tokens", {"name": "Release script", "expires_on": expires_on})
        assert made.status == 201
        personal = soup(made.text).find(id="new-token-value")["value"]
        run.shown_once(made, personal)
        scanner.add("a personal access token", personal)
        owner.get("/account")
        assert run.api("/api/v1/projects", bearer(personal)) == (200, "ok")
        assert run.api("/api/v1/projects/shop/audit-events", bearer(personal)) == (200, "ok")
        assert run.api("/api/v1/projects/shop/tokens", bearer(personal)) == (200, "ok")
        assert run.api("/api/v1/token", bearer(personal)) == (401, "token_malformed")
        assert run.api(f"/api/v1/projects?token={personal}") == (401, "token_malformed")
        assert run.api("/api/v1/projects", bearer(seeded)) == (401, "personal_token_required")
        report = [{"token": personal, "url": f"https://example.com/ci.log?t={personal}"}]
        seen = run.send(
            "POST",
            "/api/v1/tokens/revoke",
            {"Content-Type": "application/json"},
            json.dumps(report),
        )
        assert seen.status == 202
        assert run.api("/api/v1/projects", bearer(personal)) == (401, "token_revoked")

        # An invitation: its link shown once, then followed by the newcomer, who joins
        # with a new password, signs out, and signs in wrong, then right.
        owner.get("/projects/shop/invitations/new")
        invited = owner.post(
            "/projects/shop/invitations", {"email": "nia@example.com", "role": "developer"}
        )
        assert invited.status == 201
        link = soup(invited.text).find(id="invitation-link")["value"]
        secret = link.rsplit("/", 1)[1]
        assert len(secret) >= 40
        run.shown_once(invited, link)
        scanner.add("an invitation secret", secret)
        scanner.add("a newcomer's password", NEWCOMER_PASSWORD)
        scanner.add("a newcomer's wrong password", NEWCOMER_WRONG_PASSWORD)
        newcomer = Browser(run)
        assert newcomer.get(f"/invitations/{secret}").status == 200
        joined = newcomer.post(
            f"/invitations/{secret}",
            {
                "name": "Nia Newcomer",
                "password": NEWCOMER_PASSWORD,
                "confirm_password": NEWCOMER_PASSWORD,
            },
        )
        assert joined.status == 302
        newcomer.get("/projects/shop")
        assert newcomer.post("/sign-out", {}).status == 302
        assert newcomer.get(f"/invitations/{secret}").status == 410
        assert newcomer.sign_in("nia@example.com", NEWCOMER_WRONG_PASSWORD).status == 422
        assert newcomer.sign_in("nia@example.com", NEWCOMER_PASSWORD).status == 302
        newcomer.get("/projects/shop/tokens")

        # A password reset link for her, printed by the command line, followed with yet
        # another password, which then signs in.
        printed = app.test_cli_runner().invoke(args=["users", "reset-link", "nia@example.com"])
        assert printed.exit_code == 0, printed.output
        [reset_link] = [word for word in printed.output.split() if "/password-reset/" in word]
        reset_secret = reset_link.rsplit("/", 1)[1]
        scanner.add("a password reset secret", reset_secret)
        scanner.add("a password chosen from a reset link", RESET_PASSWORD)
        recovering = Browser(run)
        assert recovering.get(f"/password-reset/{reset_secret}").status == 200
        chosen = recovering.post(
            f"/password-reset/{reset_secret}",
            {"password": RESET_PASSWORD, "confirm_password": RESET_PASSWORD},
        )
        assert chosen.status == 302
        assert recovering.get(f"/password-reset/{reset_secret}").status == 410
        assert Browser(run).sign_in("nia@example.com", RESET_PASSWORD).status == 302

        # The command line makes one; it is shown once, on standard output.
        made = app.test_cli_runner().invoke(
            args=["tokens", "create", "shop", "--name", "Nightly job", "--ability", "read"]
        )
        assert made.exit_code == 0, made.output
        nightly = made.stdout.strip().splitlines()[-1]
        scanner.add("a token made on the command line", nightly)
        cli_output.append(made.stderr)
        assert run.api("/api/v1/token", bearer(nightly)) == (200, "ok")

        # Every page there is to look at now, by everyone.
        for path in [
            "/projects/shop/tokens",
            "/projects/shop/tokens?status=revoked",
            "/projects/shop/tokens?status=active",
            f"/projects/shop/tokens/{token_id('Nightly job')}/revoke",
            "/projects/shop/audit",
            "/projects/shop/members",
            "/projects/shop/settings/webhooks",
            webhook_page,
            "/projects/shop",
            "/account",
            "/",
        ]:
            assert owner.get(path).status == 200, path
        administrator = Browser(run)
        assert administrator.sign_in(admin.email, PASSWORD).status == 302
        for path in ["/admin/audit", "/admin/users", "/projects/shop/tokens"]:
            assert administrator.get(path).status in (200, 404), path
        for member in (team.developer, team.viewer):
            visitor = Browser(run)
            assert visitor.sign_in(member.email, PASSWORD).status == 302
            assert visitor.get("/projects/shop/tokens").status == 200
        exported = app.test_cli_runner().invoke(args=["audit", "export", "--since", "2000-01-01"])
        assert exported.exit_code == 0, exported.output
        cli_output.append(exported.output)

        # A backup, while the server runs.
        backup = tmp_path / "backup.sqlite3"
        if kind == "SQLite":
            env = {**os.environ, "FLAGPAL_DATABASE_URL": database_url}
            env["FLAGPAL_SECRET_KEY"], env["FLAGPAL_INSTANCE_PATH"] = SECRET_KEY, str(folder)
            done = subprocess.run(
                [*FLASK, "backup", str(backup)], cwd=ROOT, env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, done.stderr
            cli_output.append(done.stdout + done.stderr)
        # The events of the run reached the receiver (the tokens' four, at least).
        delivered = receiver.wait_for(6, timeout=60)
    finally:
        server.stop()

    # The search. First, that there was something to search.
    assert len(delivered) >= 6
    for number, request in enumerate(receiver.requests, 1):
        scanner.text(f"webhook delivery {number}", request.body.decode())
        scanner.text(f"webhook delivery {number}'s headers", str(request.headers))
    access_log = (folder / "access.log").read_text()
    started = access_log.count('"GET /healthz HTTP/1.1" 200')  # waiting for the server
    assert scanner.log("the access log", access_log) == run.requests + started
    error_log = (folder / "error.log").read_text()
    assert scanner.log("the error log", error_log) > run.requests
    scanner.log("the server's output", (folder / "output.log").read_text())
    for number, output in enumerate(cli_output, 1):
        scanner.log(f"command line output {number}", output)
    for seen in run.seen:
        where = f"the response to {seen.request}"
        scanner.text(where, "\n".join(f"{name}: {value}" for name, value in seen.headers))
        scanner.text(where, seen.text)
        for name, value in seen.headers:
            if name.lower() == "set-cookie" and value.startswith("session="):
                cookie = value.split(";", 1)[0].removeprefix("session=")
                serializer = app.session_interface.get_signing_serializer(app)
                session = str(serializer.loads(cookie))
                scanner.text(f"the session cookie from {seen.request}", session)
    assert scanner.database(db.engine) > 20
    if kind == "SQLite":
        database = Path(make_url(database_url).database)
        for file in (database, database.with_name(database.name + "-wal"), backup):
            if file.exists():
                # Read by another process: closing a file of the live database here would
                # drop the locks this process's SQLite connections hold on it (POSIX
                # locks are per process), and later tests would meet "disk I/O error".
                raw = subprocess.run(["cat", str(file)], capture_output=True, check=True)
                scanner.data(f"the file {file.name}", raw.stdout)
        assert backup.stat().st_size > 0
    scanner.log("the in-process log", caplog.text)

    record(
        f"secret hygiene, {kind}",
        requests=run.requests + 1 + 3,  # the unparsable one, and the command line
        secrets_found=len(scanner.found),
    )
    leaks = sorted(f"{what} in {where}" for what, where in scanner.found)
    assert leaks == [], "\n".join(leaks)
    # Where the redaction had work to do, the lines are there, redacted.
    assert '"GET /api/v1/token/[redacted] HTTP/1.1" 404' in access_log
    assert "Invalid request from ip=127.0.0.1" in error_log
