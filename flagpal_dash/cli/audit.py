"""The command line's ``audit`` group."""

import json
from datetime import UTC

import click

from ..core import audit as audit_log
from .base import Group, existing_project

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
