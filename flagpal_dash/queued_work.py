"""A nudge for the deliverer's thread (deliverer.py): work was queued in the database.

Whatever queues work to send off the request (webhook deliveries, mail) marks the
session it queued in; when that session commits, ``arrived`` is set, and the
deliverer of this process wakes at once instead of at its next look a few seconds
later. A rolled-back session queued nothing, so its mark is dropped. Other processes
find the work at their next look: the database, not this event, is the queue.
"""

import threading

from sqlalchemy import event
from sqlalchemy.orm import Session

KEY = "flagpal_work_queued"

arrived = threading.Event()


def mark(session: Session) -> None:
    """``session`` queued something: wake the deliverer when it commits."""
    session.info[KEY] = True


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.info.pop(KEY, False):
        arrived.set()


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(KEY, None)
