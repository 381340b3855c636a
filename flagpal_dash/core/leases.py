"""Claiming a row of work with a lease, the same way for a job, a mail and a webhook
delivery, on SQLite and PostgreSQL.

Any number of processes and servers may ask for the same row at once. Each asks with
one conditional UPDATE: "this row, if nobody holds it and it is still to do, is mine
until ``now`` plus the lease". The database applies the UPDATEs one after another, so
exactly one of them finds the row free and changes it; the others change nothing and
are told so by the row count. No row is read first and no lock is held while the work
is done: a claimant that dies frees its row when its lease ends.
"""

from datetime import datetime, timedelta

from sqlalchemy import or_, update

from ..extensions import db


def free(until, now: datetime):
    """SQL: nobody holds the row at ``now``: its lease column ``until`` was never set,
    or has ended."""
    return or_(until.is_(None), until <= now)


def held(until: datetime | None, now: datetime) -> bool:
    """Whether a row read with its lease ending at ``until`` is held at ``now`` (``free``
    in Python, for rows already read)."""
    return until is not None and until > now


def claim(until, now: datetime, lease: timedelta, *where, **values) -> bool:
    """Take the row ``where`` names (its id, and what makes it still to do) until
    ``now + lease``, setting ``values`` with it: True for exactly one of any number of
    claimants, never while another's lease holds it. ``until`` is the row's lease
    column. Commits."""
    claimed = db.session.execute(
        update(until.class_)
        .where(*where, free(until, now))
        .values({until.key: now + lease, **values})
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return claimed == 1
