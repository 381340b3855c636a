"""Jobs that run by themselves (core/jobs.py): what each does as of a given moment, the
claim that lets one run a job each period however many ask, the jobs' thread of a
serving process, and `jobs list` / `jobs run` for cron or a timer. Two servers sharing
PostgreSQL are in test_jobs_several_servers.py."""

import logging
import sqlite3
import stat
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, insert, select

from flagpal_dash import config, scheduler
from flagpal_dash.core import jobs
from flagpal_dash.core.usage import daily_counts
from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, AuditEvent, JobRun, TokenUsage, TokenUsageDay

from .conftest import make_app
from .support import issue_token

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
DAILY = jobs.JobSettings()
RUNNER = "test:1"


def run(name: str, now: datetime = NOW, settings: jobs.JobSettings = DAILY, **options):
    return jobs.run(name, now, settings, runner=RUNNER, clock=lambda: now + HOUR, **options)


def events(kind: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.kind == kind)))


def row(name: str) -> JobRun:
    db.session.expire_all()
    return db.session.get(JobRun, name)


def revoked_names() -> list[str]:
    db.session.expire_all()
    query = select(ApiToken.name).where(ApiToken.revoked_at.is_not(None)).order_by(ApiToken.name)
    return list(db.session.scalars(query))


# prune-tokens ------------------------------------------------------------------------


@pytest.fixture
def policy(team):
    """Shop revokes tokens unused for 90 days; "Stale" was last used 100 days ago."""
    with time_machine.travel(NOW - 400 * DAY, tick=False):
        for name, last_used in [("Stale", 100), ("Used lately", 10)]:
            issue_token(
                team.project, name, created_at=NOW - 200 * DAY, last_used_at=NOW - last_used * DAY
            )
        issue_token(team.other_project, "Old other", created_at=NOW - 400 * DAY)
    team.project.revoke_unused_after_days = 90
    db.session.commit()


def test_prune_tokens_revokes_per_policy_and_says_so_in_the_audit_log_and_its_row(policy):
    outcome = run("prune-tokens")

    assert (outcome.ran, outcome.ok) == (True, True)
    assert revoked_names() == ["Stale"]
    [event] = events("token.pruned")
    assert event.actor == "job prune-tokens"
    assert event.details["reason"] == "unused for 90 days (project policy)"
    assert outcome.summary.startswith("revoked 1 unused token (shop #")
    kept = row("prune-tokens")
    assert (kept.outcome, kept.summary, kept.runs) == ("ok", outcome.summary, 1)
    assert (kept.started_at, kept.finished_at, kept.last_success_at) == (NOW, NOW + HOUR, NOW)
    assert kept.running_until is None


def test_a_job_that_fails_keeps_its_last_success_and_says_why(policy, monkeypatch):
    run("prune-tokens")

    def broken(now, settings, last_success):
        raise RuntimeError("the disk is on fire")

    job = jobs.JOBS["prune-tokens"]
    monkeypatch.setitem(jobs.JOBS, "prune-tokens", jobs.Job(job.name, job.does, broken))
    outcome = run("prune-tokens", NOW + DAY)

    assert (outcome.ran, outcome.ok) == (True, False)
    kept = row("prune-tokens")
    assert kept.outcome == "failed"
    assert kept.summary == "failed: RuntimeError: the disk is on fire"
    assert kept.last_success_at == NOW, "the last good run's"
    assert kept.running_until is None, "free for the next period"


# expiry-warnings ---------------------------------------------------------------------


@pytest.fixture
def expiring(team):
    with time_machine.travel(NOW - 20 * DAY, tick=False):
        issue_token(team.project, "In 3 days", expires_at=NOW + 3 * DAY)
        issue_token(team.project, "In 7 and a half days", expires_at=NOW + 7 * DAY + 12 * HOUR)
        issue_token(team.project, "Rotated", expires_at=NOW + 2 * DAY, rotated_at=NOW - DAY)
        issue_token(team.other_project, "Forever")


