"""Prometheus metrics at ``/metrics``: off unless ``FLAGPAL_METRICS`` is on, and then
answered only to the addresses ``FLAGPAL_METRICS_ALLOW`` lists (loopback by default).

- ``flagpal_token_checks_total{outcome}`` and ``flagpal_token_check_seconds``: each
  check of a token by the token API (``api/verification.py``), by outcome;
- ``flagpal_http_requests_total{endpoint,status}``: every response, by the view's
  endpoint name (never the path, which may hold an id or a secret) and status code;
- ``flagpal_usage_last_saved_timestamp_seconds``: when the serving process that is
  furthest behind last had all its usage counts in the database;
- ``flagpal_job_last_success_timestamp_seconds{job}``: each job's last success, read
  from ``job_runs`` when scraped.

No label ever holds a token's value, id or name: outcomes, endpoints, status codes
and job names are fixed words of the app.

Under gunicorn every worker writes its figures to files in ``PROMETHEUS_MULTIPROC_DIR``
(``prepare_for_workers``, from ``gunicorn_conf.py``) and a scrape, served by any
worker, adds them up. Anywhere else (``flask run``, tests) each app counts in its own
registry.

With metrics off nothing is recorded: the token check then finds ``None`` where the
recorder would be and calls nothing (``TokenAuthority.metrics``).
"""

import atexit
import ipaddress
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from flask import Blueprint, Flask, Response, abort, current_app, request

from .config import metrics_on

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
EXTENSION_KEY = "flagpal_dash.metrics"
# What each refusal of the token API (its ``code``) counts as.
OUTCOMES = {
    "token_revoked": "revoked",
    "token_expired": "expired",
    "insufficient_ability": "insufficient",
    "unavailable": "unavailable",
}
# Anything else refused is ``invalid``: no token, a malformed or unknown one, a token in
# the URL, or a forward-auth request that cannot be read one way only.
OTHERWISE = "invalid"
ALL_OUTCOMES = ("ok", OTHERWISE, *OUTCOMES.values())
# From a lookup served from memory to one that waited on a busy database.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5)

bp = Blueprint("metrics", __name__)


class Metrics:
    """One app's metrics. ``registry`` is None in multiprocess mode, where the figures
    go to files instead and a scrape reads those."""

    def __init__(self, registry):
        from prometheus_client import Counter, Histogram

        self.registry = registry
        self.token_checks = Counter(
            "flagpal_token_checks",
            "Token checks by the token API, by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.check_seconds = Histogram(
            "flagpal_token_check_seconds",
            "Time a token check took, from reading the header to the verdict.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.requests = Counter(
            "flagpal_http_requests",
            "Responses, by endpoint name and status code.",
            ["endpoint", "status"],
            registry=registry,
        )
        # Made on the first save, so a process that never counts usage (the master, a
        # worker that served no token) shows no time at all rather than 0.
        self.usage_saved = None
        # Each outcome's child, looked up once: a check only increments it.
        self.outcome = {outcome: self.token_checks.labels(outcome) for outcome in ALL_OUTCOMES}

    def token_check(self, check: Callable, *args):
        """``check(*args)``, timed and counted by its outcome."""
        from .api.errors import ApiError

        started = time.perf_counter()
        try:
            result = check(*args)
        except ApiError as error:
            self.check_seconds.observe(time.perf_counter() - started)
            self.outcome[OUTCOMES.get(error.code, OTHERWISE)].inc()
            raise
        self.check_seconds.observe(time.perf_counter() - started)
        self.outcome["ok"].inc()
        return result

    def usage_saved_at(self, timestamp: float) -> None:
        if self.usage_saved is None:
            from prometheus_client import Gauge

            self.usage_saved = Gauge(
                "flagpal_usage_last_saved_timestamp_seconds",
                "When this process last had all its token usage counts in the database "
                "(the oldest of the serving processes').",
                registry=self.registry,
                multiprocess_mode="livemin",
            )
        self.usage_saved.set(timestamp)

    def count_response(self, response: Response) -> Response:
        self.count(request.endpoint or "none", response.status_code)
        return response

    def count(self, endpoint: str, status: int) -> None:
        """One response of the view ``endpoint`` (also for the hot path's answers,
        which Flask never sees: api/hot_path.py)."""
        self.requests.labels(endpoint, str(status)).inc()


