"""``tokens …``: create, list and revoke API tokens for the day the web UI is down, and
find those about to expire and revoke unused ones, for cron."""

from datetime import timedelta

import click

from .. import abilities as ability
from .. import dates, token_format, validation
from ..core import automatic_revocations
from ..core import projects as project_rules
from ..core import tokens as token_rules
from ..extensions import db
from ..models import utcnow
from ..validation import Invalid
from .base import Group, checked, echo_table, existing_project, shortened, when

tokens = Group(
    "tokens",
    help="Create, list and revoke API tokens (for the day the web UI is down); find those "
    "about to expire and revoke unused ones (for cron).",
)


@tokens.command("create")
@click.argument("slug")
@click.option(
    "--name",
    required=True,
    help='Which app and environment uses it, like "Shop backend (production)".',
)
@click.option(
    "--ability",
    "abilities",
    multiple=True,
    required=True,
    type=click.Choice(sorted(ability.ALL)),
    help="Repeat for several; * is full access.",
)
@click.option(
    "--expires-in-days",
    type=int,
    help="Days until it stops working (no expiry when not given; required, and at most the "
    "maximum, when the project's policy sets a maximum lifetime).",
)
def create_token(
    slug: str, name: str, abilities: tuple[str, ...], expires_in_days: int | None
) -> None:
    """Create a token and print its value once, on its own line."""
    # Held while the name is checked and the token made, as the web's create does.
    project = existing_project(slug, lock=True)
    name = checked(validation.token_name, name)
    now = utcnow()
    expires_at = None
    if expires_in_days is not None:
        expires_at = now + timedelta(days=checked(validation.lifetime_days, expires_in_days))
    try:
        token_rules.check_expiry(project, expires_at, now)
    except Invalid as error:
        # No quiet default to the maximum: a script expecting a token that never expires
        # learns now, not when its app stops working.
        raise click.ClickException(
            f"{error} Give --expires-in-days {project.max_token_lifetime_days} or less."
        ) from None
    try:
        token, value = token_rules.issue(
            project, name, frozenset(abilities), expires_at, actor=None, now=now
        )
    except token_rules.NameTaken:
        raise click.ClickException(
            f'An active token in {slug} is already named "{name}".'
        ) from None
    db.session.commit()
    click.echo(f'Created token {token.id} "{token.name}". Its value is shown only now:', err=True)
    click.echo(value)


@tokens.command("list")
@click.argument("slug")
def list_tokens(slug: str) -> None:
    """List project SLUG's tokens, newest first (never their values)."""
    project = existing_project(slug)
    now = utcnow()
    rows = [("ID", "NAME", "STATUS", "ABILITIES", "CREATED", "EXPIRES", "LAST USED", "HINT")]
    for token in token_rules.newest_first(project):
        rows.append(
            (
                str(token.id),
                shortened(token.name),
                token_rules.status(token, now).value,
                ",".join(ability.ordered(token.abilities)),
                when(token.created_at),
                when(token.expires_at, "never"),
                when(token.last_used_at, "never"),
                token_format.display_hint(token.hint),
            )
        )
    if len(rows) == 1:
        click.echo(f"{slug} has no tokens yet.")
        return
    echo_table(rows)


@tokens.command("revoke")
@click.argument("slug")
@click.argument("token_id", type=int)
def revoke_token(slug: str, token_id: int) -> None:
    """Revoke token TOKEN_ID of project SLUG at once."""
    project = existing_project(slug)
    token = token_rules.token_by_id(project, token_id)
    if token is None:
        raise click.ClickException(
            f"{slug} has no token with id {token_id} (see `tokens list {slug}`)."
        )
    if not token_rules.revoke(token, actor=None, now=utcnow()):
        click.echo(f'Token {token_id} "{token.name}" was already revoked; nothing changed.')
        return
    db.session.commit()
    click.echo(
        f'Revoked token {token_id} "{token.name}". Apps using it can no longer call the API.'
    )


@tokens.command("expiring")
@click.option(
    "--within-days",
    type=click.IntRange(1, validation.MAX_LIFETIME_DAYS),
    # The span the API Tokens page flags as expiring, so both report the same tokens.
    default=token_rules.EXPIRES_SOON.days,
    show_default=True,
    help="How far ahead to look.",
)
@click.option("--project", "slug", help="Only this project's tokens.")
def expiring_tokens(within_days: int, slug: str | None) -> None:
    """List active tokens that expire within N days; exit 1 when there are any (for cron).

    Rotated tokens are left out: they stop on purpose. Bad input exits 2.
    """
    project = None
    if slug is not None:
        project = project_rules.project_by_slug(slug)
        if project is None:
            # Exit 2 like any bad input: 1 means "tokens are expiring".
            raise click.BadParameter(f"No project has the slug '{slug}'.", param_hint="--project")
    now = utcnow()
    found = token_rules.expiring(now, timedelta(days=within_days), project)
    period = f"{within_days} {'day' if within_days == 1 else 'days'}"
    if not found:
        click.echo(f"No active token expires within {period}.")
        return
    click.echo(
        f"{len(found)} {'token expires' if len(found) == 1 else 'tokens expire'} within {period}:"
    )
    rows = [("PROJECT", "ID", "NAME", "EXPIRES", "IN")]
    for token in found:
        rows.append(
            (
                token.project.slug,
                str(token.id),
                token.name,
                when(token.expires_at),
                dates.relative(token.expires_at, now),
            )
        )
    echo_table(rows)
    click.get_current_context().exit(1)


@tokens.command("prune")
@click.option("--dry-run", is_flag=True, help="Only print what would be revoked.")
def prune_tokens(dry_run: bool) -> None:
    """Revoke tokens unused for longer than their project's policy allows.

    A project's "Revoke tokens unused for" policy (Token policy page) sets the days;
    last use is counted from creation for a token never used. Each revocation is in
    the audit log. The prune-tokens job runs this daily (`jobs list`).
    """
    pruned = automatic_revocations.prune(utcnow(), dry_run=dry_run)
    for token, days in pruned:
        click.echo(
            f'{"Would revoke" if dry_run else "Revoked"} token {token.id} "{token.name}" '
            f"of {token.project.slug}: last used {when(token.last_used_at, 'never')}, "
            f"created {when(token.created_at)} (unused for {days} days, project policy)."
        )
    count = len(pruned)
    if dry_run:
        click.echo(f"Dry run: {count} {'token' if count == 1 else 'tokens'} would be revoked.")
        return
    db.session.commit()
    if count:
        click.echo(f"Revoked {count} unused {'token' if count == 1 else 'tokens'}.")
    else:
        click.echo("No token is unused for longer than its project's policy allows.")
