"""Whether an account's person knows its password: not for an account made (or
claimed) by single sign-on, whose password was made at random, until they set one.

Revision ID: b7e2f9a4c615
Revises: d41f7a9c2e58
Created: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "b7e2f9a4c615"
down_revision = "d41f7a9c2e58"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("password_known", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("password_known")
