"""The command line's ``projects`` and ``members`` groups."""

import click

from .. import validation
from ..core import accounts
from ..core import projects as project_rules
from ..core.errors import DomainError
from ..extensions import db
from ..permissions import Role
from .base import Group, checked, existing_project, existing_user

projects = Group("projects", help="Create projects.")
members = Group("members", help="Add people to projects.")


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
    membership = project_rules.membership_of(user, project)
    if membership is not None:
        raise click.ClickException(
            f"{email} is already a member of {slug}, as {membership.role.value}."
        )
    project_rules.add_member(project, user, Role(role), actor=None)
    db.session.commit()
    click.echo(f"Added {email} to {slug} as {role}.")
