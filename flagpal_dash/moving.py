"""Moving an instance's data to another database: SQLite to PostgreSQL, the day one
server is no longer enough (``flask --app wsgi copy-to URL``).

The target must already have the schema at the same revision (``db upgrade`` with the
target's URL) and hold no rows. Every table is copied in one transaction on the
target, parents before children, in batches; afterwards PostgreSQL's id sequences are
moved past the copied ids so new rows do not collide.
"""

from sqlalchemy import Engine, MetaData, func, inspect, select, text

from .extensions import db

BATCH = 1000


class MoveRefused(Exception):
    """The target is not ready: another schema revision, or rows already in it."""


def revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.scalar(text("SELECT version_num FROM alembic_version"))


def copy_all(source: Engine, target: Engine) -> dict[str, int]:
    """Copy every row of every table from ``source`` to ``target``; rows per table."""
    if revision(source) != revision(target) or revision(target) is None:
        raise MoveRefused(
            f"the target's schema is at {revision(target) or 'nothing'}, the source's at "
            f"{revision(source)}: run `flask --app wsgi db upgrade` with "
            "FLAGPAL_DATABASE_URL set to the target first"
        )
    tables = db.metadata.sorted_tables  # parents first
    with target.connect() as connection:
        filled = [t.name for t in tables if connection.scalar(select(func.count()).select_from(t))]
    if filled:
        raise MoveRefused(f"the target already has rows in {', '.join(filled)}: use an empty one")

    copied = {}
    with source.connect() as reading, target.begin() as writing:
        for table in tables:
            copied[table.name] = 0
            rows = reading.execute(select(table)).mappings()
            while batch := rows.fetchmany(BATCH):
                writing.execute(table.insert(), [dict(row) for row in batch])
                copied[table.name] += len(batch)
        if writing.dialect.name == "postgresql":
            move_sequences_past_copied_ids(writing)
    return copied


def move_sequences_past_copied_ids(connection) -> None:
    """Each serial id column's sequence continues after the largest copied id."""
    tables = MetaData()
    tables.reflect(connection)
    quote = connection.dialect.identifier_preparer.quote
    for table in tables.sorted_tables:
        if "id" not in table.c:
            continue
        sequence = connection.scalar(
            text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table.name}
        )
        if sequence:
            largest = f"SELECT COALESCE(max(id), 0) + 1 FROM {quote(table.name)}"
            connection.execute(
                text(f"SELECT setval(:sequence, ({largest}), false)"), {"sequence": sequence}
            )
