"""No log line of the app's process holds a token value or the secret of an invitation,
password reset or setup link, whichever logger writes it (the app's, Werkzeug's, a library's, one
configured later) and wherever the secret is (the message, its arguments, a
traceback), plain or URL-encoded."""

import importlib.util
import io
import logging
import threading
import urllib.error
import urllib.request

import pytest
from werkzeug.serving import make_server

from flagpal_dash import token_format

TOKEN = token_format.generate()
# A personal access token: its own prefix, then the body of a project token.
PERSONAL_TOKEN = "flagpal_pat_" + token_format.generate().removeprefix(token_format.PREFIX)
SECRET = "s3cr3t-invitation-code-abcdefghijklmnopqrstuv"
SETUP_CODE = "PMU4ZiAdFfZW6Ecjfawm_T2WvVydJSVI"
# Each with what must not be left of it in a log.
LEAKS = [
    pytest.param(f"Bearer {TOKEN}", TOKEN[8:48], id="token"),
    pytest.param(f"?t={TOKEN.replace('_', '%5F')}", TOKEN[8:48], id="token-%5F"),
    pytest.param(f"?t={TOKEN.replace('_', '%5f')}", TOKEN[8:48], id="token-%5f"),
    pytest.param(f"Bearer {PERSONAL_TOKEN}", PERSONAL_TOKEN[12:52], id="personal-token"),
    pytest.param(
        f"?t={PERSONAL_TOKEN.replace('_', '%5F')}", PERSONAL_TOKEN[12:52], id="personal-token-%5F"
    ),
    pytest.param(f"GET /setup/{SETUP_CODE} HTTP/1.1", SETUP_CODE, id="setup-path"),
    pytest.param(f"next=%2Fsetup%2F{SETUP_CODE}", SETUP_CODE, id="setup-path-encoded"),
    pytest.param(f"https://flags.example.com/invitations/{SECRET}", SECRET, id="invitation"),
    pytest.param(f"?next=%2finvitations%2f{SECRET}", SECRET, id="invitation-encoded"),
    pytest.param(f"https://flags.example.com/password-reset/{SECRET}", SECRET, id="reset"),
    pytest.param(f"?next=%2Fpassword-reset%2F{SECRET}", SECRET, id="reset-encoded"),
]
LOGGERS = ["flagpal_dash", "flagpal_dash.tokens", "werkzeug", "some.library", "gunicorn.error"]


def test_what_counts_as_a_token_comes_from_token_format(monkeypatch):
    """The one definition of the format decides what is redacted: a token of another
    shape would be redacted as soon as token_format said so."""
    monkeypatch.setattr(token_format, "PREFIX", "acme_")
    monkeypatch.setattr(token_format, "PATTERN", "acme_[0-9a-f]{12}")
    # A fresh copy of the module, made with the changed format (the installed one stays).
    spec = importlib.util.find_spec("flagpal_dash.redaction")
    redaction = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(redaction)
    assert redaction.redact("Bearer acme_0123456789ab.") == "Bearer [redacted]."
    assert redaction.redact("?t=acme%5Fpat%5F0123456789ab") == "?t=[redacted]"
    assert redaction.redact("acme_0123456789AB") == "acme_0123456789AB"
    assert redaction.redact(f"Bearer {TOKEN}") == f"Bearer {TOKEN}"


@pytest.fixture
def handler():
    """A real handler on the root logger, formatting as an operator's would."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


@pytest.mark.parametrize("name", LOGGERS)
@pytest.mark.parametrize(("text", "secret"), LEAKS)
def test_a_secret_in_a_message_or_its_arguments_is_redacted(
    app, caplog, handler, name, text, secret
):
    caplog.set_level(logging.DEBUG)
    logger = logging.getLogger(name)
    logger.warning(f"in the message: {text}")
    logger.warning("in an argument: %s (%d)", text, 7)
    logger.warning("in a mapping: %(where)s", {"where": text})
    app.logger.info("by the app's logger: %r", text)
    for where, logged in [("caplog", caplog.text), ("a real handler", handler.getvalue())]:
        assert secret not in logged, where
        assert logged.count("[redacted]") == 4, where
        assert "in an argument: " in logged and "(7)" in logged, where
    assert all(secret not in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(("text", "secret"), LEAKS)
def test_a_secret_in_a_traceback_or_stack_is_redacted(app, caplog, handler, text, secret):
    logger = logging.getLogger("some.library")
    try:
        raise ValueError(f"bad value {text}")
    except ValueError:
        logger.exception("Could not parse")
    logger.warning("Here", stack_info=True, extra={"note": "stack"})
    for where, logged in [("caplog", caplog.text), ("a real handler", handler.getvalue())]:
        assert "Could not parse" in logged and "ValueError: bad value " in logged, where
        assert secret not in logged, where


def test_a_message_without_secrets_keeps_its_template_and_arguments(app, caplog):
    logging.getLogger("flagpal_dash").warning("Token %s of %s", 12, "shop")
    [record] = caplog.records
    assert (record.msg, record.args) == ("Token %s of %s", (12, "shop"))


def test_werkzeug_s_request_lines_hold_no_secret(app, caplog):
    """Werkzeug's own server (``flask run``) logs every request line, query and all."""
    caplog.set_level(logging.INFO, logger="werkzeug")
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    paths = [
        f"/invitations/{SECRET}",
        f"/password-reset/{SECRET}",
        f"/setup/{SETUP_CODE}",
        f"/api/v1/token/{TOKEN.replace('_', '%5F')}",
        f"/sign-in?next=%2Finvitations%2F{SECRET}&t={TOKEN}",
    ]
    try:
        for path in paths:
            try:
                urllib.request.urlopen(base + path, timeout=10).close()
            except urllib.error.HTTPError as error:
                error.close()
    finally:
        server.shutdown()
        thread.join()
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert len([line for line in lines if "GET /" in line]) == len(paths)
    for secret in (SECRET, SETUP_CODE, TOKEN[8:48]):
        assert secret not in caplog.text
    assert any("GET /invitations/[redacted] HTTP/1.1" in line for line in lines)
    assert any("GET /password-reset/[redacted] HTTP/1.1" in line for line in lines)
    assert any("GET /sign-in?next=/invitations/[redacted]&t=[redacted] " in line for line in lines)
