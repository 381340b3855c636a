"""The command line's account commands: ``setup-link`` (the first account) and the
``users`` group, with the way back into a locked-out instance (``set-password``,
``reset-link``)."""

import sys

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from .. import dates, links, validation
from ..config import ConfigError, http_address
from ..core import accounts, password_resets
from ..extensions import db
from ..models import PasswordReset, User, utcnow
from .base import Command, Group, checked, echo_table, existing_user, when

users = Group(
    "users", help="Create accounts, confirm their addresses, and set or reset their passwords."
)

BASE_URL_HELP = (
    "Where the dashboard is served. Default: FLAGPAL_PUBLIC_URL, else the address "
    "the server was started on (FLAGPAL_SERVED_AT, as make run and make serve set it)."
)


def checked_base_url(base_url: str | None) -> str | None:
    if base_url is None:
        return None
    try:
        return http_address(base_url, "--base-url")
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


def echo_link(link: str) -> None:
    """A link on its own line, and how to get the whole address when only its path is
    known."""
    click.echo(f"  {links.on_this_server(link)}")
    if "://" not in link:
        click.echo(
            "(Set FLAGPAL_PUBLIC_URL to the dashboard's address, or give --base-url, "
            "for the whole link.)"
        )


def read_password(password_stdin: bool) -> str:
    """A new password, from standard input or asked for twice; checked by the rule the
    web's forms use."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return checked(validation.password, password)


@click.command("setup-link", cls=Command)
@click.option("--base-url", help=BASE_URL_HELP)
@with_appcontext
def setup_link(base_url: str | None) -> None:
    """Print the one-time link that creates the first account (only while there is none)."""
    base_url = checked_base_url(base_url)
    if accounts.has_any_account():
        sign_in = links.external_url("auth.sign_in", base=base_url)
        click.echo(f"Set-up is done. Sign in at {links.on_this_server(sign_in)}.")
        return
    code = accounts.first_run_code(current_app.config["SECRET_KEY"])
    link = links.external_url("auth.setup", base=base_url, code=code)
    click.echo("No account exists yet. Open this link to create the first account (an admin):")
    echo_link(link)


@users.command("create")
@click.argument("email")
@click.option("--name", prompt=True, help="The person's name, as shown in the dashboard.")
@click.option("--admin", is_flag=True, help="Make the account an instance admin.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input instead of asking.",
)
def create_user(email: str, name: str, admin: bool, password_stdin: bool) -> None:
    """Create an account for EMAIL."""
    email = checked(validation.email, email)
    name = checked(validation.person_name, name)
    checked(accounts.require_address_free, email)
    password = read_password(password_stdin)
    # Whoever runs the server's command line vouches for the address.
    accounts.create_user(
        email,
        name,
        password,
        actor=None,
        rounds=current_app.config["BCRYPT_ROUNDS"],
        admin=admin,
        proven_at=utcnow(),
    )
    db.session.commit()
    click.echo(f"Created {'admin ' if admin else ''}account {email}.")


@users.command("set-password")
@click.argument("email")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input instead of asking.",
)
def set_password(email: str, password_stdin: bool) -> None:
    """Set EMAIL's password (for someone locked out, the only admin included); every
    session of the account is signed out."""
    user = existing_user(email)
    password = read_password(password_stdin)
    ended = accounts.change_password(
        user, password, rounds=current_app.config["BCRYPT_ROUNDS"], actor=None, via="command line"
    )
    db.session.commit()
    click.echo(
        f"The password of {user.email} is set; {ended} "
        f"session{'' if ended == 1 else 's'} signed out."
    )
    if not user.active:
        click.echo(f"The account is deactivated: `users reactivate {user.email}` lets it in.")


@users.command("reset-link")
@click.argument("email")
@click.option("--base-url", help=BASE_URL_HELP)
def reset_link(email: str, base_url: str | None) -> None:
    """Print a one-time link that lets EMAIL's person choose a new password."""
    base_url = checked_base_url(base_url)
    user = existing_user(email)
    reset, secret = checked(
        lambda user: password_resets.create_reset(user, by=None, now=utcnow(), how="command line"),
        user,
    )
    db.session.commit()
    link = links.external_url("recovery.reset_password", base=base_url, secret=secret)
    click.echo(
        f"Open this link to choose a new password for {user.email}. It works once, for "
        f"{dates.duration(PasswordReset.LIFETIME)} (until {when(reset.expires_at)}):"
    )
    echo_link(link)


@users.command("confirm-email")
@click.argument("email")
def confirm_email(email: str) -> None:
    """Vouch that EMAIL is its account's person's, so grants by email to it work."""
    user = existing_user(email)
    confirmed = accounts.confirm_address(user, utcnow(), actor=None)
    click.echo(f"The address {user.email} is {'confirmed' if confirmed else 'already proven'}.")
    db.session.commit()


@users.command("list")
def list_users() -> None:
    """List every account: email, name, admin, active, address proven."""
    rows = [("EMAIL", "NAME", "ADMIN", "STATUS", "ADDRESS")]
    for user in db.session.scalars(select(User).order_by(User.email)):
        rows.append(
            (
                user.email,
                user.name,
                "admin" if user.is_admin else "-",
                "active" if user.active else "deactivated",
                "proven" if accounts.is_proven(user) else "unproven",
            )
        )
    echo_table(rows)


@users.command("deactivate")
@click.argument("email")
def deactivate_user(email: str) -> None:
    """Stop EMAIL from signing in, and end their sessions at once."""
    set_user_active(email, False)


@users.command("reactivate")
@click.argument("email")
def reactivate_user(email: str) -> None:
    """Let a deactivated account sign in again."""
    set_user_active(email, True)


def set_user_active(email: str, active: bool) -> None:
    user = existing_user(email)
    if not checked(lambda user: accounts.set_active(user, active, actor=None), user):
        click.echo(f"{user.email} is already {'active' if active else 'deactivated'}.")
        return
    db.session.commit()
    if active:
        click.echo(f"{user.email} can sign in again.")
    else:
        click.echo(f"{user.email} is deactivated and signed out everywhere.")
