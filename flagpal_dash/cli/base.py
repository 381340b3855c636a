"""What every command of the command line is made of: groups and commands that say a
database failure in one ``Error:`` line, the rule checks and look-ups whose refusal is
the command's error, and the aligned tables commands print."""

from datetime import datetime

import click
from flask.cli import AppGroup, ScriptInfo
from sqlalchemy import make_url
from sqlalchemy.exc import DBAPIError

from ..core import projects as project_rules
from ..core.errors import DomainError
from ..extensions import db
from ..health import DatabaseUnreachable, database_problem, missing_database
from ..models import Project, User
from ..validation import Invalid


class SaysDatabaseErrors:
    """A command (or group of commands) that, when the database fails it (unreachable,
    or not yet migrated), says so in one ``Error:`` line instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DBAPIError as error:
            # (The command's app context is gone by now: read the URL from the config.)
            config = ctx.ensure_object(ScriptInfo).load_app().config
            url = make_url(config["SQLALCHEMY_DATABASE_URI"])
            raise click.ClickException(database_problem(url, error)) from None


class Command(SaysDatabaseErrors, click.Command):
    """A command on the app's data: before it acts, it refuses a database that is not
    there or has no tables, naming the one it opened. (Run without the server's
    settings, a command would otherwise open, or make, an empty database of its own and
    report success on it.)"""

    def invoke(self, ctx: click.Context):
        app = ctx.ensure_object(ScriptInfo).load_app()
        upgrade = f"{_root_command(ctx)} db upgrade"
        with app.app_context():
            try:
                problem = missing_database(db.engine, upgrade)
            except DatabaseUnreachable as error:
                raise click.ClickException(str(error)) from None
            except DBAPIError as error:
                raise click.ClickException(database_problem(db.engine.url, error)) from None
        if problem:
            raise click.ClickException(problem)
        return super().invoke(ctx)


class Group(SaysDatabaseErrors, AppGroup):
    command_class = Command


def _root_command(ctx: click.Context) -> str:
    """How the person started this command line: ``flagpal-dash``, or ``flask --app wsgi``."""
    name = ctx.find_root().info_name
    return name if name == "flagpal-dash" else "flask --app wsgi"


def checked(rule, value):
    """Run a validation rule, or a core rule whose refusal has a sentence; the message
    becomes the command's error."""
    try:
        return rule(value)
    except (Invalid, DomainError) as error:
        raise click.ClickException(str(error)) from None


def existing_project(slug: str, *, lock: bool = False) -> Project:
    project = project_rules.project_by_slug(slug, lock=lock)
    if project is None:
        raise click.ClickException(
            f"No project has the slug '{slug}'. Give a project's slug, like 'shop-backend'."
        )
    return project


def existing_user(email: str) -> User:
    user = User.by_email(email)
    if user is None:
        raise click.ClickException(
            f"No account has the email {email}. Create it with `users create`."
        )
    return user


def echo_table(rows: list[tuple[str, ...]]) -> None:
    """Rows as aligned columns, the first being the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


# A name longer than this is cut with "…" in a table, so one long name (up to 100
# characters) does not push every other column off the terminal.
TABLE_NAME_LENGTH = 40


def shortened(name: str) -> str:
    return name if len(name) <= TABLE_NAME_LENGTH else name[: TABLE_NAME_LENGTH - 1] + "…"


def when(moment: datetime | None, empty: str = "-") -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else empty
