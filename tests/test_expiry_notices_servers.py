"""Expiry notices across servers and a restart: two gunicorn servers of two workers share
one PostgreSQL database, their jobs run every second, tokens cross thresholds while
they run and after one is restarted, and each token's notice for each threshold is
decided, audited and mailed exactly once.

The servers queue the mails (core/outbox.py) and their delivery threads send them
(deliverer.py), each mail claimed by one: nothing arrives twice. PostgreSQL only, like
test_jobs_several_servers.py."""

import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from flagpal_dash.core import outbox
from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, AuditEvent, ExpiryNotice, utcnow

from .serving import serve
from .support import issue_token
from .test_several_servers import TEST_DATABASE_URL, shared_settings

pytestmark = pytest.mark.skipif(
    not TEST_DATABASE_URL or TEST_DATABASE_URL.startswith("sqlite"),
    reason="several servers need a shared database server: set FLAGPAL_TEST_DATABASE_URL "
    "to a PostgreSQL URL (CI's PostgreSQL pass does)",
)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
# A token made this long before a threshold crosses it while the servers run.
CROSSES_IN = timedelta(seconds=5)
# How long a notice may take to be decided once due: jobs run every second, on a busy
# machine.
WAIT_SECONDS = 60


def noticed() -> set[tuple[str, int]]:
    db.session.rollback()  # (a fresh look at what the servers committed)
    query = select(ApiToken.name, ExpiryNotice.days).join(ApiToken)
    return {tuple(row) for row in db.session.execute(query)}


def wait_for(notice: tuple[str, int]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while notice not in noticed():
        assert time.monotonic() < deadline, f"{notice} not noticed: {noticed()}"
        time.sleep(0.5)


def wait_until_sent() -> None:
    """Until the servers' delivery threads sent every queued mail."""
    deadline = time.monotonic() + WAIT_SECONDS
    while outbox.waiting():
        assert time.monotonic() < deadline, f"{outbox.waiting()} mails still wait"
        db.session.rollback()
        time.sleep(0.5)


def listed_tokens(body: str) -> list[str]:
    """The names of the tokens a mail lists (its ``- “Name” (…)`` lines)."""
    return [line[3:].split("”")[0] for line in body.splitlines() if line.startswith("- “")]


def test_two_servers_and_a_restart_notice_each_threshold_once(
    app, team, database_url, tmp_path, mail_server
):
    issue_token(team.project, "In 3 days", expires_at=utcnow() + 3 * DAY)
    issue_token(team.project, "In 12 hours", expires_at=utcnow() + 12 * HOUR)
    env = {
        **shared_settings(database_url, tmp_path),
        "FLAGPAL_JOBS": "on",
        "FLAGPAL_JOBS_PERIOD_SECONDS": "1",
        "FLAGPAL_DELIVERIES": "on",
        "FLAGPAL_MAIL_SERVER": "127.0.0.1",
        "FLAGPAL_MAIL_PORT": str(mail_server.port),
        "FLAGPAL_MAIL_STARTTLS": "off",
        "FLAGPAL_MAIL_FROM": "flags@example.com",
    }
    logs = []

    servers = []
    try:
        for number in (1, 2):
            servers.append(serve(env, tmp_path / f"server-{number}.log", workers=2))
        # Noticed at 14 days by whichever server runs first, then at 7 by whichever
        # runs once it crossed.
        issue_token(team.project, "Crossing", expires_at=utcnow() + 7 * DAY + CROSSES_IN)
        wait_for(("Crossing", 14))
        wait_for(("Crossing", 7))
        time.sleep(2)  # more runs, which must find nothing new
        wait_until_sent()
    finally:
        for server in servers:
            logs.append(server.stop())

    # A restart: notices sent before it are not sent again, and what crosses after it
    # is noticed.
    restarted = serve(env, tmp_path / "server-3.log", workers=2)
    try:
        issue_token(team.project, "After restart", expires_at=utcnow() + DAY + CROSSES_IN)
        wait_for(("After restart", 7))
        wait_for(("After restart", 1))
        time.sleep(2)
        wait_until_sent()
    finally:
        logs.append(restarted.stop())

    assert noticed() == {
        ("In 3 days", 7),
        ("In 12 hours", 1),
        ("Crossing", 14),
        ("Crossing", 7),
        ("After restart", 7),
        ("After restart", 1),
    }
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.kind == "token.expiring"))
    audited = Counter((event.target.split("“")[1][:-1], event.details["days"]) for event in events)
    assert audited == Counter(noticed()), "one audit event a notice"
    assert sum(log.count("Job expiry-warnings ran") for log in logs) >= 6

    for person in (team.owner, team.developer):
        bodies = [
            message.get_content()
            for message in mail_server.messages
            if message["To"] == person.email
        ]
        assert Counter(name for body in bodies for name in listed_tokens(body)) == Counter(
            {"In 3 days": 1, "In 12 hours": 1, "Crossing": 2, "After restart": 2}
        ), person.email
    assert {message["To"] for message in mail_server.messages} == {
        team.owner.email,
        team.developer.email,
    }
    assert outbox.waiting() == 0
