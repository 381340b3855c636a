"""The database's health: the check that stops a server or ``flask db upgrade`` at start
with one clear line, the one the readiness probe makes (probes.py), and the line the
other commands print when the database fails them. No Flask: the command line and
gunicorn's hooks use it as well as the web."""

from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, inspect
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool

# Where the app keeps the readiness probe's engine (``app.extensions``).
PROBE_KEY = "flagpal_dash.readiness_probe"


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
        return (
            f"The database {where} has no tables yet ({reason}): "
            "run `flask --app wsgi db upgrade` first."
        )
    if error.connection_invalidated or isinstance(error, OperationalError):
        return str(unreachable(url, error))
    return f"The database {where} refused the command: {reason}"


def missing_database(engine: Engine, upgrade: str) -> str | None:
    """One line if the database of ``engine`` does not exist or has no tables, naming it
    and how to fix that; None if it has tables. ``upgrade`` is the command that makes
    them. A SQLite file that is not there is not made (connecting would make it)."""
    settings = (
        "give the command the server's settings (--env-file PATH, FLAGPAL_ENV_FILE, or "
        "FLAGPAL_DATABASE_URL)"
    )
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database:
        path = Path(url.database).absolute()
        # (A missing folder: connecting makes nothing, and says it cannot open the file.)
        if path.parent.is_dir() and not path.exists():
            return f"There is no database at {path}: {settings}, or run `{upgrade}` to make one."
    with connect_to_database(engine) as connection:
        if inspect(connection).get_table_names():
            return None
    where = Path(url.database).absolute() if url.get_backend_name() == "sqlite" else shown(url)
    return (
        f"The database {where} has no tables yet: run `{upgrade}` first if it is new, "
        f"or {settings}."
    )


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
