"""Jobs run once per instance however many servers run them: two gunicorn servers of two
workers each share one PostgreSQL database, every worker's jobs' thread asks every
quarter second, and each job still runs once a period (1 second here).

PostgreSQL only (CI's second pass), like test_several_servers.py: a SQLite file is for
one server (test_jobs.py has threads claiming at once on either database)."""

import re
import time

import pytest
from sqlalchemy import select

from flagpal_dash.core import jobs
from flagpal_dash.extensions import db
from flagpal_dash.models import JobRun

from .serving import serve
from .test_several_servers import TEST_DATABASE_URL, shared_settings

pytestmark = pytest.mark.skipif(
    not TEST_DATABASE_URL or TEST_DATABASE_URL.startswith("sqlite"),
    reason="several servers need a shared database server: set FLAGPAL_TEST_DATABASE_URL "
    "to a PostgreSQL URL (CI's PostgreSQL pass does)",
)

RAN = re.compile(r"Job (\S+) ran for the period from (\S+) \((\S+)\)")
SECONDS = 6


def test_two_servers_run_each_job_once_a_period(app, database_url, tmp_path):
    env = {
        **shared_settings(database_url, tmp_path),
        "FLAGPAL_JOBS": "on",
        "FLAGPAL_JOBS_PERIOD_SECONDS": "1",
    }
    started, logs = [], []
    try:
        for number in (1, 2):
            server = serve(env, tmp_path / f"server-{number}.log", workers=2)
            started.append(server)
        time.sleep(SECONDS)
    finally:
        for server in started:
            logs.append(server.stop())

    runs = [match.groups() for log in logs for match in RAN.finditer(log)]
    db.session.expire_all()
    counted = dict(db.session.execute(select(JobRun.name, JobRun.runs)).all())
    for name in ("prune-tokens", "expiry-warnings", "usage-cleanup"):
        periods = [period for job, period, _ in runs if job == name]
        assert len(periods) == len(set(periods)), f"{name} ran twice in a period"
        assert len(periods) == counted[name], "every claim is a run, in a log"
        assert len(periods) >= SECONDS // 2, f"{name} ran in {len(periods)} periods"
    assert counted["backup"] == 0, "PostgreSQL has pg_dump"
    runners = {runner for _, _, runner in runs}
    assert len(runners) >= 2, f"the workers took turns: {runners}"
    assert set(counted) == set(jobs.JOBS)
