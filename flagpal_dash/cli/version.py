"""``flagpal-dash version`` and ``flagpal-dash --version``: the app's version, not
Flask's (which is what FlaskGroup's own ``--version`` prints)."""

import click

from ..version import app_version


def say_version() -> str:
    return f"FlagPal Dash {app_version()}"


# A plain command, not an app group's: it needs no app, so it answers even when the
# settings are wrong, which is when someone asks which version they run.
@click.command("version")
def version() -> None:
    """Print the version of FlagPal Dash."""
    click.echo(say_version())


def print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(say_version())
        ctx.exit()


version_option = click.Option(
    ["--version"],
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=print_version,
    help="Print the version of FlagPal Dash and exit.",
)
