"""The command line: ``flask --app wsgi <group> <command>``, or ``flagpal-dash <group>
<command>`` where the package is installed.

Scriptable: with its flags given, no command asks anything. Bad input prints one
``Error:`` line and exits non-zero; nothing is changed.
"""

import click
from flask import Flask
from flask.cli import FlaskGroup

from .. import settings_file
from ..config import ConfigError
from .accounts import setup_link, users
from .audit import audit
from .database import backup, copy_to
from .jobs import jobs
from .mail import mail
from .projects import members, projects
from .tokens import tokens
from .version import version, version_option
from .webhooks import webhooks


def _load_settings_file(ctx: click.Context, param: click.Parameter, path: str | None) -> None:
    try:
        settings_file.load(path)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


# In place of Flask's --env-file: it also reads FLAGPAL_ENV_FILE, names a file it cannot
# read in one line, and refuses a comment after a value, as the server's systemd would
# not strip it.
_SETTINGS_FILE = click.Option(
    ["-e", "--env-file"],
    metavar="PATH",
    envvar=settings_file.ENV_FILE,
    help=(
        "The settings file (KEY=VALUE lines, # comment lines), also given by "
        f"{settings_file.ENV_FILE}. Variables set in the environment win over it."
    ),
    is_eager=True,
    expose_value=False,
    callback=_load_settings_file,
)


class _Commands(FlaskGroup):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (len(args) == 1 and args[0] in self.get_help_option_names(ctx)):
            # The command list comes from the app, which needs the settings.
            _SETTINGS_FILE.handle_parse_result(ctx, {}, [])
        return super().parse_args(ctx, args)


def main() -> None:
    """The ``flagpal-dash`` command of an installed package."""
    command_line()(prog_name="flagpal-dash")


def command_line() -> FlaskGroup:
    """``flagpal-dash``: ``flask --app wsgi`` by another name (``flagpal-dash db
    upgrade``, ``flagpal-dash run``, …), with the app configured from the environment
    and the settings file."""
    from .. import create_app  # (here, not at the top: create_app imports this module)

    def app_from_environment() -> Flask:
        try:
            return create_app()
        except ConfigError as error:
            # A setting the app cannot use: one line naming it, no traceback.
            raise click.ClickException(str(error)) from None

    commands = _Commands(
        create_app=app_from_environment,
        # Only the settings file named, never a .env found by walking up from the
        # folder the command happens to be run in.
        load_dotenv=False,
        help="FlagPal Dash: the dashboard and token authority for FlagPal API tokens.",
        # FlaskGroup's --version prints Flask's and Python's: ours names the app's.
        add_version_option=False,
        params=[version_option],
    )
    commands.params = [
        _SETTINGS_FILE if param.name == "env_file" else param for param in commands.params
    ]
    # On the group itself, so it answers without loading the app (and its settings).
    commands.add_command(version)
    return commands


def register(app: Flask) -> None:
    for command in (
        setup_link,
        users,
        projects,
        members,
        tokens,
        audit,
        jobs,
        mail,
        webhooks,
        copy_to,
        backup,
        version,
    ):
        app.cli.add_command(command)
