"""Alembic environment: migrations run against the app's own database and models."""

from logging.config import fileConfig

from alembic import context
from flask import current_app
from sqlalchemy import types

from flagpal_dash.extensions import db
from flagpal_dash.health import connect_to_database

config = context.config
if config.config_file_name:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def render_item(kind, item, autogen_context):
    """Write the app's column types as the plain types they store (UTCDateTime is a
    DateTime), so a migration never depends on code that may change later."""
    if kind == "type" and isinstance(item, types.TypeDecorator):
        return f"sa.{item.impl!r}"
    return False


def run_migrations_offline() -> None:
    """Write the SQL to standard output (``flask db upgrade --sql``)."""
    context.configure(
        url=db.engine.url.render_as_string(hide_password=False),
        target_metadata=db.metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # An unreachable database is one "Error: Cannot reach the database …" line.
    with connect_to_database(db.engine) as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch mode rebuilds a SQLite table by copying it and dropping the old one.
            # With foreign keys enforced, that DROP first deletes every row that refers
            # to the table (ON DELETE CASCADE): rebuilding `projects` would empty
            # `api_tokens`. So they are off while migrating, and checked after.
            # (The pragma is ignored inside a transaction, hence the commit.)
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            context.configure(
                connection=connection,
                target_metadata=db.metadata,
                render_item=render_item,
                # Flask-Migrate's defaults: compare column types, and batch mode, which
                # rebuilds a table where SQLite cannot ALTER it.
                **current_app.extensions["migrate"].configure_args,
            )
            with context.begin_transaction():
                context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"a migration left rows with broken references: {broken}")
        finally:
            if sqlite:
                connection.rollback()
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
