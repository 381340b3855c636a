"""Serving for real: the gunicorn settings and their logs (never a token), the health and
readiness checks, running behind reverse proxies, and start-up faults that stop with one
clear line."""

import datetime
import importlib
import logging
import os
import subprocess
import time
import urllib.error
import urllib.request
from importlib.metadata import version
from types import SimpleNamespace

import flask_migrate
import pytest
from gunicorn.config import Config
from sqlalchemy import select
from werkzeug.middleware.proxy_fix import ProxyFix

from flagpal_dash import config, create_app, gunicorn_conf
from flagpal_dash.core.projects import create_project
from flagpal_dash.extensions import db
from flagpal_dash.models import AuditEvent, AuditKind

from .conftest import make_app
from .serving import BIN, FLASK, GUNICORN, ROOT, free_port, instance_environment, serve
from .support import PASSWORD, issue_token
from .test_api_token import bearer

# Nothing listens on port 1: connecting is refused at once.
UNREACHABLE = "postgresql+psycopg://flagpal:hunter2@127.0.0.1:1/flagpal"
TOKEN = "flagpal_" + "A" * 40 + "000000"  # token-shaped (its checksum does not matter here)
SECRET = "s3cr3t-invitation-code-abcdefghijklmnopqrstuv"
PROXY = {"REMOTE_ADDR": "10.0.0.2"}


def dispose(app) -> None:
    with app.app_context():
        db.engine.dispose()


# Health and readiness -------------------------------------------------------------------


def test_readyz_answers_200_when_the_database_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_json()["status"] == "ready"


def test_without_a_database_healthz_still_answers_and_readyz_says_503(caplog):
    app = make_app(UNREACHABLE)
    client = app.test_client()
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.text == "ok\n"
    started = time.monotonic()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert time.monotonic() - started < 5
    assert ready.headers["Cache-Control"] == "no-store"
    assert ready.get_json() == {
        "status": "unavailable",
        "detail": "The database cannot be reached.",
        "version": version("flagpal-dash"),
    }
    assert "127.0.0.1" not in ready.text, "no internals to a public probe"
    assert "Not ready: Cannot reach the database" in caplog.text
    assert "hunter2" not in caplog.text
    dispose(app)


# Behind reverse proxies -----------------------------------------------------------------


def sign_in_through_a_proxy(app, team, forwarded_for: str):
    response = app.test_client().post(
        "/sign-in",
        data={"email": team.owner.email, "password": PASSWORD},
        headers={"X-Forwarded-For": forwarded_for},
        environ_base=PROXY,
    )
    assert response.status_code == 302
    return db.session.scalars(
        select(AuditEvent.address)
        .where(AuditEvent.kind == AuditKind.SIGN_IN_SUCCEEDED.value)
        .order_by(AuditEvent.id.desc())
    ).first()


@pytest.mark.parametrize(
    ("trusted", "forwarded_for", "client_address"),
    [
        (0, "203.0.113.7", "10.0.0.2"),  # forged: nobody's headers are believed
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "198.51.100.66, 203.0.113.7", "203.0.113.7"),  # the first entry is the client's own
        (2, "198.51.100.66, 203.0.113.7", "198.51.100.66"),
    ],
)
def test_the_audit_log_records_the_address_the_trusted_proxies_saw(
    database_url, team, trusted, forwarded_for, client_address
):
    proxied = make_app(database_url, TRUSTED_PROXIES=trusted)
    assert sign_in_through_a_proxy(proxied, team, forwarded_for) == client_address
    dispose(proxied)


def test_sign_in_limits_count_the_client_behind_the_proxy(database_url, team):
    proxied = make_app(database_url, TRUSTED_PROXIES=1, SIGN_IN_LIMIT="1 per 5 minutes")
    visitor = proxied.test_client()

    def attempt(client_address: str) -> int:
        return visitor.post(
            "/sign-in",
            data={"email": "someone-proxied@example.com", "password": "wrong"},
            headers={"X-Forwarded-For": client_address},
            environ_base=PROXY,
        ).status_code

    assert attempt("192.0.2.71") == 422
    assert attempt("192.0.2.71") == 429
    assert attempt("192.0.2.72") == 422, "another client behind the same proxy is not locked out"
    dispose(proxied)


# Settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, {"TRUSTED_PROXIES": 0, "SECURE_COOKIES": False, "PREFERRED_URL_SCHEME": "http"}),
        (
            {"FLAGPAL_PUBLIC_URL": "https://flags.example.com/"},
            {
                "SECURE_COOKIES": True,
                "PREFERRED_URL_SCHEME": "https",
                "PUBLIC_URL": "https://flags.example.com",
            },
        ),
        ({"FLAGPAL_PUBLIC_URL": "http://10.0.0.5:8000"}, {"SECURE_COOKIES": False}),
        (
            {"FLAGPAL_PUBLIC_URL": "https://flags.example.com", "FLAGPAL_SECURE_COOKIES": "0"},
            {"SECURE_COOKIES": False},
        ),
        ({"FLAGPAL_SECURE_COOKIES": "on"}, {"SECURE_COOKIES": True}),
        ({"FLAGPAL_TRUSTED_PROXIES": "2"}, {"TRUSTED_PROXIES": 2}),
    ],
)
def test_proxy_and_https_settings(tmp_path, environ, expected):
    settings = config.from_environment({"FLAGPAL_SECRET_KEY": "x", **environ}, str(tmp_path))
    assert {key: settings[key] for key in expected} == expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("FLAGPAL_TRUSTED_PROXIES", "-1", "FLAGPAL_TRUSTED_PROXIES must be between 0 and 10"),
        ("FLAGPAL_TRUSTED_PROXIES", "one", "FLAGPAL_TRUSTED_PROXIES must be a whole number"),
        ("FLAGPAL_SECURE_COOKIES", "maybe", "FLAGPAL_SECURE_COOKIES must be 1 or 0"),
        ("FLAGPAL_PUBLIC_URL", "flags.example.com", "FLAGPAL_PUBLIC_URL must be an http or"),
        ("FLAGPAL_PUBLIC_URL", "ftp://flags.example.com", "FLAGPAL_PUBLIC_URL must be an http"),
        ("FLAGPAL_DATABASE_URL", "not a url", "FLAGPAL_DATABASE_URL is not a database URL"),
        (
            "FLAGPAL_DATABASE_URL",
            "oracle+nosuchdriver://flagpal:hunter2@db/flagpal",
            "FLAGPAL_DATABASE_URL names an unknown database driver 'oracle\\+nosuchdriver'",
        ),
        (
            "FLAGPAL_DATABASE_URL",
            "mysql+mysqldb://flagpal:hunter2@db/flagpal",
            "FLAGPAL_DATABASE_URL needs the 'mysql\\+mysqldb' driver, which is not installed",
        ),
    ],
)
def test_bad_serving_settings_are_refused_naming_the_variable(tmp_path, name, value, message):
    with pytest.raises(config.ConfigError, match=message) as refused:
        config.from_environment({"FLAGPAL_SECRET_KEY": "x", name: value}, str(tmp_path))
    assert "hunter2" not in str(refused.value)