class JobsCollector:
    """Each job's last success, read from ``job_runs`` when scraped: right whichever
    server ran it, and after a restart."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self) -> Iterable:
        from prometheus_client.core import GaugeMetricFamily
        from sqlalchemy import select
        from sqlalchemy.exc import SQLAlchemyError

        from .extensions import db
        from .models import JobRun

        family = GaugeMetricFamily(
            "flagpal_job_last_success_timestamp_seconds",
            "When each job last finished without failing.",
            labels=["job"],
        )
        try:
            with self.app.app_context():
                rows = db.session.execute(select(JobRun.name, JobRun.last_success_at)).all()
        except SQLAlchemyError:
            rows = []  # the database is down: the token checks' `unavailable` says so
        for name, last_success in rows:
            if last_success is not None:
                family.add_metric([name], last_success.timestamp())
        yield family


def install(app: Flask) -> None:
    """With metrics on: the recorder for the token check and the usage counter, the
    response counter, and ``/metrics``. With them off, nothing at all."""
    if not app.config.get("METRICS"):
        return
    from prometheus_client import CollectorRegistry

    from .api.verification import EXTENSION_KEY as AUTHORITY_KEY

    multiprocess = bool(os.environ.get(MULTIPROCESS_DIR))
    registry = None if multiprocess else CollectorRegistry()
    metrics = Metrics(registry)
    if registry is not None:
        registry.register(JobsCollector(app))
    app.extensions[EXTENSION_KEY] = metrics
    authority = app.extensions[AUTHORITY_KEY]
    authority.metrics = metrics
    authority.usage.on_saved = metrics.usage_saved_at
    app.after_request(metrics.count_response)
    app.register_blueprint(bp)


@bp.get("/metrics")
def scrape():
    """The metrics in Prometheus' text format, to an allowed address; 403 to others."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    allowed = current_app.config["METRICS_ALLOW"]
    try:
        # After FLAGPAL_TRUSTED_PROXIES: the client's address, not the last proxy's.
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        abort(403)
    if not any(address in network for network in allowed):
        # 403, not 404: an operator whose scraper is refused should see why, and the
        # figures hold no secret worth hiding the endpoint for.
        abort(403)
    metrics = current_app.extensions[EXTENSION_KEY]
    registry = metrics.registry
    if registry is None:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(JobsCollector(current_app._get_current_object()))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def prepare_for_workers(environ: dict) -> None:
    """In the gunicorn master, before any worker starts, when metrics are on: the
    folder the workers write their figures to, private and empty (figures of an earlier
    run would be added to this one's). ``PROMETHEUS_MULTIPROC_DIR`` if set, or a new
    temporary folder removed when the server stops."""
    if not metrics_on(environ):
        return
    named = environ.get(MULTIPROCESS_DIR, "").strip()
    if not named:
        folder = Path(tempfile.mkdtemp(prefix="flagpal-dash-metrics-"))  # mode 0700
        owner = os.getpid()
        # Workers inherit the handler; only the master removes the folder.
        atexit.register(lambda: os.getpid() == owner and shutil.rmtree(folder, True))
        environ[MULTIPROCESS_DIR] = str(folder)
        return
    folder = Path(named)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if folder.stat().st_uid == os.getuid():
        folder.chmod(0o700)
    for stale in folder.glob("*.db"):
        stale.unlink()


def worker_exited(pid: int) -> None:
    """A worker is gone: its live gauges no longer count (gunicorn's ``child_exit``)."""
    if os.environ.get(MULTIPROCESS_DIR):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
