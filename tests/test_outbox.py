"""The mail outbox (core/outbox.py): a queued mail is sent once its transaction commits
(never when it rolls back), through a real SMTP server; a failed attempt keeps its
error and is tried again with backoff, until a day after it was queued; two processes
never send one mail twice at once; old rows are deleted by the usage-cleanup job; and
``mail send-queued`` sends them from the command line."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from flagpal_dash.core import jobs, outbox
from flagpal_dash.extensions import db
from flagpal_dash.models import OutgoingMail
from flagpal_dash.retries import Backoff

from .conftest import make_app
from .mail_server import MailServer
from .serving import free_port

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@pytest.fixture
def mailing(app, mail_server):
    """The app's mail goes to the test's SMTP server."""
    app.config.update(mail_server.settings())
    return mail_server


def nobody_listening(app) -> None:
    """The app's mail goes to a port where no SMTP server runs (it is down)."""
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_STARTTLS=False)
    app.config.setdefault("MAIL_FROM", "flags@example.com")


def queued(to: str = "olivia@example.com", subject: str = "Hello", *, now=NOW) -> int:
    row = outbox.queue(to, subject, f"A notice for {to}.", now=now)
    db.session.commit()
    return row.id


def mail_row(mail_id: int) -> OutgoingMail:
    db.session.expire_all()
    return db.session.get(OutgoingMail, mail_id)


def arrived(server: MailServer) -> list[tuple[str, str]]:
    return [(message["To"], message["Subject"]) for message in server.messages]


def test_a_queued_mail_is_sent_once_after_its_commit(mailing):
    mail_id = queued(subject="Tokens expire soon")

    assert outbox.send_due(NOW) == 1
    assert outbox.send_due(NOW + HOUR) == 0, "sent already"

    assert arrived(mailing) == [("olivia@example.com", "Tokens expire soon")]
    assert mailing.messages[0].get_content().strip() == "A notice for olivia@example.com."
    row = mail_row(mail_id)
    assert (row.status, row.attempts, row.finished_at, row.last_error) == ("sent", 1, NOW, None)


def test_a_mail_queued_by_a_rolled_back_action_is_never_sent(mailing):
    outbox.queue("olivia@example.com", "Never", "For an action that failed.", now=NOW)
    db.session.rollback()

    assert outbox.send_due(NOW) == 0
    assert mailing.messages == []
    assert db.session.scalar(select(func.count()).select_from(OutgoingMail)) == 0


def test_a_mail_not_yet_due_waits(mailing):
    queued(now=NOW)
    assert outbox.send_due(NOW - MINUTE) == 0
    assert mailing.messages == []


def test_a_failed_attempt_keeps_its_error_and_the_mail_goes_once_the_server_is_up(app, mail_server):
    nobody_listening(app)
    mail_id = queued()

    assert outbox.send_due(NOW) == 0

    row = mail_row(mail_id)
    assert (row.status, row.attempts, row.next_attempt_at) == ("waiting", 1, NOW + MINUTE)
    assert row.last_error and "refused" in row.last_error.lower(), row.last_error
    assert row.sending_until is None, "free for the next attempt"

    app.config.update(mail_server.settings())  # the server is up again
    assert outbox.send_due(NOW + 30 * timedelta(seconds=1)) == 0, "not before its retry"
    assert mail_server.messages == []
    assert outbox.send_due(NOW + MINUTE) == 1
    assert outbox.send_due(NOW + HOUR) == 0

    assert arrived(mail_server) == [("olivia@example.com", "Hello")]
    row = mail_row(mail_id)
    assert (row.status, row.attempts) == ("sent", 2)


def test_retries_back_off_then_give_up_a_day_after_queueing(app, mail_server):
    nobody_listening(app)
    mail_id = queued()
    tried_at, moment = [], NOW
    while mail_row(mail_id).status == "waiting":
        tried_at.append(moment - NOW)
        outbox.send_due(moment)
        moment = mail_row(mail_id).next_attempt_at

    assert tried_at[:6] == [
        timedelta(0),
        MINUTE,
        6 * MINUTE,
        36 * MINUTE,
        2 * HOUR + 36 * MINUTE,
        8 * HOUR + 36 * MINUTE,
    ]
    assert tried_at[-2:] == [20 * HOUR + 36 * MINUTE, DAY], "a last attempt at the day's end"
    row = mail_row(mail_id)
    assert (row.status, row.attempts, row.finished_at) == ("given up", len(tried_at), NOW + DAY)
    assert "refused" in row.last_error.lower()

    app.config.update(mail_server.settings())
    assert outbox.send_due(NOW + 2 * DAY) == 0, "given up is final"
    assert mail_server.messages == []


