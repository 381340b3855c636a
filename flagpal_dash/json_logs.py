"""Logs as one JSON object a line (``FLAGPAL_LOG_FORMAT=json``), for a log collector to
read without parsing text: the app's logs, gunicorn's error log and its access log.

Every line has ``time`` (ISO 8601, UTC), ``level``, ``logger`` and ``message``, and
``exception`` when there was one. An access line adds ``client``, ``method``, ``path``,
``status`` and ``duration_ms``; a forward-auth request (``/api/v1/auth``) adds the
``original_method`` and ``original_path`` the proxy asked about.

Secrets stay out as they do in text logs: every record's message and traceback is
cleaned by redaction.py before it gets here, paths are logged without their query
string, and the fields an access line adds are redacted here.

The client is the one the app believes: the app's ProxyFix (FLAGPAL_TRUSTED_PROXIES,
security.py) replaces ``REMOTE_ADDR`` in the request's environ, the same dict gunicorn
hands its access logger once the response is sent. So the proxy rule stays in the app,
and the token check pays nothing for the access line: gunicorn builds it after the
response, with one ``json.dumps``.

No Flask here: gunicorn's master sets its logging up before any app exists.
"""

import json
import logging
from datetime import UTC, datetime, timedelta

from gunicorn.glogging import Logger

from .redaction import redact

# The forward-auth route (api/__init__.py), and the headers proxies describe the original
# request in, as that route reads them: nginx's first, then Caddy's and Traefik's.
FORWARD_AUTH_PATH = "/api/v1/auth"
ORIGINAL_METHOD = ("HTTP_X_ORIGINAL_METHOD", "HTTP_X_FORWARDED_METHOD")
ORIGINAL_URI = ("HTTP_X_ORIGINAL_URI", "HTTP_X_FORWARDED_URI")


def _without_query(uri: str) -> str:
    return uri.split("?", 1)[0]


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON; an access line's fields come in ``record.access``."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        access = getattr(record, "access", None)
        if access is not None:
            line |= access
        # redaction.py leaves a traceback that held a secret in exc_text only.
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False)


def access_fields(environ: dict, status: str, request_time: timedelta) -> dict:
    """What an access line says of a request that was answered with ``status`` (like
    ``200 OK``) after ``request_time``."""
    path = redact(_without_query(environ.get("RAW_URI") or environ.get("PATH_INFO", "")))
    fields = {
        "client": environ.get("REMOTE_ADDR") or "-",
        "method": environ.get("REQUEST_METHOD", "-"),
        "path": path,
        "status": int(status.split(None, 1)[0]),
        "duration_ms": round(request_time.total_seconds() * 1000, 3),
    }
    if path == FORWARD_AUTH_PATH or path.startswith(FORWARD_AUTH_PATH + "/"):
        method = environ.get(ORIGINAL_METHOD[0]) or environ.get(ORIGINAL_METHOD[1])
        uri = environ.get(ORIGINAL_URI[0]) or environ.get(ORIGINAL_URI[1])
        fields["original_method"] = redact(method) if method else None
        fields["original_path"] = redact(_without_query(uri)) if uri else None
    return fields


class JsonLogger(Logger):
    """gunicorn's logger writing JSON lines: its error and access logs, and the app's
    logs, which go where the error log goes."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        formatter = JsonFormatter()
        for handler in self.error_log.handlers + self.access_log.handlers:
            handler.setFormatter(formatter)
        # Every other logger (the app's, the libraries') reaches the root logger. A
        # configuration reload runs this again with new handlers: the old ones go.
        root = logging.getLogger()
        for handler in list(root.handlers):
            if getattr(handler, "_gunicorn", False):
                root.removeHandler(handler)
        for handler in self.error_log.handlers:
            root.addHandler(handler)
        root.setLevel(self.loglevel)

    def access(self, resp, req, environ, request_time) -> None:
        if not self.access_log_enabled:
            return
        fields = access_fields(environ, resp.status, request_time)
        self.access_log.info(
            "%s %s %s", fields["method"], fields["path"], fields["status"], extra={"access": fields}
        )