def test_expiry_warnings_warn_of_each_token_once_as_it_comes_within_a_week(expiring, caplog):
    caplog.set_level(logging.INFO, logger="flagpal_dash.core.jobs")
    outcome = run("expiry-warnings")

    assert outcome.summary == "1 token newly expiring within 7 days (1 in all)"
    [event] = events("token.expiring")
    assert event.target.endswith("“In 3 days”")
    assert (event.actor, event.project.slug) == ("job expiry-warnings", "shop")
    assert event.details["expires_at"] == (NOW + 3 * DAY).isoformat()
    warned = [record.getMessage() for record in caplog.records if "expires at" in record.message]
    assert warned == [f"{event.target} of shop expires at {(NOW + 3 * DAY).isoformat()}"]

    outcome = run("expiry-warnings", NOW + DAY)

    assert outcome.summary == "1 token newly expiring within 7 days (2 in all)"
    assert sorted(event.target.split("“")[1] for event in events("token.expiring")) == [
        "In 3 days”",
        "In 7 and a half days”",
    ], "the 3-day one is not warned of again"


# usage-cleanup -----------------------------------------------------------------------


def test_usage_cleanup_removes_rows_older_than_the_window_and_its_margin(team):
    token, _ = issue_token(team.project, "Counted")
    cutoff = NOW - 37 * DAY  # 30 days of window, 7 of margin
    hours = [cutoff - HOUR, cutoff, NOW - 2 * DAY, NOW]
    days = [cutoff.date() - DAY, cutoff.date(), (NOW - 29 * DAY).date(), NOW.date()]
    db.session.execute(
        insert(TokenUsage), [{"token_id": token.id, "hour": hour, "count": 5} for hour in hours]
    )
    db.session.execute(
        insert(TokenUsageDay), [{"token_id": token.id, "day": day, "count": 7} for day in days]
    )
    db.session.commit()

    outcome = run("usage-cleanup")

    assert outcome.summary == "removed 1 hourly usage row and 1 daily usage row"
    db.session.expire_all()
    assert list(db.session.scalars(select(TokenUsage.hour).order_by(TokenUsage.hour))) == hours[1:]
    assert list(db.session.scalars(select(TokenUsageDay.day).order_by(TokenUsageDay.day))) == [
        date.fromisoformat(str(day)) for day in days[1:]
    ]
    # What the sparkline reads is all still there.
    assert sum(daily_counts([token.id], NOW)[token.id]) == 14


# backup ------------------------------------------------------------------------------


def test_backup_writes_a_private_readable_copy_and_deletes_those_past_the_days_kept(
    sqlite_server, tmp_path
):
    folder = tmp_path / "backups"
    folder.mkdir()
    old = folder / "flagpal-dash-20260528T115959Z.sqlite3"  # 4 days and a second ago
    recent = folder / "flagpal-dash-20260530T120000Z.sqlite3"
    other = folder / "notes.txt"
    for path in (old, recent, other):
        path.write_text("kept by hand")
    settings = jobs.JobSettings(backup_folder=folder, backup_keep_days=4)

    outcome = run("backup", settings=settings)

    assert outcome.ok, outcome.summary
    written = folder / "flagpal-dash-20260601T120000Z.sqlite3"
    assert sorted(folder.iterdir()) == [recent, written, other]
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    copy = sqlite3.connect(written)
    try:
        assert copy.execute("SELECT count(*) FROM api_tokens").fetchone() == (3,)
    finally:
        copy.close()
    assert outcome.summary.startswith(f"wrote {written} (")
    assert outcome.summary.endswith("deleted 1 copy older than 4 days")


def test_backup_makes_its_folder_private(sqlite_server, tmp_path):
    folder = tmp_path / "missing" / "backups"
    outcome = run("backup", settings=jobs.JobSettings(backup_folder=folder))
    assert outcome.ok, outcome.summary
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert len(list(folder.iterdir())) == 1


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        (jobs.JobSettings(), "off: FLAGPAL_BACKUP_DIR is not set"),
        (
            jobs.JobSettings(database="postgresql", backup_folder=Path("/srv/backups")),
            "off: the database is postgresql: back it up with pg_dump",
        ),
    ],
)
def test_backup_is_off_without_a_folder_and_on_postgresql(app, settings, reason):
    outcome = run("backup", settings=settings)
    assert (outcome.ran, outcome.summary) == (False, reason)
    assert "backup" not in jobs.due(NOW, settings)


# The claim ---------------------------------------------------------------------------


