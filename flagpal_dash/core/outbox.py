"""The mail outbox: notices (a token expires soon, a leaked token was revoked) are
queued as rows of ``outgoing_mails`` and sent afterwards.

Why a table, not ``mail.send`` at once: a row is added to the session of the action
that causes it and commits with it, so a notice is never lost (the SMTP server was
down, the process restarted) and never sent for an action that rolled back; and a
leak report or a job never waits on SMTP. (Invitations, and reset links an admin makes,
still go by ``mail.send`` at once: the person waiting is shown the link when mail
fails.)

Who sends: ``send_due(now)``, asked by each serving process's delivery thread every
few seconds and right after a commit that queued something, and by
``flagpal-dash mail send-queued``. Any number of processes may ask at once: each mail
is first claimed with one conditional UPDATE that takes a lease (core/leases.py, as
core/jobs.py claims a job), which exactly one claimant wins, so no mail goes out twice
at once. A process that dies while sending frees the mail when its lease ends; the mail
may then go twice, which is better than never for a notice.

A failed attempt keeps its error and is tried again after ``BACKOFF`` (1 minute,
5 minutes, 30 minutes, 2 hours, then every 6 hours) until ``KEEP_TRYING`` after it was
queued, when it is given up: a notice a day late tells of what has happened already.
Without mail configured rows wait the same day, then are given up (``mail
send-queued`` says how many wait, each give-up is a log line). Sent and given-up rows
are deleted ``KEEP_DAYS`` later by the usage-cleanup job.

Bodies hold no secret (no token value, no link that signs anyone in): they sit in the
database for days. A password reset mail asked for on the sign-in page holds a mark
where its link goes; the link's secret is made as the mail is sent
(core/password_resets.py), and a mail whose link can no longer be used is given up.
"""

import logging
import time
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, select

from .. import mail, queued_work
from ..extensions import db
from ..models import OutgoingMail
from ..retries import Backoff
from . import leases, password_resets

logger = logging.getLogger(__name__)
# Each sent or given-up mail is a line of the log, whatever level the rest logs at.
logger.setLevel(logging.INFO)

WAITING, SENT, GIVEN_UP = "waiting", "sent", "given up"
# Longer than one attempt can take (smtplib's timeout is 10 seconds a step).
LEASE = timedelta(minutes=5)
# After the first failed attempt, the second, …; the last repeats; given up a day after
# it was queued (a notice a day late tells of what has happened already).
BACKOFF = Backoff(
    waits=(
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=6),
    ),
    give_up_after=timedelta(days=1),
)
KEEP_TRYING = BACKOFF.give_up_after
# At most this many mails a call, and no more claims after BATCH_TIME, so one call ends
# soon and the next picks up the rest.
BATCH = 100
BATCH_TIME = LEASE / 2
# Sent and given-up rows are kept this long, for someone asking "was it sent?".
KEEP_DAYS = 7
NOT_CONFIGURED = "mail is not configured (FLAGPAL_MAIL_SERVER)"
LINK_GONE = "its password reset link was used, replaced or expired before it was sent"
SUBJECT_LENGTH = 300
ERROR_LENGTH = 500


def queue(
    to: str, subject: str, body: str, *, now: datetime, password_reset: int | None = None
) -> OutgoingMail:
    """Add a mail to the session, to be sent once the caller commits. ``password_reset``:
    the id of the reset link whose ``password_resets.LINK_MARK`` the body holds."""
    row = OutgoingMail(
        to=to,
        subject=subject[:SUBJECT_LENGTH],
        body=body,
        status=WAITING,
        queued_at=now,
        next_attempt_at=now,
        attempts=0,
        password_reset_id=password_reset,
    )
    db.session.add(row)
    queued_work.mark(db.session)
    return row


def time_come(now: datetime):
    """Mails waiting whose next attempt is due at ``now`` (sent by someone or not)."""
    return and_(OutgoingMail.status == WAITING, OutgoingMail.next_attempt_at <= now)


def due_sql(now: datetime):
    """Mails to try at ``now``: waiting, their time come, and nobody sending them."""
    return and_(time_come(now), leases.free(OutgoingMail.sending_until, now))


