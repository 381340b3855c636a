"""A row per signed-in session (user_sessions), so sign-out, a password change or the
Account page can end one on the server; it replaces the users' session version. Every
session from before the upgrade is signed out (its cookie names no row).

Revision ID: 9e6da6963bdd
Revises: c7e2a4d9f3b1
Created: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "9e6da6963bdd"
down_revision = "c7e2a4d9f3b1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=False),
        sa.Column("address", sa.String(length=45), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_user_sessions_secret_hash")),
    )
    op.create_index(op.f("ix_user_sessions_user_id"), "user_sessions", ["user_id"])
    op.create_index(op.f("ix_user_sessions_last_seen_at"), "user_sessions", ["last_seen_at"])
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_version")


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("session_version", sa.Integer(), nullable=False, server_default="1")
        )
    op.drop_index(op.f("ix_user_sessions_last_seen_at"), table_name="user_sessions")
    op.drop_index(op.f("ix_user_sessions_user_id"), table_name="user_sessions")
    op.drop_table("user_sessions")
