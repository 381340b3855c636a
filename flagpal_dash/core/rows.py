"""Finding a row by the id a URL or a command names.

An id comes from outside (a path, an argument): one too big for the database's
integers names no row, and a row of another project is as unknown as a made-up id.
"""

from sqlalchemy import select

from ..extensions import db

# Ids are 32-bit integers in PostgreSQL; a larger number cannot name a row.
MAX_ROW_ID = 2**31 - 1


def can_name_a_row(row_id: int) -> bool:
    """Whether ``row_id`` is in the range of ids (checked before asking the database,
    which would refuse to compare a larger number)."""
    return 0 < row_id <= MAX_ROW_ID


def of_project(model, project, row_id: int):
    """The row ``row_id`` of ``model`` if it belongs to ``project``, else None."""
    if not can_name_a_row(row_id):
        return None
    return db.session.scalar(
        select(model).where(model.project_id == project.id, model.id == row_id)
    )
