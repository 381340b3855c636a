"""Health checks for load balancers and process managers: ``/healthz`` says the process
answers, ``/readyz`` that it can reach its database too. Also the database check that
stops a server or ``flask db upgrade`` at start with one clear line, and the line the
other commands print when the database fails them."""

import json

from flask import Blueprint, Flask, current_app
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool

from .extensions import db

bp = Blueprint("health", __name__)

# Seconds to wait for a connection: a load balancer's probe gives up after a few, and
# an unreachable host must not leave a request hanging for the system's TCP timeout.
READY_TIMEOUT = 2
PROBE_KEY = "flagpal_dash.readiness_probe"
NOT_STORED = {"Cache-Control": "no-store"}


class DatabaseUnreachable(RuntimeError):
    """The database cannot be reached; the message is one line naming it and why.

    A RuntimeError, so ``flask db …`` (Flask-Migrate) prints it as one ``Error:`` line.
    """


def connect_to_database(engine: Engine) -> Connection:
    """A connection from ``engine``, or ``DatabaseUnreachable`` saying why not."""
    try:
        return engine.connect()
    except DBAPIError as error:
        raise unreachable(engine.url, error) from None


def unreachable(url: URL, error: DBAPIError) -> DatabaseUnreachable:
    return DatabaseUnreachable(f"Cannot reach the database {shown(url)}: {first_line(error)}")


def shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def first_line(error: Exception) -> str:
    """What the database driver said (SQLAlchemy, if the driver said nothing), first line
    only: never the SQL or its parameters."""
    said = getattr(error, "orig", None) or error
    return (str(said).strip().splitlines() or [type(said).__name__])[0]


def database_problem(url: URL, error: DBAPIError) -> str:
    """One line for a person at a terminal: the database cannot be reached, or it has no
    tables yet (not migrated), or what else it said."""
    reason, where = first_line(error), shown(url)
    # SQLite says "no such table", PostgreSQL's SQLSTATE 42P01 is "undefined table".
    if "no such table" in reason or getattr(error.orig, "sqlstate", None) == "42P01":
        return (f"The database {where} has no tables yet ({reason}): "
                "run `flask --app wsgi db upgrade` first.")
    if error.connection_invalidated or isinstance(error, OperationalError):
        return str(unreachable(url, error))
    return f"The database {where} refused the command: {reason}"


def probe_engine(url: URL, timeout: int) -> Engine:
    """An engine that opens a new connection for each check and gives up connecting after
    ``timeout`` seconds (PostgreSQL's connect_timeout; a SQLite file opens at once)."""
    connect_args = {"connect_timeout": timeout} if url.get_backend_name() == "postgresql" else {}
    return create_engine(url, poolclass=NullPool, connect_args=connect_args)


def check_database(engine: Engine) -> None:
    """``SELECT 1``; ``DatabaseUnreachable`` if it cannot be done."""
    with connect_to_database(engine) as connection:
        try:
            connection.exec_driver_sql("SELECT 1")
        except DBAPIError as error:
            raise unreachable(engine.url, error) from None


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
    body = json.dumps({"status": word, "detail": detail}) + "\n"
    return body, status, {"Content-Type": "application/json", **NOT_STORED}


def install(app: Flask) -> None:
    """Make the readiness probe's engine once, beside the app's."""
    with app.app_context():
        app.extensions[PROBE_KEY] = probe_engine(db.engine.url, READY_TIMEOUT)