def test_trusted_proxies_wrap_the_app_in_proxy_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("FLAGPAL_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("FLAGPAL_TRUSTED_PROXIES", "1")
    app = create_app()
    assert isinstance(app.wsgi_app, ProxyFix)
    assert (app.wsgi_app.x_for, app.wsgi_app.x_proto, app.wsgi_app.x_host) == (1, 1, 1)
    dispose(app)


# The gunicorn settings -------------------------------------------------------------------


@pytest.fixture
def reload_settings(monkeypatch):
    """Read flagpal_dash/gunicorn_conf.py again with the variables given."""

    def reload(**environ):
        for name in ("FLAGPAL_WORKERS", "WEB_CONCURRENCY", "FLAGPAL_BIND", "FLAGPAL_ACCESS_LOG"):
            monkeypatch.delenv(name, raising=False)
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        return importlib.reload(gunicorn_conf)

    yield reload
    monkeypatch.undo()
    importlib.reload(gunicorn_conf)


def test_workers_come_from_the_cpu_count_unless_set(reload_settings):
    cpus = len(os.sched_getaffinity(0))
    settings = reload_settings()
    assert settings.workers == min(2 * cpus + 1, 8)
    assert settings.bind == ["127.0.0.1:8000"]
    assert settings.worker_class == "gthread" and settings.threads >= 2
    assert (settings.timeout, settings.graceful_timeout, settings.keepalive) == (30, 30, 5)
    assert settings.accesslog == "-" and settings.errorlog == "-"
    assert settings.forwarded_allow_ips == "" and settings.secure_scheme_headers == {}
    assert reload_settings(WEB_CONCURRENCY="2").workers == 2
    settings = reload_settings(
        FLAGPAL_WORKERS="3", FLAGPAL_BIND="0.0.0.0:9000", FLAGPAL_ACCESS_LOG="off"
    )
    assert (settings.workers, settings.bind, settings.accesslog) == (3, ["0.0.0.0:9000"], None)


def test_a_bad_worker_count_stops_with_one_line(reload_settings):
    with pytest.raises(
        SystemExit, match="^Error: FLAGPAL_WORKERS must be between 1 and 64, not 0$"
    ):
        reload_settings(FLAGPAL_WORKERS="0")


@pytest.fixture
def gunicorn_logger(tmp_path):
    """gunicorn's logger as the config sets it up, logging to files in ``tmp_path``."""

    def make(access_log_format: str | None = None):
        cfg = Config()
        cfg.set("accesslog", str(tmp_path / "access.log"))
        cfg.set("errorlog", str(tmp_path / "error.log"))
        if access_log_format:
            cfg.set("access_log_format", access_log_format)
        return gunicorn_conf.RedactingLogger(cfg)

    names = ("gunicorn.error", "gunicorn.access")
    # gunicorn's Logger stops both from propagating: later tests expect them as they were.
    propagates = {name: logging.getLogger(name).propagate for name in names}
    yield make
    for name in names:
        log = logging.getLogger(name)
        for handler in list(log.handlers):
            handler.close()
            log.removeHandler(handler)
        log.propagate = propagates[name]


def log_request(logger, uri: str, headers: list[tuple[str, str]]) -> None:
    path, _, query = uri.partition("?")
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": uri,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "192.0.2.1",
        **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers},
    }
    response = SimpleNamespace(status="200 OK", sent=2, headers=[("Set-Cookie", "session=abc")])
    request = SimpleNamespace(headers=[(name.upper(), value) for name, value in headers])
    logger.access(response, request, environ, datetime.timedelta(milliseconds=3))


def test_the_access_log_never_holds_a_token_even_with_headers_in_the_format(
    tmp_path, gunicorn_logger
):
    logger = gunicorn_logger(
        "%(r)s|%(U)s|%(q)s|%(f)s|%(a)s|%(u)s|%({authorization}i)s|%({Cookie}i)s|"
        "%({set-cookie}o)s|%({http_authorization}e)s",
    )
    headers = [
        ("Authorization", f"Bearer {TOKEN}"),
        ("Cookie", "session=abc"),
        ("Referer", f"https://flags.example.com/invitations/{SECRET}?from=mail"),
        ("User-Agent", f"sdk/1.0 ({TOKEN})"),
    ]
    log_request(logger, f"/api/v1/token?token={TOKEN}&x=1", headers)
    log_request(logger, f"/invitations/{SECRET}", [])
    logged = (tmp_path / "access.log").read_text()
    first, second = logged.splitlines()
    assert first.split("|")[:3] == ["GET /api/v1/token HTTP/1.1", "/api/v1/token", "-"]
    assert "https://flags.example.com/invitations/[redacted]" in first
    assert second.startswith("GET /invitations/[redacted] HTTP/1.1|/invitations/[redacted]|")
    for secret in (TOKEN, SECRET, "Bearer", "session=abc", "token=", "from=mail"):
        assert secret not in logged


def test_the_error_log_never_holds_a_token(tmp_path, gunicorn_logger):
    logger = gunicorn_logger()
    logger.error("Invalid request line: %r", f"GET /api/v1/token?token={TOKEN} HTTP/1.1")
    try:
        raise ValueError(f"bad header: Bearer {TOKEN}")
    except ValueError:
        logger.exception(f"Error handling request /invitations/{SECRET}")
    logged = (tmp_path / "error.log").read_text()
    assert (
        "Invalid request line" in logged and "ValueError: bad header: Bearer [redacted]" in logged
    )
    assert TOKEN not in logged and SECRET not in logged


