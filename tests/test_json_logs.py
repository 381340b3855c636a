"""FLAGPAL_LOG_FORMAT=json: gunicorn's access and error logs and the app's logs, served
for real, are one JSON object a line, with the client the app believes, and never a
token."""

import datetime
import importlib
import json
import logging
import sys
import time
import urllib.error
import urllib.request

import flask_migrate
import pytest

from flagpal_dash import config, gunicorn_conf, redaction
from flagpal_dash.config import ConfigError
from flagpal_dash.core.projects import create_project
from flagpal_dash.extensions import db
from flagpal_dash.json_logs import JsonFormatter, access_fields

from .conftest import make_app
from .serving import instance_environment, serve
from .support import issue_token
from .test_api_token import bearer

CLIENT = "203.0.113.7"


def fetch(url: str, headers: dict) -> int:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        error.close()
        return error.code


def served_instance(tmp_path) -> tuple[str, str]:
    """A migrated SQLite database with one project and a read token: its URL and the
    token's value."""
    database_url = f"sqlite:///{tmp_path / 'flagpal.sqlite3'}"
    setup = make_app(database_url)
    with setup.app_context():
        flask_migrate.upgrade()
        project = create_project("Served", actor=None)
        db.session.commit()
        _, value = issue_token(project, "Served")
        db.session.remove()
        db.engine.dispose()
    return database_url, value


def test_served_logs_are_json_lines_with_the_client_and_the_original_request(tmp_path):
    database_url, value = served_instance(tmp_path)
    env = instance_environment(
        database_url,
        tmp_path,
        LOG_FORMAT="json",
        TRUSTED_PROXIES="1",
        # The jobs' thread logs each run: the app's own log lines.
        JOBS="on",
        JOBS_PERIOD_SECONDS="4",
    )
    server = serve(env, tmp_path / "output.log", workers=1, threads=2)
    proxied = {"X-Forwarded-For": CLIENT}
    try:
        assert fetch(f"{server.url}/readyz", proxied) == 200
        assert fetch(f"{server.url}/api/v1/token", proxied | bearer(value)) == 200
        assert fetch(f"{server.url}/api/v1/token?token={value}", proxied) == 401
        forward_auth = proxied | bearer(value) | {"X-Original-Method": "GET"}
        uris = [
            "/api/v1/flags?page=2",
            f"/api/v1/flags?access_token={value}",
            f"/api/v1/flags/{value}",
        ]
        statuses = [
            fetch(f"{server.url}/api/v1/auth", forward_auth | {"X-Original-URI": uri})
            for uri in uris
        ]
        assert statuses == [204, 401, 401]
        deadline = time.monotonic() + 20
        while "flagpal_dash.core.jobs" not in server.log.read_text():
            assert time.monotonic() < deadline, server.log.read_text()[-3000:]
            time.sleep(0.2)
    finally:
        output = server.stop()

    lines = [json.loads(line) for line in output.splitlines()]
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys()
        assert datetime.datetime.fromisoformat(line["time"]).utcoffset() == datetime.timedelta(0)
    loggers = {line["logger"] for line in lines}
    assert {"gunicorn.error", "gunicorn.access", "flagpal_dash.core.jobs"} <= loggers

    access = [line for line in lines if line["logger"] == "gunicorn.access"]
    proxied_lines = [line for line in access if line["path"] != "/healthz"]
    for line in proxied_lines:
        assert line["client"] == CLIENT
        assert line["method"] == "GET"
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
    # A threaded worker writes a request's line after answering it, so two requests
    # close together may be logged in either order: compare them as sets of lines.
    answered = sorted((line["path"], line["status"]) for line in proxied_lines)
    assert answered == sorted(
        [
            ("/readyz", 200),
            ("/api/v1/token", 200),
            ("/api/v1/token", 401),
            ("/api/v1/auth", 204),
            ("/api/v1/auth", 401),
            ("/api/v1/auth", 401),
        ]
    )
    originals = sorted(
        (line["status"], line["original_method"], line["original_path"])
        for line in proxied_lines
        if line["path"] == "/api/v1/auth"
    )
    assert originals == [
        (204, "GET", "/api/v1/flags"),
        (401, "GET", "/api/v1/flags"),
        (401, "GET", "/api/v1/flags/[redacted]"),
    ]
    assert not any("original_path" in line for line in access if line["path"] != "/api/v1/auth")
    for secret in (value, value[8:], "Bearer", "token="):
        assert secret not in output


def test_an_access_line_redacts_its_fields_and_an_app_line_its_message():
    token = "flagpal_" + "A" * 40 + "000000"
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/api/v1/auth/read?token={token}",
        "REMOTE_ADDR": CLIENT,
        "HTTP_X_FORWARDED_METHOD": "PUT",
        "HTTP_X_FORWARDED_URI": f"/invitations/{'s' * 30}?next=/x",
    }
    fields = access_fields(environ, "403 FORBIDDEN", datetime.timedelta(microseconds=1500))
    assert fields == {
        "client": CLIENT,
        "method": "GET",
        "path": "/api/v1/auth/read",
        "status": 403,
        "duration_ms": 1.5,
        "original_method": "PUT",
        "original_path": "/invitations/[redacted]",
    }
    redaction.install()  # as the app and gunicorn's settings do
    logger = logging.getLogger("flagpal_dash.test")
    record = logger.makeRecord(logger.name, logging.WARNING, __file__, 1, "Saw %s", (token,), None)
    line = json.loads(JsonFormatter().format(record))
    assert (line["level"], line["logger"], line["message"]) == (
        "warning",
        "flagpal_dash.test",
        "Saw [redacted]",
    )
    try:
        raise ValueError(f"bad header: Bearer {token}")
    except ValueError:
        record = logger.makeRecord(
            logger.name, logging.ERROR, __file__, 1, "Failed", (), sys.exc_info()
        )
    line = json.loads(JsonFormatter().format(record))
    assert line["exception"].endswith("ValueError: bad header: Bearer [redacted]")
    assert token not in json.dumps(line)


@pytest.mark.parametrize("value", ["xml", "json  # for Loki"])
def test_an_unknown_log_format_is_refused_naming_the_setting(tmp_path, value):
    with pytest.raises(ConfigError, match="^FLAGPAL_LOG_FORMAT must be text or json"):
        config.from_environment({"FLAGPAL_LOG_FORMAT": value}, str(tmp_path))


def test_gunicorn_stops_on_an_unknown_log_format_and_logs_text_by_default(monkeypatch):
    monkeypatch.setenv("FLAGPAL_LOG_FORMAT", "xml")
    try:
        with pytest.raises(SystemExit, match="^Error: FLAGPAL_LOG_FORMAT must be text or json"):
            importlib.reload(gunicorn_conf)
        monkeypatch.setenv("FLAGPAL_LOG_FORMAT", "JSON")
        assert importlib.reload(gunicorn_conf).logger_class.__name__ == "JsonLogger"
    finally:
        monkeypatch.delenv("FLAGPAL_LOG_FORMAT")
        assert importlib.reload(gunicorn_conf).logger_class is gunicorn_conf.RedactingLogger
