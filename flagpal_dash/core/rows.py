"""Finding a row by the id or the secret a URL, a cookie or a command names.

An id comes from outside (a path, an argument): one too big for the database's
integers names no row, and a row of another project is as unknown as a made-up id.
A secret (an invitation or reset link's, a session cookie's) is stored only as its
SHA-256, and is found by that.
"""

import hashlib

from sqlalchemy import select

from ..extensions import db

# Ids are 32-bit integers in PostgreSQL; a larger number cannot name a row.
MAX_ROW_ID = 2**31 - 1
# The secrets this app makes are far shorter (secrets.token_urlsafe(32): 43 characters);
# a longer one names no row, and is not worth hashing.
LONGEST_SECRET = 100


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


def secret_hash(secret: str) -> str:
    """What is stored of a secret: its SHA-256 (hex)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def by_secret(model, secret: str):
    """The row of ``model`` whose ``secret_hash`` is ``secret``'s, else None."""
    if len(secret) > LONGEST_SECRET:
        return None
    return db.session.scalar(select(model).where(model.secret_hash == secret_hash(secret)))
