"""Daily usage sums beside the hourly counts: the sparkline on each row of the API Tokens
page reads 30 rows per token instead of up to 720. Filled from the hourly counts.

Revision ID: 494ed41c6a3b
Revises: 5d3a7c1e9b42
Created: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "494ed41c6a3b"
down_revision = "5d3a7c1e9b42"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "token_usage_daily",
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_tokens.id"],
            name=op.f("fk_token_usage_daily_token_id_api_tokens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_id", "day", name=op.f("pk_token_usage_daily")),
    )
    # date() reads the hour the same way on both: SQLite's text 'YYYY-MM-DD HH:MM:SS.ffffff'
    # gives 'YYYY-MM-DD' (how SQLAlchemy stores a date there), PostgreSQL's timestamp a
    # date. The hours are UTC, so their dates are the UTC days.
    op.execute(
        "INSERT INTO token_usage_daily (token_id, day, count)"
        " SELECT token_id, date(hour), CAST(sum(count) AS BIGINT) FROM token_usage"
        " GROUP BY token_id, date(hour)"
    )


def downgrade() -> None:
    op.drop_table("token_usage_daily")
