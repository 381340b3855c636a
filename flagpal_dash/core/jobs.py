"""Jobs that run by themselves: pruning unused tokens, mailing notices of expiring ones,
removing usage rows no page reads (and old mails and mail failures), and (SQLite) a
nightly backup kept some days.

Each job runs once a period (a day by default, counted from 00:00 UTC), once per
instance however many servers and processes share its database: a run first claims the
job's ``job_runs`` row with one conditional UPDATE (core/leases.py: the period it runs
for is later than the row's, and nobody holds the row), which the database lets exactly
one of any number of claimants win. A run that dies holds the row until its lease ends.

Who asks is the serving process's thread (scheduler.py) or ``flagpal-dash jobs run``
(cli/jobs.py); when, and who runs, are arguments. Each run writes one log line and
keeps its outcome in its row; what a job changes in tokens is in the audit log.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from .. import backup
from ..config import DEFAULT_BACKUP_KEEP_DAYS
from ..extensions import db
from ..health import first_line
from ..models import AuditEvent, AuditKind, JobRun, utcnow
from . import leases, mail_failures, notices, outbox, usage, webhooks
from . import tokens as token_rules

logger = logging.getLogger(__name__)
# Each run is a line of the log, whatever level the rest of the process logs at.
logger.setLevel(logging.INFO)

DAY = timedelta(days=1)
# Longer than any job takes: a run that died (its server killed) frees its job after it.
LEASE = timedelta(hours=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SUMMARY_LENGTH = 400


@dataclass(frozen=True)
class JobSettings:
    """What the jobs are told (README, Configuration)."""

    # How often each job runs; periods start at multiples of it from 1970-01-01 UTC.
    period: timedelta = DAY
    # The database's kind ("sqlite", "postgresql"): the backup job is SQLite's only.
    database: str = "sqlite"
    backup_folder: Path | None = None
    backup_keep_days: int = DEFAULT_BACKUP_KEEP_DAYS

    @classmethod
    def from_config(cls, config: Mapping) -> "JobSettings":
        folder = config.get("BACKUP_DIR")
        return cls(
            period=timedelta(seconds=config.get("JOBS_PERIOD_SECONDS", DAY.total_seconds())),
            database=make_url(config["SQLALCHEMY_DATABASE_URI"]).get_backend_name(),
            backup_folder=Path(folder) if folder else None,
            backup_keep_days=config.get("BACKUP_KEEP_DAYS", DEFAULT_BACKUP_KEEP_DAYS),
        )


@dataclass(frozen=True)
class Job:
    name: str
    # What it does, in a line (``jobs list``).
    does: str
    # Does it, as of ``now``; what it did, in a line. ``last_success`` is when the last
    # good run started (None before the first).
    work: Callable[[datetime, JobSettings, datetime | None], str]
    # Why it does not run with these settings; None when it does.
    off_because: Callable[[JobSettings], str | None] = lambda settings: None

    @property
    def actor(self) -> str:
        """Who the audit log says acted."""
        return f"job {self.name}"


@dataclass(frozen=True)
class Outcome:
    """What asking for a run came to: ``ran`` (and then ``ok``, or failed), and in a
    line what it did, why it failed, or why it did not run."""

    job: str
    ran: bool
    ok: bool
    summary: str


def plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {words or word + 's'}"


# The jobs.


def prune_tokens(now: datetime, settings: JobSettings, last_success: datetime | None) -> str:
    pruned = token_rules.prune(now, actor_label=JOBS["prune-tokens"].actor)
    if not pruned:
        return "no token is unused for longer than its project's policy allows"
    listed = ", ".join(f"{token.project.slug} #{token.id}" for token, _ in pruned)
    return f"revoked {plural(len(pruned), 'unused token')} ({listed})"


def warn_of_expiring_tokens(
    now: datetime, settings: JobSettings, last_success: datetime | None
) -> str:
    """Each active token that came within 14, 7 or 1 day of its expiry gets its notice
    (core/notices.py): a mail to its project's owners and developers, queued in the
    outbox, a log line and an audit event with ``days``. The ``expiry_notices`` rows,
    not ``last_success``, say what was sent, so a forced run sends nothing again."""
    noticed, mails = notices.send_expiry_notices(now)
    for token, days in noticed:
        AuditEvent.record(
            AuditKind.TOKEN_EXPIRING,
            project=token.project,
            target=token_rules.label(token),
            token=token,
            actor=None,
            actor_label=JOBS["expiry-warnings"].actor,
            expires_at=token.expires_at.isoformat(),
            days=days,
        )
        logger.warning(
            "%s of %s expires at %s",
            token_rules.label(token),
            token.project.slug,
            token.expires_at.isoformat(),
        )
    if not noticed:
        return "no token newly within 14, 7 or 1 days of its expiry"
    by_threshold = ", ".join(
        f"{count} within {days} day{'' if days == 1 else 's'}"
        for days in notices.THRESHOLDS
        if (count := sum(1 for _, noticed_days in noticed if noticed_days == days))
    )
    tokens = plural(len(noticed), "expiring token")
    return f"noticed {tokens} ({by_threshold}); queued {plural(mails, 'mail')}"


def remove_old_usage(now: datetime, settings: JobSettings, last_success: datetime | None) -> str:
    """Usage counts no page shows any more, the outbox's mails sent or given up days ago,
    webhook deliveries done a day ago and mail failures the Mail page no longer lists
    (these three named only when there were some: most instances have none)."""
    hours, days = usage.remove_old(now)
    summary = f"removed {plural(hours, 'hourly usage row')} and {plural(days, 'daily usage row')}"
    if mails := outbox.remove_old(now):
        summary += f"; deleted {plural(mails, 'old mail')} from the outbox"
    if deliveries := webhooks.remove_old(now):
        summary += (
            f"; deleted {plural(deliveries, 'old webhook delivery', 'old webhook deliveries')}"
        )
    if failures := mail_failures.remove_old(now):
        summary += f"; {plural(failures, 'mail failure')} older than {mail_failures.KEPT.days} days"
    return summary


def back_up_nightly(now: datetime, settings: JobSettings, last_success: datetime | None) -> str:
    path, rows, deleted = backup.nightly(
        db.engine, settings.backup_folder, settings.backup_keep_days, now
    )
    return (
        f"wrote {path} ({path.stat().st_size:,} bytes, {sum(rows.values()):,} rows); "
        f"deleted {plural(len(deleted), 'copy', 'copies')} older than "
        f"{settings.backup_keep_days} days"
    )


def backup_off_because(settings: JobSettings) -> str | None:
    if settings.database != "sqlite":
        return f"the database is {settings.database}: back it up with pg_dump"
    if settings.backup_folder is None:
        return "FLAGPAL_BACKUP_DIR is not set"
    return None


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job("prune-tokens", "revoke tokens unused past their project's policy", prune_tokens),
        Job(
            "expiry-warnings",
            "mail owners and developers of tokens that expire within 14, 7 and 1 days",
            warn_of_expiring_tokens,
        ),
        Job(
            "usage-cleanup",
            "delete usage counts, sent mails, webhook deliveries and mail failures no page shows",
            remove_old_usage,
        ),
        Job(
            "backup",
            "copy the SQLite database, keep the last days",
            back_up_nightly,
            backup_off_because,
        ),
    )
}


# Claiming and running.


def period_start(now: datetime, period: timedelta) -> datetime:
    """The start of the period holding ``now``: periods start at multiples of ``period``
    from 1970-01-01 UTC, so every server computes the same ones."""
    return EPOCH + ((now - EPOCH) // period) * period


def make_rows() -> None:
    """A ``job_runs`` row for every job, made by whichever process gets there first."""
    insert = sqlite.insert if db.engine.dialect.name == "sqlite" else postgresql.insert
    db.session.execute(
        insert(JobRun).on_conflict_do_nothing(index_elements=[JobRun.name]),
        [{"name": name, "runs": 0} for name in JOBS],
    )
    db.session.commit()


def claim(name: str, now: datetime, period: timedelta, *, runner: str, force: bool) -> bool:
    """Take job ``name`` for the period holding ``now``: True for exactly one claimant
    of the period, never while a run holds it. ``force`` claims it again within a
    period it already ran for. Commits."""
    make_rows()
    start = period_start(now, period)
    where = [JobRun.name == name]
    if not force:
        where.append(or_(JobRun.period_start.is_(None), JobRun.period_start < start))
    return leases.claim(
        JobRun.running_until,
        now,
        LEASE,
        *where,
        period_start=start,
        runner=runner[:200],
        runs=JobRun.runs + 1,
        started_at=now,
    )


def off_because(name: str, settings: JobSettings) -> str | None:
    return JOBS[name].off_because(settings)


def run(
    name: str,
    now: datetime,
    settings: JobSettings,
    *,
    runner: str,
    force: bool = False,
    clock: Callable[[], datetime] = utcnow,
) -> Outcome:
    """Run job ``name`` as of ``now`` if it is on and this claim wins; ``clock`` says
    when it finished. Its changes commit, then its row says how it went."""
    job = JOBS[name]
    reason = job.off_because(settings)
    if reason is not None:
        return Outcome(name, False, False, f"off: {reason}")
    last_success = db.session.scalar(select(JobRun.last_success_at).where(JobRun.name == name))
    if not claim(name, now, settings.period, runner=runner, force=force):
        return Outcome(name, False, True, not_claimed(name, now, settings))
    try:
        summary, ok = job.work(now, settings, last_success), True
        db.session.commit()
    except (SQLAlchemyError, backup.BackupRefused) as error:
        db.session.rollback()
        summary, ok = f"failed: {first_line(error)}", False
    except Exception as error:
        db.session.rollback()
        logger.exception("Job %s failed", name)
        summary, ok = f"failed: {type(error).__name__}: {error}", False
    summary = summary[:SUMMARY_LENGTH]
    done = {"finished_at": clock(), "running_until": None, "summary": summary}
    done |= {"outcome": "ok", "last_success_at": now} if ok else {"outcome": "failed"}
    db.session.execute(
        update(JobRun)
        .where(JobRun.name == name)
        .values(**done)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    (logger.info if ok else logger.error)(
        "Job %s %s for the period from %s (%s): %s",
        name,
        "ran" if ok else "failed",
        period_start(now, settings.period).isoformat(),
        runner,
        summary,
    )
    return Outcome(name, True, ok, summary)


def not_claimed(name: str, now: datetime, settings: JobSettings) -> str:
    row = db.session.get(JobRun, name, populate_existing=True)
    if leases.held(row.running_until, now):
        return f"not run: running since {row.started_at:%Y-%m-%d %H:%M:%S} UTC ({row.runner})"
    return (
        f"not run: it ran for this period already, at {row.started_at:%Y-%m-%d %H:%M:%S} UTC "
        f"({row.runner}); next from {next_period(now, settings):%Y-%m-%d %H:%M:%S} UTC"
    )


def next_period(now: datetime, settings: JobSettings) -> datetime:
    return period_start(now, settings.period) + settings.period


def due(now: datetime, settings: JobSettings) -> list[str]:
    """The jobs on with these settings that no run has claimed for the period holding
    ``now`` and none holds: one query, for the scheduler to try to claim."""
    start = period_start(now, settings.period)
    rows = {row.name: row for row in db.session.scalars(select(JobRun))}
    db.session.commit()  # (ends the read, so the claims that follow see what is new)
    found = []
    for name, job in JOBS.items():
        row = rows.get(name)
        if job.off_because(settings) is not None:
            continue
        if row is None or (
            (row.period_start is None or row.period_start < start)
            and not leases.held(row.running_until, now)
        ):
            found.append(name)
    return found


def schedule(settings: JobSettings) -> str:
    """When the jobs run, in words."""
    if settings.period == DAY:
        return "daily from 00:00 UTC"
    return f"every {int(settings.period.total_seconds())} seconds"


def runs() -> dict[str, JobRun | None]:
    """Each job's row (None before its first claim), in the registry's order."""
    rows = {row.name: row for row in db.session.scalars(select(JobRun))}
    return {name: rows.get(name) for name in JOBS}