def test_a_job_runs_once_a_period_and_never_while_a_run_holds_it(app):
    settings = jobs.JobSettings(period=timedelta(hours=6))  # 12:00 to 18:00 holds NOW
    assert jobs.claim("usage-cleanup", NOW, settings.period, runner="a", force=False)
    running = NOW + jobs.LEASE / 2
    assert not jobs.claim("usage-cleanup", running, settings.period, runner="b", force=False)
    assert not jobs.claim("usage-cleanup", running, settings.period, runner="b", force=True)
    assert jobs.due(running, settings) == ["prune-tokens", "expiry-warnings"]

    lease_over = NOW + jobs.LEASE
    assert not jobs.claim("usage-cleanup", lease_over, settings.period, runner="b", force=False)
    assert jobs.claim("usage-cleanup", lease_over, settings.period, runner="b", force=True)
    assert row("usage-cleanup").runner == "b"

    next_period = NOW + 6 * HOUR
    assert "usage-cleanup" in jobs.due(next_period, settings)
    assert run("usage-cleanup", next_period, settings).ran
    outcome = run("usage-cleanup", next_period + HOUR, settings)
    assert (outcome.ran, outcome.ok) == (False, True)
    assert outcome.summary == (
        "not run: it ran for this period already, at 2026-06-01 18:00:00 UTC (test:1); "
        "next from 2026-06-02 00:00:00 UTC"
    )
    assert row("usage-cleanup").runs == 3


def test_threads_claiming_at_once_run_a_job_once_a_period(app):
    """Each round, 4 threads of their own sessions claim the same period at once."""
    claimants, rounds = 4, 10
    barrier = threading.Barrier(claimants)
    won: list[tuple[int, str]] = []

    def claim_each_period(number: int) -> None:
        with app.app_context():
            for period in range(rounds):
                barrier.wait(timeout=30)
                if jobs.claim(
                    "prune-tokens", NOW + period * DAY, DAY, runner=f"{number}", force=False
                ):
                    won.append((period, f"{number}"))
                # Finished, so the next period's claim is not held up by the lease.
                db.session.execute(
                    JobRun.__table__.update()
                    .where(JobRun.name == "prune-tokens")
                    .values(running_until=None)
                )
                db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=claim_each_period, args=(n,)) for n in range(claimants)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(period for period, _ in won) == list(range(rounds))
    assert row("prune-tokens").runs == rounds


# The jobs' thread --------------------------------------------------------------------


def test_the_jobs_thread_is_off_when_jobs_are(app):
    assert app.config["JOBS"] is False, "the test app's default"
    assert scheduler.start(app) is None


def test_two_jobs_threads_run_each_job_once_a_period(app, database_url):
    """Two processes' threads (two apps here) on one database, with a 1-second period:
    each period's runs, counted in the rows, are one a job."""
    apps = [make_app(database_url, JOBS=True, JOBS_PERIOD_SECONDS=1) for _ in range(2)]
    started = time.time()
    threads = [scheduler.start(each) for each in apps]
    try:
        time.sleep(3.6)
    finally:
        for thread in threads:
            thread.stop(timeout=30)
        ended = time.time()
        for each in apps:
            with each.app_context():
                db.engine.dispose()
    periods = int(ended) - int(started) + 1
    db.session.expire_all()
    runs = dict(db.session.execute(select(JobRun.name, JobRun.runs)).all())
    assert set(runs) == set(jobs.JOBS)
    for name in ("prune-tokens", "expiry-warnings", "usage-cleanup"):
        assert 2 <= runs[name] <= periods, (name, runs[name], periods)
    assert runs["backup"] == 0, "off without a folder"
    assert db.session.scalar(select(func.count()).select_from(JobRun)) == 4


# jobs run / jobs list ----------------------------------------------------------------


def backup_off_because(app) -> str:
    """No folder is set; on PostgreSQL, that comes second."""
    return jobs.off_because("backup", jobs.JobSettings.from_config(app.config))