def test_without_mail_configured_mails_wait_a_day_then_are_given_up(app, mail_server):
    assert not app.config.get("MAIL_SERVER")
    mail_id = queued()

    assert outbox.send_due(NOW + HOUR) == 0
    assert (mail_row(mail_id).status, mail_row(mail_id).attempts) == ("waiting", 0)

    app.config.update(mail_server.settings())  # configured within the day: it goes
    late_id = queued(to="dana@example.com", now=NOW + 2 * HOUR)
    app.config.update(MAIL_SERVER=None)
    outbox.send_due(NOW + DAY)

    row = mail_row(mail_id)
    assert (row.status, row.last_error) == ("given up", outbox.NOT_CONFIGURED)
    assert mail_row(late_id).status == "waiting", "queued less than a day ago"
    app.config.update(mail_server.settings())
    assert outbox.send_due(NOW + DAY) == 1
    assert arrived(mail_server) == [("dana@example.com", "Hello")]


def test_a_mail_claimed_by_another_process_is_left_to_it_until_its_lease_ends(mailing):
    mail_id = queued()
    assert outbox.claim(mail_id, NOW), "another process takes it (and dies sending it)"
    assert not outbox.claim(mail_id, NOW), "one claimant at a time"

    assert outbox.send_due(NOW + MINUTE) == 0
    assert mailing.messages == []

    assert outbox.send_due(NOW + outbox.LEASE) == 1, "its lease ended"
    assert len(mailing.messages) == 1


def test_two_processes_sending_at_once_send_each_mail_once(app, database_url, mailing):
    """Two apps (two processes' worth of engines and sessions) on the same database ask
    at the same moment, from two threads, for 30 mails."""
    ids = [queued(to=f"person{number}@example.com") for number in range(30)]
    senders = [make_app(database_url, **mailing.settings()) for _ in range(2)]
    start, sent, failures = threading.Barrier(2), [], []

    def send(sender) -> None:
        with sender.app_context():
            try:
                start.wait()
                sent.append(outbox.send_due(NOW))
            except Exception as error:  # reported below, not lost in the thread
                failures.append(error)
            finally:
                db.session.remove()
                db.engine.dispose()

    threads = [threading.Thread(target=send, args=(sender,)) for sender in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert sum(sent) == 30
    recipients = sorted(message["To"] for message in mailing.messages)
    assert recipients == sorted(f"person{number}@example.com" for number in range(30))
    assert {mail_row(mail_id).attempts for mail_id in ids} == {1}


def test_usage_cleanup_deletes_mails_sent_or_given_up_days_ago(app, mailing):
    old_sent, recent_sent, waiting = queued(), queued(), queued(now=NOW + 30 * DAY)
    outbox.send_due(NOW)
    for mail_id, finished in ((old_sent, NOW - 8 * DAY), (recent_sent, NOW - DAY)):
        mail_row(mail_id).finished_at = finished
        db.session.commit()

    outcome = jobs.run("usage-cleanup", NOW, jobs.JobSettings(), runner="test:1")

    assert outcome.summary.endswith("; deleted 1 old mail from the outbox")
    db.session.expire_all()
    assert set(db.session.scalars(select(OutgoingMail.id))) == {recent_sent, waiting}


def test_mail_send_queued_sends_what_waits(app, runner, mailing):
    queued(now=datetime.now(UTC) - MINUTE)

    result = runner.invoke(args=["mail", "send-queued"])

    assert result.exit_code == 0, result.output
    assert result.output == "Sent 1 mail through 127.0.0.1; 0 mails wait for a later attempt.\n"
    assert arrived(mailing) == [("olivia@example.com", "Hello")]


def test_mail_send_queued_without_mail_configured_says_what_waits(app, runner):
    result = runner.invoke(args=["mail", "send-queued"])
    assert (result.exit_code, result.output) == (
        0,
        "Mail is not configured (FLAGPAL_MAIL_SERVER); no mail waits.\n",
    )
    queued(now=datetime.now(UTC))

    result = runner.invoke(args=["mail", "send-queued"])

    assert result.exit_code == 1
    assert result.output == (
        "Error: Mail is not configured (FLAGPAL_MAIL_SERVER), so 1 mail waits; each is "
        "given up a day after it was queued.\n"
    )


def test_webhooks_and_mail_back_off_by_one_rule():
    """The rule both follow (retries.py): longer waits, one last attempt at the deadline,
    then give up."""
    backoff = Backoff(waits=(timedelta(minutes=1), timedelta(hours=6)), give_up_after=DAY)
    started = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert backoff.next_attempt(1, started, started) == started + timedelta(minutes=1)
    later = started + timedelta(minutes=1)
    assert backoff.next_attempt(2, started, later) == later + timedelta(hours=6)
    assert backoff.next_attempt(5, started, later) == later + timedelta(hours=6), "the last repeats"
    near_the_end = started + timedelta(hours=22)
    assert backoff.next_attempt(3, started, near_the_end) == started + DAY, "one last at the end"
    assert backoff.next_attempt(4, started, started + DAY) is None
