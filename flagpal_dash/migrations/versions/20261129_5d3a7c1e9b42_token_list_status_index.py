"""An index for the API Tokens page of a project with many tokens: counting its tokens
by status, and finding those about to expire, reads the index alone.

Revision ID: 5d3a7c1e9b42
Revises: 442d59dd736c
Created: 2026-11-29
"""

from alembic import op

revision = "5d3a7c1e9b42"
down_revision = "442d59dd736c"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_api_tokens_project_id_revoked_at_expires_at"),
        "api_tokens",
        ["project_id", "revoked_at", "expires_at"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_api_tokens_project_id_revoked_at_expires_at"), table_name="api_tokens")