def test_jobs_run_name_runs_it_once_a_period_unless_forced(runner, team):
    with time_machine.travel(datetime.now(UTC) - 400 * DAY, tick=False):
        issue_token(team.project, "Stale")
    team.project.revoke_unused_after_days = 90
    db.session.commit()

    result = runner.invoke(args=["jobs", "run", "prune-tokens"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("prune-tokens: revoked 1 unused token (shop #")
    assert revoked_names() == ["Stale"]
    assert events("token.pruned")[0].actor == "job prune-tokens"

    result = runner.invoke(args=["jobs", "run", "prune-tokens"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("prune-tokens: not run: it ran for this period already")

    result = runner.invoke(args=["jobs", "run", "prune-tokens", "--force"])
    assert result.exit_code == 0, result.output
    assert result.output == (
        "prune-tokens: no token is unused for longer than its project's policy allows\n"
    )
    assert row("prune-tokens").runs == 2


def test_jobs_run_without_a_name_runs_every_job_that_is_on(runner, app):
    result = runner.invoke(args=["jobs", "run"])
    assert result.exit_code == 0, result.output
    assert [line.split(":")[0] for line in result.output.splitlines()] == list(jobs.JOBS)
    assert f"backup: off: {backup_off_because(app)}" in result.output.splitlines()


def test_jobs_run_an_unknown_job_names_the_jobs(runner, app):
    result = runner.invoke(args=["jobs", "run", "vacuum"])
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        "Error: Invalid value for NAME: No job is named 'vacuum'. The jobs: prune-tokens, "
        "expiry-warnings, usage-cleanup, backup."
    )
    assert db.session.scalar(select(func.count()).select_from(JobRun)) == 0


def test_jobs_run_a_job_that_is_off_says_why(runner, app):
    result = runner.invoke(args=["jobs", "run", "backup"])
    assert result.exit_code == 1
    assert result.output == f"Error: The job backup is off: {backup_off_because(app)}.\n"


def test_jobs_list_shows_each_job_its_schedule_and_last_run(runner, app):
    jobs.run("usage-cleanup", NOW, DAILY, runner="web-1:42", clock=lambda: NOW + HOUR)

    result = runner.invoke(args=["jobs", "list"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Jobs run daily from 00:00 UTC, by `jobs run` only (FLAGPAL_JOBS)."
    table = [line.split("  ") for line in lines[1:6]]
    cells = [[cell.strip() for cell in line if cell.strip()] for line in table]
    assert cells[0] == ["JOB", "SCHEDULE", "LAST START", "LAST FINISH", "OUTCOME", "LAST SUCCESS"]
    assert cells[1] == ["prune-tokens", "daily from 00:00 UTC", "-", "-", "-", "-"]
    assert cells[3] == [
        "usage-cleanup",
        "daily from 00:00 UTC",
        "2026-06-01 12:00 UTC",
        "2026-06-01 13:00 UTC",
        "ok",
        "2026-06-01 12:00 UTC",
    ]
    assert cells[4] == ["backup", f"off: {backup_off_because(app)}", "-", "-", "-", "-"]
    assert lines[6:] == ["usage-cleanup: removed 0 hourly usage rows and 0 daily usage rows"]


# Settings ----------------------------------------------------------------------------


def test_jobs_are_on_daily_and_back_up_nothing_unless_told(tmp_path):
    chosen = config.from_environment({}, str(tmp_path))
    assert (chosen["JOBS"], chosen["JOBS_PERIOD_SECONDS"], chosen["BACKUP_DIR"]) == (
        True,
        86400,
        None,
    )
    settings = jobs.JobSettings.from_config(chosen)
    assert (settings.period, settings.database, settings.backup_keep_days) == (DAY, "sqlite", 14)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("FLAGPAL_JOBS", "sometimes", "FLAGPAL_JOBS must be 1 or 0 (on or off), not 'sometimes'"),
        ("FLAGPAL_JOBS_PERIOD_SECONDS", "0", "FLAGPAL_JOBS_PERIOD_SECONDS must be between 1"),
        ("FLAGPAL_BACKUP_DIR", "backups", "FLAGPAL_BACKUP_DIR must be an absolute path"),
        ("FLAGPAL_BACKUP_KEEP_DAYS", "0", "FLAGPAL_BACKUP_KEEP_DAYS must be between 1"),
    ],
)
def test_a_jobs_setting_the_app_cannot_use_stops_it(tmp_path, name, value, message):
    with pytest.raises(config.ConfigError) as refused:
        config.from_environment({name: value}, str(tmp_path))
    assert str(refused.value).startswith(message)
