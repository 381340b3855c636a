"""gunicorn settings for serving FlagPal Dash (what ``make serve`` runs)::

    gunicorn -c python:flagpal_dash.gunicorn_conf wsgi:app

Inside the package, so it works from a checkout and from an installed package alike.
Settings come from ``FLAGPAL_*`` variables (README, Configuration), and from the settings
file ``FLAGPAL_ENV_FILE`` names for what the environment does not set; gunicorn's own
``GUNICORN_CMD_ARGS`` and command-line flags still override any of them.

The access log never holds a token or a secret address: request lines are logged
without their query string (the token API refuses a token there, but the request line
is still logged), headers whose names say they carry a secret are left out, and
token-shaped values and invitation and setup secrets in what is logged are replaced by
``[redacted]``. Every other log line of the process, the error log's included, is
cleaned by flagpal_dash/redaction.py.
With ``FLAGPAL_LOG_FORMAT=json`` the logs are JSON lines instead (json_logs.py), kept
as clean.

The address gunicorn listens on is handed to the app as ``FLAGPAL_SERVED_AT``, for the
links it prints, logs and mails when ``FLAGPAL_PUBLIC_URL`` is not set.
"""

import os
import re
import sys

from gunicorn.glogging import Logger

from flagpal_dash import redaction, settings_file
from flagpal_dash.config import (
    ConfigError,
    create_private_sqlite_file,
    int_setting,
    log_format_setting,
)
from flagpal_dash.json_logs import JsonLogger
from flagpal_dash.redaction import REDACTED, redact

# Exit statuses at start: a setting that cannot work will not fix itself (gunicorn's own
# "the app cannot load"); an unreachable database may, so a process manager may retry.
_BAD_SETTING, _UNREACHABLE = 4, 1
# More workers than this mostly add memory and database connections on a small server.
_MAX_DEFAULT_WORKERS = 8
# Seconds to wait for the database at start.
_START_TIMEOUT = 5

_SECRET_HEADER = re.compile(r"authorization|cookie|token|secret|password|api.?key")
_ATOM = re.compile(r"%\(([^)]+)\)s")


def _setting(name: str, default: int, *, minimum: int = 1, maximum: int = 64) -> int:
    try:
        return int_setting(os.environ, name, default, minimum=minimum, maximum=maximum)
    except ConfigError as error:
        sys.exit(f"Error: {error}")


def _cpus() -> int:
    """CPUs this process may use (fewer than the machine's in a container or cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _without_query(uri: str) -> str:
    return uri.split("?", 1)[0]


class RedactingLogger(Logger):
    """gunicorn's logger, minus anything that could let a reader of the logs in."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        # Only the atoms the format uses are cleaned, each request.
        self.used_atoms = {
            key.lower() if key.startswith("{") else key
            for key in _ATOM.findall(cfg.access_log_format)
        }

    def atoms(self, resp, req, environ, request_time) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["r"] = " ".join(
            [
                environ["REQUEST_METHOD"],
                redact(_without_query(environ["RAW_URI"])),
                environ["SERVER_PROTOCOL"],
            ]
        )
        atoms["q"] = "-"
        atoms["f"] = redact(_without_query(atoms["f"]))
        for key in self.used_atoms - {"r", "q", "f"}:
            value = atoms.get(key)
            if key.startswith("{") and _SECRET_HEADER.search(key):
                atoms[key] = REDACTED
            elif isinstance(value, str):
                atoms[key] = redact(value)
        return atoms


def _start_problem() -> tuple[int, str] | None:
    """What would stop the app from serving, as an exit status and one line; None if
    nothing. Run once in the master before any worker starts, so a typo or a database
    that is down stops gunicorn at once instead of every worker failing on its own."""
    from flagpal_dash import create_app
    from flagpal_dash.extensions import db
    from flagpal_dash.health import PROBE_KEY, DatabaseUnreachable, check_database, probe_engine

    try:
        app = create_app()
    except ConfigError as error:
        return _BAD_SETTING, str(error)
    with app.app_context():
        url = db.engine.url
        db.engine.dispose()  # the workers open their own connections
    # A server starting on a new SQLite database makes it, private, before the check.
    create_private_sqlite_file(app.config["SQLALCHEMY_DATABASE_URI"], app.instance_path)
    app.extensions[PROBE_KEY].dispose()
    engine = probe_engine(url, _START_TIMEOUT)
    try:
        check_database(engine)
    except DatabaseUnreachable as error:
        return _UNREACHABLE, str(error)
    finally:
        engine.dispose()
    return None


