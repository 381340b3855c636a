"""Alembic environment: migrations run against the app's own database and models."""

from logging.config import fileConfig

from alembic import context
from flask import current_app
from sqlalchemy import types

from flagpal_dash.extensions import db

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
    with db.engine.connect() as connection:
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


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
