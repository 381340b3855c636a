"""Health checks for load balancers and process managers: ``/healthz`` says the process
answers, ``/readyz`` that it can reach its database too (the check is in health.py),
and which version it runs."""

import json

from flask import Blueprint, Flask, current_app

from .extensions import db
from .health import PROBE_KEY, DatabaseUnreachable, check_database, probe_engine
from .version import app_version

bp = Blueprint("health", __name__)

# Seconds to wait for a connection: a load balancer's probe gives up after a few, and
# an unreachable host must not leave a request hanging for the system's TCP timeout.
READY_TIMEOUT = 2
NOT_STORED = {"Cache-Control": "no-store"}


@bp.get("/healthz")
def healthz():
    """The process is up and answering. Touches nothing else, the database included."""
    return "ok\n", 200, {"Content-Type": "text/plain; charset=utf-8", **NOT_STORED}


@bp.get("/readyz")
def readyz():
    """Ready to serve: the database answers ``SELECT 1`` on a new connection within
    READY_TIMEOUT seconds. 503 otherwise, so a load balancer sends people elsewhere."""
    try:
        check_database(current_app.extensions[PROBE_KEY])
    except DatabaseUnreachable as error:
        current_app.logger.warning("Not ready: %s", error)
        return answer(503, "unavailable", "The database cannot be reached.")
    return answer(200, "ready", "The database answers.")


def answer(status: int, word: str, detail: str):
    # The version tells an operator which release each server runs, mid-upgrade too.
    body = json.dumps({"status": word, "detail": detail, "version": app_version()}) + "\n"
    return body, status, {"Content-Type": "application/json", **NOT_STORED}


def install(app: Flask) -> None:
    """Make the readiness probe's engine once, beside the app's."""
    with app.app_context():
        app.extensions[PROBE_KEY] = probe_engine(db.engine.url, READY_TIMEOUT)
