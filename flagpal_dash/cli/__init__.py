"""The command line: ``flask --app wsgi <group> <command>``, or ``flagpal-dash <group>
<command>`` where the package is installed.

Scriptable: with its flags given, no command asks anything. Bad input prints one
``Error:`` line and exits non-zero; nothing is changed.
"""

import json
import sys
from datetime import UTC
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import select

from .. import links, validation
from ..backup import BackupExists, BackupRefused, back_up
from ..config import ConfigError, http_address
from ..core import accounts
from ..core import audit as audit_log
from ..core import projects as project_rules
from ..core.errors import DomainError
from ..extensions import db
from ..models import User, utcnow
from ..permissions import Role
from .base import Command, Group, checked, echo_table, existing_project, existing_user
from .tokens import tokens

users = Group("users", help="Create accounts, and confirm their addresses.")
projects = Group("projects", help="Create projects.")
members = Group("members", help="Add people to projects.")


@click.command("setup-link", cls=Command)
@click.option(
    "--base-url",
    help="Where the dashboard is served. Default: FLAGPAL_PUBLIC_URL, else the address "
    "the server was started on (FLAGPAL_SERVED_AT, as make run and make serve set it).",
)
@with_appcontext
def setup_link(base_url: str | None) -> None:
    """Print the one-time link that creates the first account (only while there is none)."""
    if base_url is not None:
        try:
            base_url = http_address(base_url, "--base-url")
        except ConfigError as error:
            raise click.ClickException(str(error)) from None
    if accounts.has_any_account():
        sign_in = links.external_url("auth.sign_in", base=base_url)
        click.echo(f"Set-up is done. Sign in at {links.on_this_server(sign_in)}.")
        return
    code = accounts.first_run_code(current_app.config["SECRET_KEY"])
    link = links.external_url("auth.setup", base=base_url, code=code)
    click.echo("No account exists yet. Open this link to create the first account (an admin):")
    click.echo(f"  {links.on_this_server(link)}")
    if "://" not in link:
        click.echo(
            "(Set FLAGPAL_PUBLIC_URL to the dashboard's address, or give --base-url, "
            "for the whole link.)"
        )


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
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    password = checked(validation.password, password)
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


@projects.command("create")
@click.argument("name")
@click.option(
    "--owner", "owner_email", required=True, help="Email of the account that owns the project."
)
@click.option(
    "--slug", help="The project's address, like 'shop-backend' (made from the name if not given)."
)
def create_project(name: str, owner_email: str, slug: str | None) -> None:
    """Create project NAME and print its slug."""
    name = checked(validation.project_name, name)
    if slug is not None:
        slug = checked(validation.slug, slug)
    owner = existing_user(owner_email)
    checked(accounts.require_proven, owner)
    try:
        project = project_rules.create_project(name, slug, actor=None)
    except DomainError as taken:  # the slug
        raise click.ClickException(
            f"The slug '{taken.slug}' is already used by another project."
        ) from None
    project_rules.add_member(project, owner, Role.OWNER, actor=None)
    db.session.commit()
    click.echo(project.slug)


@members.command("add")
@click.argument("slug")
@click.argument("email")
@click.option(
    "--role",
    required=True,
    type=click.Choice([role.value for role in Role]),
    help="What the person may do.",
)
def add_member(slug: str, email: str, role: str) -> None:
    """Add the account EMAIL to project SLUG with a role."""
    project = existing_project(slug)
    user = existing_user(email)
    checked(accounts.require_proven, user)
    membership = user.membership_in(project)
    if membership is not None:
        raise click.ClickException(
            f"{email} is already a member of {slug}, as {membership.role.value}."
        )
    project_rules.add_member(project, user, Role(role), actor=None)
    db.session.commit()
    click.echo(f"Added {email} to {slug} as {role}.")


audit = Group("audit", help="The audit log.")


@audit.command("export")
@click.option(
    "--since",
    required=True,
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    help="UTC date (2026-11-01) or time (2026-11-01T08:00:00) to start from.",
)
@click.option("--project", "slug", help="Only this project's events.")
def export_audit(since, slug: str | None) -> None:
    """Write audit events as JSON lines (oldest first), for a log system."""
    project = existing_project(slug) if slug else None
    for line in audit_log.export(since.replace(tzinfo=UTC), project):
        click.echo(json.dumps(line, ensure_ascii=False))


@click.command("copy-to")
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


@click.command("backup")
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


def main() -> None:
    """The ``flagpal-dash`` command of an installed package: ``flask --app wsgi`` by
    another name (``flagpal-dash db upgrade``, ``flagpal-dash run``, …), with the app
    configured from the environment."""
    from .. import create_app  # (here, not at the top: create_app imports this module)

    def app_from_environment() -> Flask:
        try:
            return create_app()
        except ConfigError as error:
            # A setting the app cannot use: one line naming it, no traceback.
            raise click.ClickException(str(error)) from None

    FlaskGroup(
        create_app=app_from_environment,
        help="FlagPal Dash: the dashboard and token authority for FlagPal API tokens.",
    )(prog_name="flagpal-dash")


def register(app: Flask) -> None:
    for command in (setup_link, users, projects, members, tokens, audit, copy_to, backup):
        app.cli.add_command(command)
