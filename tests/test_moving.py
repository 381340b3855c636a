"""Moving to another database (`copy-to`): SQLite to the test database (PostgreSQL in
CI's second pass), every row kept, tokens still good, new rows after the copied ones."""

import pytest
from sqlalchemy import func, select

from flagpal_dash.core import tokens
from flagpal_dash.core.projects import project_by_slug
from flagpal_dash.extensions import db
from flagpal_dash.models import (
    ApiToken,
    AuditEvent,
    Membership,
    Project,
    TokenUsage,
    TokenUsageDay,
    User,
    utcnow,
)

from .support import PASSWORD, issue_token
from .test_api_token import bearer


@pytest.fixture
def source(sqlite_server):
    """A migrated SQLite instance with people, projects, tokens, usage and audit events."""
    app, values = sqlite_server
    owner = db.session.scalar(select(User))
    token = db.session.scalars(select(ApiToken)).first()
    tokens.revoke(token, actor=owner, now=utcnow())
    hour = utcnow().replace(minute=0, second=0, microsecond=0)
    db.session.add(TokenUsage(token_id=token.id, hour=hour, count=42))
    db.session.add(TokenUsageDay(token_id=token.id, day=hour.date(), count=42))
    db.session.commit()
    return app, values


def counts() -> dict[str, int]:
    return {
        model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
        for model in (User, Project, Membership, ApiToken, TokenUsage, TokenUsageDay, AuditEvent)
    }


def daily_rows() -> list[tuple]:
    return db.session.execute(
        select(TokenUsageDay.token_id, TokenUsageDay.day, TokenUsageDay.count)
    ).all()


def test_every_row_moves_and_every_token_still_answers(app, source, database_url):
    source_app, values = source
    with source_app.app_context():
        before = counts()
        daily_before = daily_rows()
    result = source_app.test_cli_runner().invoke(args=["copy-to", database_url])
    assert result.exit_code == 0, result.output
    assert "api_tokens: 3 rows" in result.output
    assert "token_usage_daily: 1 rows" in result.output

    db.session.expire_all()
    assert counts() == before
    assert daily_rows() == daily_before, "the days as days, on either database"
    client = app.test_client()
    statuses = [client.get("/api/v1/token", headers=bearer(value)).status_code for value in values]
    assert sorted(statuses) == [200, 200, 401], "the revoked one stays revoked"
    signed_in = client.post("/sign-in", data={"email": "olivia@example.com", "password": PASSWORD})
    assert signed_in.status_code == 302

    # New rows continue after the copied ids (PostgreSQL's sequences were moved on).
    shop = project_by_slug("shop")
    newer, _ = issue_token(shop, "After the move")
    assert newer.id == 4


def test_a_target_with_rows_is_refused_and_left_alone(app, team, source, database_url):
    source_app, _ = source
    before = counts()
    result = source_app.test_cli_runner().invoke(args=["copy-to", database_url])
    assert result.exit_code == 1
    assert "Nothing copied: the target already has rows in " in result.output
    assert "users" in result.output and "use an empty one" in result.output
    db.session.expire_all()
    assert counts() == before


def test_a_target_without_the_schema_is_refused(source, tmp_path):
    source_app, _ = source
    empty = f"sqlite:///{tmp_path}/new.sqlite3"
    result = source_app.test_cli_runner().invoke(args=["copy-to", empty])
    assert result.exit_code == 1
    assert "the target's schema is at nothing" in result.output
    assert "db upgrade" in result.output


def test_a_bad_target_url_gets_one_clear_line(source):
    source_app, _ = source
    result = source_app.test_cli_runner().invoke(args=["copy-to", "nosuchdb://x"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: Cannot use the target URL")
