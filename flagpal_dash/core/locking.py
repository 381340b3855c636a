"""Holding rows until the transaction ends, the same way on SQLite and PostgreSQL.

Changes to one project are made one at a time: the project's row is held first
(``projects.project_by_slug(..., lock=True)``, or the web's role check for a request
that may change something), so what a change checks still holds when it commits.
"""

from ..extensions import db


def locked(query, *, of=None):
    """``query``, its rows read afresh and held until the transaction ends: another
    transaction asking for them the same way waits for this one to finish. ``of``: the
    entity whose rows are held, when ``query`` joins others.

    PostgreSQL locks the rows (``FOR NO KEY UPDATE``: rows referring to them can still
    be inserted). SQLite has no row locks: it takes the database's one write lock now,
    with ``BEGIN IMMEDIATE``, so other writers wait (readers do not).
    """
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        sqlite = connection.connection.driver_connection
        # Python's sqlite3 begins a transaction just before the first write, so a
        # connection in one has written, and holds the write lock already.
        if not sqlite.in_transaction:
            sqlite.execute("BEGIN IMMEDIATE")
    return query.with_for_update(key_share=True, of=of).execution_options(populate_existing=True)