def fetch(url: str, headers: dict | None = None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as error:
        error.close()
        return error.code, error.headers


def test_gunicorn_with_the_config_serves_and_logs_no_token(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'flagpal.sqlite3'}"
    setup = make_app(database_url)
    with setup.app_context():
        flask_migrate.upgrade()
        project = create_project("Served", actor=None)
        db.session.commit()
        _, value = issue_token(project, "Served")
        db.session.remove()
    dispose(setup)

    access_log, error_log = tmp_path / "access.log", tmp_path / "error.log"
    env = instance_environment(
        database_url, tmp_path, ACCESS_LOG=str(access_log), ERROR_LOG=str(error_log)
    )
    server = serve(env, tmp_path / "output.log", workers=1, threads=2)
    base = server.url
    try:
        status, headers = fetch(f"{base}/api/v1/token", bearer(value))
        assert status == 200
        assert headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert fetch(f"{base}/api/v1/token?token={value}")[0] == 401
        assert fetch(f"{base}/invitations/{SECRET}")[0] == 404
        assert fetch(f"{base}/readyz")[0] == 200
    finally:
        server.stop()
    logged = access_log.read_text()
    assert '"GET /api/v1/token HTTP/1.1" 200' in logged
    assert '"GET /api/v1/token HTTP/1.1" 401' in logged
    assert '"GET /invitations/[redacted] HTTP/1.1" 404' in logged
    assert '"GET /readyz HTTP/1.1" 200' in logged
    everything = logged + error_log.read_text()
    for secret in (value, value[8:], "Bearer", "token=", SECRET):
        assert secret not in everything


# Start-up faults --------------------------------------------------------------------------

BAD_DATABASES = [
    ("not a url", "Error: FLAGPAL_DATABASE_URL is not a database URL"),
    (
        "oracle+nosuchdriver://flagpal:hunter2@db/flagpal",
        "Error: FLAGPAL_DATABASE_URL names an unknown database driver",
    ),
    (UNREACHABLE, "Error: Cannot reach the database postgresql+psycopg://flagpal:***@127.0.0.1:1"),
]


def run_with_database(
    command: list[str], database_url: str, tmp_path
) -> subprocess.CompletedProcess:
    env = instance_environment(database_url, tmp_path, BIND=f"127.0.0.1:{free_port()}")
    env.pop("GUNICORN_CMD_ARGS", None)
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def own_lines(stderr: str) -> list[str]:
    """Standard error without gunicorn's own timestamped log lines."""
    return [line for line in stderr.splitlines() if not line.startswith("[")]


@pytest.mark.parametrize(("database_url", "line"), BAD_DATABASES)
def test_flask_db_upgrade_with_a_bad_database_stops_with_one_line(tmp_path, database_url, line):
    finished = run_with_database([*FLASK, "db", "upgrade"], database_url, tmp_path)
    assert finished.returncode != 0
    [only] = finished.stderr.splitlines()
    assert only.startswith(line)
    assert "hunter2" not in finished.stdout + finished.stderr


@pytest.mark.parametrize(("database_url", "line"), BAD_DATABASES)
def test_gunicorn_with_a_bad_database_stops_before_serving(tmp_path, database_url, line):
    finished = run_with_database(GUNICORN, database_url, tmp_path)
    assert finished.returncode != 0
    [only] = own_lines(finished.stderr)
    assert only.startswith(line)
    assert "Traceback" not in finished.stderr
    assert "Booting worker" not in finished.stderr, "stopped before any worker started"
    assert "hunter2" not in finished.stdout + finished.stderr


def test_gunicorn_without_the_config_stops_too_on_a_bad_setting(tmp_path):
    """wsgi.py exits with gunicorn's "cannot load" status: no worker restarting forever."""
    finished = run_with_database(
        [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{free_port()}", "wsgi:app"],
        "not a url",
        tmp_path,
    )
    assert finished.returncode == 4
    assert own_lines(finished.stderr) == [
        "Error: FLAGPAL_DATABASE_URL is not a database URL: it should read like "
        "postgresql+psycopg://user:password@host/dbname or sqlite:////path/to/file.sqlite3"
    ]
    assert "Traceback" not in finished.stderr
