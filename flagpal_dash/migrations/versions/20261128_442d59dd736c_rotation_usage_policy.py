"""Token rotation, hourly usage counts, revocation reasons and project token policy.

Revision ID: 442d59dd736c
Revises: 40b1a0b22d57
Created: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "442d59dd736c"
down_revision = "40b1a0b22d57"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "token_usage",
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_tokens.id"],
            name=op.f("fk_token_usage_token_id_api_tokens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_id", "hour", name=op.f("pk_token_usage")),
    )
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.add_column(sa.Column("revoked_reason", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("rotated_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("replaced_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_api_tokens_replaced_by_id_api_tokens"),
            "api_tokens",
            ["replaced_by_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("projects") as batch_op:
        batch_op.add_column(sa.Column("max_token_lifetime_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("revoke_unused_after_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("projects") as batch_op:
        batch_op.drop_column("revoke_unused_after_days")
        batch_op.drop_column("max_token_lifetime_days")
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_api_tokens_replaced_by_id_api_tokens"), type_="foreignkey"
        )
        batch_op.drop_column("replaced_by_id")
        batch_op.drop_column("rotated_at")
        batch_op.drop_column("revoked_reason")
    op.drop_table("token_usage")
