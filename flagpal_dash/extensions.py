"""Flask extensions, created once here and bound to an app in ``create_app``."""

import click
from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import Engine, MetaData, event
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    # Named constraints let Alembic alter them later, SQLite batch migrations included.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class DeferredMigrate:
    """Flask-Migrate, imported when a migration first runs (``flask db …``, or
    ``flask_migrate.upgrade()`` in a test) instead of in every server process: it
    imports Alembic, Mako and Pygments, which every gunicorn worker would carry in
    memory (``make bench`` prints a worker's) for commands a server never runs."""

    def init_app(self, app: Flask, db: SQLAlchemy, directory: str) -> None:
        app.extensions["migrate"] = UnboundMigrate(app, db, directory)
        app.cli.add_command(MigrationCommands("db", help="Perform database migrations."))


class UnboundMigrate:
    """Stands in ``app.extensions["migrate"]`` until something asks it for more than
    its folder; then binds Flask-Migrate to the app, which takes its place."""

    def __init__(self, app: Flask, db: SQLAlchemy, directory: str):
        self.app, self.db, self.directory = app, db, directory

    def __getattr__(self, name: str):
        from flask_migrate import Migrate

        Migrate(self.app, self.db, directory=self.directory)
        return getattr(self.app.extensions["migrate"], name)


class MigrationCommands(click.Group):
    """``flask db``: Flask-Migrate's own command group, imported when it is run."""

    def make_context(self, info_name, args, parent=None, **extra):
        from flask_migrate.cli import db as commands

        return commands.make_context(info_name, args, parent=parent, **extra)


db = SQLAlchemy(model_class=Base)
migrate = DeferredMigrate()
login_manager = LoginManager()
csrf = CSRFProtect()
# No default limits: only sign-in, invitation acceptance and leaked-token reports are
# limited (see limits.py).
# Every limit is checked even after one is hit, so the 429 page can name the longest wait.
limiter = Limiter(
    key_func=get_remote_address,
    headers_enabled=True,
    strategy="fixed-window",
    fail_on_first_breach=False,
)


def use_sqlite_well(engine: Engine) -> None:
    """Settings every SQLite connection of ``engine`` gets when it opens.

    WAL lets readers and a writer work at once, and a read takes no file locks (a
    token check is a read); the busy timeout makes a writer wait for another instead
    of failing; foreign keys are off in SQLite unless asked for.
    """

    @event.listens_for(engine, "connect")
    def configure(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
