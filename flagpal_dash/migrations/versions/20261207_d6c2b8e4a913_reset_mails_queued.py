"""Password reset mails asked for on the sign-in page go through the outbox
(core/outbox.py): a queued mail may name the reset link it carries, whose secret is
made when it is sent, never stored in the outbox.

Revision ID: d6c2b8e4a913
Revises: a9d3f6b2c418
Created: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "d6c2b8e4a913"
down_revision = "a9d3f6b2c418"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outgoing_mails") as batch:
        batch.add_column(sa.Column("password_reset_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outgoing_mails") as batch:
        batch.drop_column("password_reset_id")
