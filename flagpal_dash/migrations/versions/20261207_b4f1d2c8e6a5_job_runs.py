"""Jobs that run by themselves (core/jobs.py): one row a job, claimed by one server
each period, with how its last run ended.

Revision ID: b4f1d2c8e6a5
Revises: 7c2e91f4a0d3
Created: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "b4f1d2c8e6a5"
down_revision = "7c2e91f4a0d3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("period_start", sa.DateTime(), nullable=True),
        sa.Column("running_until", sa.DateTime(), nullable=True),
        sa.Column("runner", sa.String(length=200), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=True),
        sa.Column("summary", sa.String(length=400), nullable=True),
        sa.Column("last_success_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_runs")),
    )


def downgrade() -> None:
    op.drop_table("job_runs")
