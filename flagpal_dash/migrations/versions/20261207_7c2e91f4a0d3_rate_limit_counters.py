"""Rate-limit counts in the database (limit_storage.py): every gunicorn worker and every
server sharing the database counts failed sign-ins and leaked-token reports together.

Revision ID: 7c2e91f4a0d3
Revises: 9e6da6963bdd
Created: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "7c2e91f4a0d3"
down_revision = "9e6da6963bdd"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_counters",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limit_counters")),
    )
    op.create_index(
        op.f("ix_rate_limit_counters_expires_at"), "rate_limit_counters", ["expires_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_rate_limit_counters_expires_at"), table_name="rate_limit_counters")
    op.drop_table("rate_limit_counters")
