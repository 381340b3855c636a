"""The command line's commands on the database as a whole: ``backup`` (SQLite) and
``copy-to`` (another database). What they do is in ``backup.py`` and ``moving.py``."""

from pathlib import Path

import click
from flask.cli import ScriptInfo, with_appcontext

from ..backup import BackupExists, BackupRefused, back_up, refuse_unless_sqlite
from ..extensions import db
from .base import Command, echo_table


@click.command("copy-to", cls=Command)
@click.argument("target_url")
def copy_to(target_url: str) -> None:
    """Copy every row to another database (SQLite to PostgreSQL, say).

    Stop the servers first. The target must be empty, its schema made with
    `db upgrade` (FLAGPAL_DATABASE_URL=TARGET_URL flask --app wsgi db upgrade).
    """
    from sqlalchemy import create_engine
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from ..moving import MoveRefused, copy_all

    try:
        target = create_engine(target_url)
    except (ArgumentError, ImportError) as error:
        raise click.ClickException(f"Cannot use the target URL: {error}") from None
    try:
        copied = copy_all(db.engine, target)
    except MoveRefused as error:
        raise click.ClickException(f"Nothing copied: {error}.") from None
    except SQLAlchemyError as error:
        raise click.ClickException(f"Nothing copied: {error.__class__.__name__}: {error}") from None
    finally:
        target.dispose()
    for table, count in copied.items():
        click.echo(f"{table}: {count} rows")
    click.echo(f"Copied. Point FLAGPAL_DATABASE_URL at {target.url.render_as_string()} and start.")


class BackupCommand(Command):
    """A PostgreSQL database is pointed to pg_dump before anything connects to it."""

    def invoke(self, ctx: click.Context):
        with ctx.ensure_object(ScriptInfo).load_app().app_context():
            try:
                refuse_unless_sqlite(db.engine)
            except BackupRefused as error:
                raise click.ClickException(str(error)) from None
        return super().invoke(ctx)


@click.command("backup", cls=BackupCommand)
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@with_appcontext
def backup(path: Path, force: bool) -> None:
    """Copy the SQLite database to PATH, safely while the server runs.

    The copy is the database as it was at one moment, readable only by its owner (it
    holds password hashes). To restore, stop the server and put the copy in place of
    the database file. For PostgreSQL, use pg_dump (see the README).
    """
    path = path.absolute()
    try:
        rows = back_up(db.engine, path, replace=force)
    except BackupExists as error:
        raise click.ClickException(f"{error} Give --force to replace it.") from None
    except BackupRefused as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Wrote {path} ({path.stat().st_size:,} bytes, readable only by its owner).")
    echo_table([("TABLE", "ROWS"), *((table, f"{count:,}") for table, count in rows.items())])
