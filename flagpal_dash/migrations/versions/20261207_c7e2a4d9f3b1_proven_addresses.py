"""Proven email addresses: when each account's address was proven, and whether an
invitation's link was delivered by mail only.

Existing accounts count as proven (since they were made), except accounts made from an
invitation link: until now every link was shown to the owner who invited, so such an
account proves only that someone held the owner's link, not the address. They are
found as accounts that accepted an invitation within a minute of being made (the
account and the acceptance happen in one request); an admin confirms them on Admin →
Users or with ``users confirm-email``. Existing invitations were all shown to their
owners, so none counts as delivered by mail.

Revision ID: c7e2a4d9f3b1
Revises: 494ed41c6a3b
Created: 2026-12-07
"""

from datetime import timedelta

import sqlalchemy as sa
from alembic import op

revision = "c7e2a4d9f3b1"
down_revision = "494ed41c6a3b"
branch_labels = None
depends_on = None

# The longest a request that makes an account and accepts its invitation could take.
SAME_REQUEST = timedelta(minutes=1)

users = sa.table(
    "users",
    sa.column("id", sa.Integer),
    sa.column("created_at", sa.DateTime),
    sa.column("email_proven_at", sa.DateTime),
)
invitations = sa.table(
    "invitations",
    sa.column("accepted_by_id", sa.Integer),
    sa.column("accepted_at", sa.DateTime),
)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email_proven_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("invitations") as batch:
        batch.add_column(
            sa.Column("delivered_by_mail", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    connection = op.get_bind()
    made_at = dict(connection.execute(sa.select(users.c.id, users.c.created_at)).all())
    from_links = {
        user_id
        for user_id, accepted_at in connection.execute(
            sa.select(invitations.c.accepted_by_id, invitations.c.accepted_at).where(
                invitations.c.accepted_by_id.is_not(None)
            )
        )
        if user_id in made_at and made_at[user_id] <= accepted_at <= made_at[user_id] + SAME_REQUEST
    }
    query = sa.update(users).values(email_proven_at=users.c.created_at)
    if from_links:
        query = query.where(users.c.id.not_in(from_links))
    connection.execute(query)


def downgrade() -> None:
    with op.batch_alter_table("invitations") as batch:
        batch.drop_column("delivered_by_mail")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email_proven_at")