def served_at(listeners: list[str]) -> str:
    """The first address of ``listeners`` (gunicorn's, like ``http://127.0.0.1:8000``)
    that a link can point at; '' for a Unix socket alone."""
    return next((address for address in listeners if address.startswith("http")), "")


def on_starting(server) -> None:
    from flagpal_dash import metrics

    try:
        # Before the app is first made: prometheus_client reads the folder on import.
        metrics.prepare_for_workers(os.environ)
    except ConfigError as error:
        print(f"Error: {error}", file=sys.stderr, flush=True)
        sys.exit(_BAD_SETTING)
    problem = _start_problem()
    if problem is not None:
        status, message = problem
        print(f"Error: {message}", file=sys.stderr, flush=True)
        if server.pidfile is not None:
            server.pidfile.unlink()
        sys.exit(status)


def when_ready(server) -> None:
    """Hand the address gunicorn listens on (the real one, whatever set the bind) to
    the app in the workers, which are started after this and inherit the variable."""
    listeners = [str(listener) for listener in server.LISTENERS] or [
        # (No listeners yet with reuse_port: each worker opens its own.)
        f"http://{address}"
        for address in server.cfg.bind
        if not address.startswith(("unix:", "fd://"))
    ]
    os.environ["FLAGPAL_SERVED_AT"] = served_at(listeners)


def post_worker_init(worker) -> None:
    """Each worker runs the jobs' thread (unless FLAGPAL_JOBS=off): the claim in the
    database lets one of them run each job a period. And the deliverer's thread (unless
    FLAGPAL_DELIVERIES=off), whose claims let one of them send each delivery."""
    from flagpal_dash import deliverer, scheduler

    app = getattr(worker, "wsgi", None)
    if hasattr(app, "config"):  # a Flask app: wsgi:app, or flagpal_dash:create_app()
        scheduler.start(app)
        deliverer.start(app)


def child_exit(server, worker) -> None:
    """A worker's figures stay in the metrics; its live gauges no longer count."""
    from flagpal_dash import metrics

    metrics.worker_exited(worker.pid)


# Every log line of this process and its workers, gunicorn's own included.
redaction.install()

# Into this process's environment, which the workers inherit: the settings below and the
# app's read it.
try:
    settings_file.load()
except ConfigError as error:
    sys.exit(f"Error: {error}")

bind = [address.strip() for address in os.environ.get("FLAGPAL_BIND", "127.0.0.1:8000").split(",")]
workers = _setting(
    "FLAGPAL_WORKERS",
    _setting("WEB_CONCURRENCY", min(2 * _cpus() + 1, _MAX_DEFAULT_WORKERS)),
)
# Threads let a worker serve other requests while one waits on the database.
worker_class = "gthread"
threads = _setting("FLAGPAL_THREADS", 4)
# A worker silent this long is restarted; on stop, requests in flight get this long.
timeout = 30
graceful_timeout = 30
# Seconds a keep-alive connection (from the reverse proxy, say) waits for its next request.
keepalive = 5

# X-Forwarded-* headers are believed in one place, the app (FLAGPAL_TRUSTED_PROXIES),
# not also by gunicorn, which by default takes X-Forwarded-Proto from 127.0.0.1.
forwarded_allow_ips = ""
secure_scheme_headers = {}

# "-" is standard output (access) and standard error (errors); "off" turns access logs off.
_access_log = os.environ.get("FLAGPAL_ACCESS_LOG", "").strip() or "-"
accesslog = None if _access_log == "off" else _access_log
errorlog = os.environ.get("FLAGPAL_ERROR_LOG", "").strip() or "-"
# FLAGPAL_LOG_FORMAT=json: the access, error and app logs as JSON lines (json_logs.py).
try:
    _log_format = log_format_setting(os.environ)
except ConfigError as error:
    sys.exit(f"Error: {error}")
logger_class = JsonLogger if _log_format == "json" else RedactingLogger
# gunicorn's control socket (for gunicornc) is not used, and every instance of a user
# would share its one default path.
control_socket_disable = True
