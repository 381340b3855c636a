"""Mail notices: the outbox of mails to send (core/outbox.py), the expiry notices sent
per token and threshold (core/notices.py), and each person's choice to get expiry mail
(on for everyone to begin with).

Revision ID: e5a8c3f1d702
Revises: e5a8c3f1b720
Created: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "e5a8c3f1d702"
down_revision = "e5a8c3f1b720"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("expiry_mail", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    op.create_table(
        "expiry_notices",
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("noticed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_tokens.id"],
            name=op.f("fk_expiry_notices_token_id_api_tokens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_id", "days", name=op.f("pk_expiry_notices")),
    )
    op.create_table(
        "outgoing_mails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("to", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("queued_at", sa.DateTime(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("sending_until", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outgoing_mails")),
    )
    op.create_index(
        op.f("ix_outgoing_mails_status_next_attempt_at"),
        "outgoing_mails",
        ["status", "next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_outgoing_mails_status_next_attempt_at"), table_name="outgoing_mails")
    op.drop_table("outgoing_mails")
    op.drop_table("expiry_notices")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("expiry_mail")
