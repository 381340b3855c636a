"""Users' session version, so a password change or deactivation ends old sessions.

Revision ID: a1c3e5f70b2d
Revises: f8c7bc59cd22
Created: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "a1c3e5f70b2d"
down_revision = "f8c7bc59cd22"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("session_version", sa.Integer(), nullable=False, server_default="1")
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_version")
