"""The command line: ``flask --app wsgi <group> <command>``, or ``flagpal-dash <group>
<command>`` where the package is installed.

Scriptable: with its flags given, no command asks anything. Bad input prints one
``Error:`` line and exits non-zero; nothing is changed.
"""

import click
from flask import Flask
from flask.cli import FlaskGroup

from ..config import ConfigError
from .accounts import setup_link, users
from .audit import audit
from .database import backup, copy_to
from .projects import members, projects
from .tokens import tokens
from .version import version, version_option


def main() -> None:
    """The ``flagpal-dash`` command of an installed package."""
    main_group()(prog_name="flagpal-dash")


def main_group() -> FlaskGroup:
    """``flask --app wsgi`` by another name (``flagpal-dash db upgrade``, ``flagpal-dash
    run``, …), with the app configured from the environment."""
    from .. import create_app  # (here, not at the top: create_app imports this module)

    def app_from_environment() -> Flask:
        try:
            return create_app()
        except ConfigError as error:
            # A setting the app cannot use: one line naming it, no traceback.
            raise click.ClickException(str(error)) from None

    group = FlaskGroup(
        create_app=app_from_environment,
        help="FlagPal Dash: the dashboard and token authority for FlagPal API tokens.",
        # FlaskGroup's --version prints Flask's and Python's: ours names the app's.
        add_version_option=False,
        params=[version_option],
    )
    # On the group itself, so it answers without loading the app (and its settings).
    group.add_command(version)
    return group


def register(app: Flask) -> None:
    for command in (setup_link, users, projects, members, tokens, audit, copy_to, backup, version):
        app.cli.add_command(command)
