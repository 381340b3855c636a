"""Mail failures (core/mail_failures.py): each message that could not be sent, without
its body, shown to admins on the Mail page and kept 30 days.

Revision ID: e5a8c3f1b720
Revises: b3f1c9d27e64
Created: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "e5a8c3f1b720"
down_revision = "b3f1c9d27e64"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("failed_at", sa.DateTime(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_failures")),
    )
    op.create_index(op.f("ix_mail_failures_failed_at"), "mail_failures", ["failed_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_mail_failures_failed_at"), table_name="mail_failures")
    op.drop_table("mail_failures")
