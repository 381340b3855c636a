"""Mail that could not be sent, kept for the instance admins' Mail page: a failure in the
log alone is one nobody reads.

Each failure is a row (when, to whom, the subject, why in a line), never the body:
invitation and password reset mails carry secret links. It is written in a short
transaction of its own, on a connection of its own: the mail is sent in the middle of a
request whose session may hold changes, and recording that it failed must neither
commit them nor be lost when they roll back, nor ever make the caller fail. (On SQLite,
a caller that had already written uncommitted rows would hold the database's one write
lock: the record would wait the busy timeout, then give up with a log line. The doors
commit what the mail is about before they send it.) Rows older
than KEPT are removed by the daily ``usage-cleanup`` job (core/jobs.py).
"""

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db
from ..health import first_line
from ..models import MailFailure

logger = logging.getLogger(__name__)

KEPT = timedelta(days=30)
# How many the Mail page lists, newest first.
SHOWN = 20


def _clipped(text: str, column) -> str:
    limit = column.type.length
    return text if len(text) <= limit else text[: limit - 1] + "…"


def record(recipient: str, subject: str, reason: str, now: datetime) -> bool:
    """Keep that mail to ``recipient`` about ``subject`` failed at ``now`` for ``reason``;
    False (and a log line) when the database would not take it."""
    row = {
        "failed_at": now,
        "recipient": _clipped(recipient, MailFailure.recipient),
        "subject": _clipped(subject, MailFailure.subject),
        "error": _clipped(" ".join(reason.split()), MailFailure.error),
    }
    try:
        with db.engine.begin() as connection:
            connection.execute(insert(MailFailure).values(row))
    except SQLAlchemyError as error:
        logger.error("Could not record the mail failure to %s: %s", recipient, first_line(error))
        return False
    return True


def recent(limit: int = SHOWN) -> list[MailFailure]:
    """The latest failures, newest first."""
    return list(
        db.session.scalars(
            select(MailFailure)
            .order_by(MailFailure.failed_at.desc(), MailFailure.id.desc())
            .limit(limit)
        )
    )


def remove_old(now: datetime) -> int:
    """Delete the failures older than KEPT as of ``now``; how many. The caller commits."""
    return db.session.execute(
        delete(MailFailure).where(MailFailure.failed_at < now - KEPT)
    ).rowcount