def claim(mail_id: int, now: datetime) -> bool:
    """Take mail ``mail_id`` to send it: True for exactly one of any number of
    claimants, never while another's lease holds it. Commits."""
    return leases.claim(
        OutgoingMail.sending_until,
        now,
        LEASE,
        OutgoingMail.id == mail_id,
        time_come(now),
        attempts=OutgoingMail.attempts + 1,
    )


def send_due(now: datetime) -> int:
    """Send the mails due at ``now`` (up to ``BATCH``); how many were sent. Each is
    claimed first, then marked sent, or kept with its error for a later attempt, or
    given up a day after it was queued. Commits."""
    if not mail.configured():
        give_up_old(now, NOT_CONFIGURED)
        return 0
    ids = list(
        db.session.scalars(
            select(OutgoingMail.id)
            .where(due_sql(now))
            .order_by(OutgoingMail.next_attempt_at, OutgoingMail.id)
            .limit(BATCH)
        )
    )
    db.session.commit()  # (ends the read, so each claim sees what others did since)
    sent, started = 0, time.monotonic()
    for mail_id in ids:
        if time.monotonic() - started > BATCH_TIME.total_seconds():
            # Leases are counted from ``now``: past this, a mail claimed now would be free
            # for another process while this one sends it. The next call takes the rest.
            break
        if not claim(mail_id, now):
            continue
        row = db.session.get(OutgoingMail, mail_id, populate_existing=True)
        body = row.body
        if row.password_reset_id is not None:
            link = password_resets.mailed_link(row.password_reset_id, now)
            if link is None:
                row.last_error = LINK_GONE
                finish(row, GIVEN_UP, now)
                db.session.commit()
                logger.info("Gave up mail %s to %s: %s", row.id, row.to, LINK_GONE)
                continue
            db.session.commit()  # (the link works before its mail can be opened)
            body = body.replace(password_resets.LINK_MARK, link)
        error = mail.why_not_sent(row.to, row.subject, body)
        if error is None:
            finish(row, SENT, now)
            sent += 1
            logger.info("Sent mail %s to %s: %s", row.id, row.to, row.subject)
        else:
            failed(row, now, error)
        db.session.commit()
    return sent


def failed(row: OutgoingMail, now: datetime, error: str) -> None:
    """After a failed attempt: try again later, or give up when a day has passed."""
    row.last_error = error[:ERROR_LENGTH]
    row.sending_until = None
    retry_at = BACKOFF.next_attempt(row.attempts, row.queued_at, now)
    if retry_at is None:
        finish(row, GIVEN_UP, now)
        logger.warning(
            "Gave up mail %s to %s after %s attempts: %s", row.id, row.to, row.attempts, error
        )
        return
    row.next_attempt_at = retry_at


def finish(row: OutgoingMail, status: str, now: datetime) -> None:
    row.status, row.finished_at, row.sending_until = status, now, None


def give_up_old(now: datetime, why: str) -> int:
    """Give up the waiting mails queued more than ``KEEP_TRYING`` ago (mail is not
    configured, so none could be tried); how many. Commits."""
    old = list(
        db.session.scalars(
            select(OutgoingMail).where(
                OutgoingMail.status == WAITING, OutgoingMail.queued_at <= now - KEEP_TRYING
            )
        )
    )
    for row in old:
        row.last_error = why
        finish(row, GIVEN_UP, now)
        logger.warning("Gave up mail %s to %s: %s", row.id, row.to, why)
    db.session.commit()
    return len(old)


def waiting() -> int:
    """How many mails wait to be sent."""
    return db.session.scalar(
        select(func.count()).select_from(OutgoingMail).where(OutgoingMail.status == WAITING)
    )


def given_up() -> int:
    """How many mails were given up in the last ``KEEP_DAYS`` days (the rows kept)."""
    return db.session.scalar(
        select(func.count()).select_from(OutgoingMail).where(OutgoingMail.status == GIVEN_UP)
    )


def remove_old(now: datetime) -> int:
    """Delete mails sent or given up more than ``KEEP_DAYS`` ago; how many. The
    caller commits."""
    return db.session.execute(
        delete(OutgoingMail)
        .where(
            OutgoingMail.status != WAITING,
            OutgoingMail.finished_at < now - timedelta(days=KEEP_DAYS),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
