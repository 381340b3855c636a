"""The command line's ``jobs`` group: the jobs that run by themselves (core/jobs.py),
listed, or run now from cron or a systemd timer."""

import click
from flask import current_app

from ..core import jobs as job_rules
from ..models import utcnow
from ..scheduler import runner
from .base import Group, echo_table, when

jobs = Group("jobs", help="Jobs that run by themselves: list them, or run them now.")


def settings() -> job_rules.JobSettings:
    return job_rules.JobSettings.from_config(current_app.config)


@jobs.command("list")
def list_jobs() -> None:
    """Each job, its schedule, and its last start, finish and outcome."""
    chosen = settings()
    in_server = "in the server" if current_app.config["JOBS"] else "by `jobs run` only"
    click.echo(f"Jobs run {job_rules.schedule(chosen)}, {in_server} (FLAGPAL_JOBS).")
    rows = [("JOB", "SCHEDULE", "LAST START", "LAST FINISH", "OUTCOME", "LAST SUCCESS")]
    runs = job_rules.runs()
    for name, row in runs.items():
        reason = job_rules.off_because(name, chosen)
        rows.append(
            (
                name,
                f"off: {reason}" if reason else job_rules.schedule(chosen),
                when(row and row.started_at),
                when(row and row.finished_at),
                (row and row.outcome) or "-",
                when(row and row.last_success_at),
            )
        )
    echo_table(rows)
    for name, row in runs.items():
        if row is not None and row.summary:
            click.echo(f"{name}: {row.summary}")


@jobs.command("run")
@click.argument("name", required=False)
@click.option(
    "--force",
    is_flag=True,
    help="Run even if it ran for this period already (never while it runs elsewhere).",
)
def run_jobs(name: str | None, force: bool) -> None:
    """Run job NAME now (every job without NAME), for cron or a timer.

    A job runs once a period however many servers ask (FLAGPAL_JOBS_PERIOD_SECONDS, a
    day by default): one that ran for this period already, here or in a server, is not
    run again unless --force is given. Exits 1 when a job fails, or NAME is off.
    """
    if name is not None and name not in job_rules.JOBS:
        raise click.BadParameter(
            f"No job is named {name!r}. The jobs: {', '.join(job_rules.JOBS)}.",
            param_hint="NAME",
        )
    chosen, who = settings(), runner()
    if name is not None and (reason := job_rules.off_because(name, chosen)) is not None:
        raise click.ClickException(f"The job {name} is off: {reason}.")
    failed = False
    for each in [name] if name else list(job_rules.JOBS):
        outcome = job_rules.run(each, utcnow(), chosen, runner=who, force=force)
        click.echo(f"{each}: {outcome.summary}")
        failed = failed or (outcome.ran and not outcome.ok)
    if failed:
        raise click.exceptions.Exit(1)
