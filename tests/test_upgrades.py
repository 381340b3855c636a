"""Upgrades keep everything: a database made by the first migration and filled as the
first release filled it is migrated to head; every row is still there with the same
values, every token still verifies and everyone can still sign in. Down again and back
up keeps them too.

On SQLite always; on PostgreSQL too when FLAGPAL_TEST_DATABASE_URL is set, in a schema
of its own, so the tables the rest of the suite shares are not touched.
"""

import base64
import hashlib
import os
from datetime import UTC, date, datetime, timedelta

import bcrypt
import flask_migrate
import pytest
import sqlalchemy as sa
from sqlalchemy import create_engine

from flagpal_dash import token_format
from flagpal_dash.core import usage
from flagpal_dash.core.projects import project_by_slug
from flagpal_dash.extensions import db
from flagpal_dash.models import TokenUsageDay

from .conftest import make_app
from .support import PASSWORD, issue_token, page, text_of
from .test_api_token import bearer, error_of

FIRST = "f8c7bc59cd22"
BEFORE_DAILY_USAGE = "5d3a7c1e9b42"  # the last revision with hourly usage counts alone
SCHEMA = "flagpal_upgrade_test"

# The tables as the first migration made them (not as today's models describe them).
users = sa.table(
    "users",
    sa.column("id", sa.Integer),
    sa.column("email", sa.String),
    sa.column("name", sa.String),
    sa.column("password_hash", sa.String),
    sa.column("is_admin", sa.Boolean),
    sa.column("active", sa.Boolean),
    sa.column("created_at", sa.DateTime),
)
projects = sa.table(
    "projects",
    sa.column("id", sa.Integer),
    sa.column("slug", sa.String),
    sa.column("name", sa.String),
    sa.column("created_at", sa.DateTime),
)
memberships = sa.table(
    "memberships",
    sa.column("id", sa.Integer),
    sa.column("project_id", sa.Integer),
    sa.column("user_id", sa.Integer),
    sa.column("role", sa.String),
    sa.column("created_at", sa.DateTime),
)
api_tokens = sa.table(
    "api_tokens",
    sa.column("id", sa.Integer),
    sa.column("project_id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("abilities", sa.String),
    sa.column("token_hash", sa.String),
    sa.column("hint", sa.String),
    sa.column("created_at", sa.DateTime),
    sa.column("created_by_id", sa.Integer),
    sa.column("expires_at", sa.DateTime),
    sa.column("revoked_at", sa.DateTime),
    sa.column("revoked_by_id", sa.Integer),
    sa.column("last_used_at", sa.DateTime),
)
TABLES = (users, projects, memberships, api_tokens)
# As its migration made it (442d59dd736c): naive UTC hours.
token_usage = sa.table(
    "token_usage",
    sa.column("token_id", sa.Integer),
    sa.column("hour", sa.DateTime),
    sa.column("count", sa.BigInteger),
)


def first_release_password_hash(password: str) -> str:
    """A password as the first release stored it: bcrypt of the base64 SHA-256."""
    prehashed = base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())
    return bcrypt.hashpw(prehashed, bcrypt.gensalt(4)).decode("ascii")


@pytest.fixture(params=["sqlite", "postgresql"])
def app_at_first_migration(request, tmp_path):
    """An app whose empty database is at the first migration."""
    if request.param == "sqlite":
        app = make_app(f"sqlite:///{tmp_path}/first-release.sqlite3")
        with app.app_context():
            flask_migrate.upgrade(revision=FIRST)
            yield app
            db.engine.dispose()
        return
    url = os.environ.get("FLAGPAL_TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.skip("on PostgreSQL when FLAGPAL_TEST_DATABASE_URL names one")
    owner = create_engine(url)
    with owner.begin() as connection:
        connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        connection.exec_driver_sql(f"CREATE SCHEMA {SCHEMA}")
    app = make_app(
        url,
        SQLALCHEMY_ENGINE_OPTIONS={
            "connect_args": {"options": f"-c search_path={SCHEMA}"},
            "pool_pre_ping": True,
        },
    )
    try:
        with app.app_context():
            flask_migrate.upgrade(revision=FIRST)
            yield app
            db.engine.dispose()
    finally:
        with owner.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        owner.dispose()


def add(connection, table, **values) -> int:
    return connection.execute(sa.insert(table).values(**values).returning(table.c.id)).scalar_one()


def fill_as_the_first_release(connection) -> dict[str, str]:
    """People, projects, memberships and tokens in every state, by plain INSERTs.
    Returns the token values by name."""
    now = datetime.now(UTC).replace(tzinfo=None)  # the columns hold naive UTC
    day = timedelta(days=1)
    person = {}
    for email, name, is_admin, active in [
        ("olivia@example.com", "Olivia Owner", True, True),
        ("dev@example.com", "Dana Developer", False, True),
        ("vic@example.com", "Vic Viewer", False, True),
        ("gone@example.com", "Gus Gone", False, False),
    ]:
        person[email] = add(
            connection,
            users,
            email=email,
            name=name,
            password_hash=first_release_password_hash(PASSWORD),
            is_admin=is_admin,
            active=active,
            created_at=now - 90 * day,
        )
    shop = add(connection, projects, slug="shop", name="Shop", created_at=now - 80 * day)
    other = add(connection, projects, slug="other", name="Other", created_at=now - 70 * day)
    for project, email, role in [
        (shop, "olivia@example.com", "owner"),
        (shop, "dev@example.com", "developer"),
        (shop, "vic@example.com", "viewer"),
        (shop, "gone@example.com", "developer"),
        (other, "dev@example.com", "owner"),
    ]:
        add(
            connection,
            memberships,
            project_id=project,
            user_id=person[email],
            role=role,
            created_at=now - 60 * day,
        )
    olivia, dana = person["olivia@example.com"], person["dev@example.com"]
    values = {}
    for project, name, abilities, fields in [
        (shop, "Production App", "*", {"created_by_id": olivia}),
        (
            shop,
            "Metrics exporter",
            "metrics read",
            {"created_by_id": dana, "expires_at": now + 30 * day, "last_used_at": now - day},
        ),
        (shop, "Made by the CLI", "read write", {}),
        (
            shop,
            "Old staging",
            "read",
            {"created_by_id": dana, "revoked_at": now - 2 * day, "revoked_by_id": olivia},
        ),
        (shop, "Last year's CI", "read", {"expires_at": now - 5 * day}),
        (other, "Other app", "write", {"created_by_id": dana}),
    ]:
        value = token_format.generate()
        values[name] = value
        add(
            connection,
            api_tokens,
            project_id=project,
            name=name,
            abilities=abilities,
            token_hash=token_format.digest(value),
            hint=token_format.hint(value),
            created_at=now - 50 * day,
            **fields,
        )
    return values


def rows(connection) -> dict[str, list]:
    """Every row of the first migration's tables, in its columns."""
    return {
        table.name: connection.execute(sa.select(table).order_by(table.c.id)).mappings().all()
        for table in TABLES
    }


def test_an_upgrade_from_the_first_migration_keeps_every_row_and_token(app_at_first_migration):
    app = app_at_first_migration
    with db.engine.begin() as connection:
        values = fill_as_the_first_release(connection)
    with db.engine.connect() as connection:
        before = rows(connection)
    assert [len(before[table.name]) for table in TABLES] == [4, 2, 5, 6]

    flask_migrate.upgrade()

    with db.engine.connect() as connection:
        assert rows(connection) == before
        # What later migrations added has the values an old row should have.
        # No session from before the upgrade stays signed in.
        assert connection.execute(sa.text("SELECT count(*) FROM user_sessions")).scalar() == 0
        added = "revoked_reason, rotated_at, replaced_by_id"
        assert connection.execute(sa.text(f"SELECT DISTINCT {added} FROM api_tokens")).all() == [
            (None, None, None)
        ]

    # Every downgrade keeps the rows too: down to the first migration and up again.
    flask_migrate.downgrade(revision=FIRST)
    with db.engine.connect() as connection:
        assert rows(connection) == before
    flask_migrate.upgrade()
    with db.engine.connect() as connection:
        assert rows(connection) == before

    still_good(app, values)

    # New rows go after the old ones (PostgreSQL's sequences kept up).
    shop = project_by_slug("shop")
    token, value = issue_token(shop, "After the upgrade")
    assert token.id > max(row["id"] for row in before["api_tokens"])
    assert app.test_client().get("/api/v1/token", headers=bearer(value)).status_code == 200
    db.session.remove()


@pytest.mark.usefixtures("app_at_first_migration")
def test_the_upgrade_to_daily_usage_sums_the_hours_already_counted():
    flask_migrate.upgrade(revision=BEFORE_DAILY_USAGE)
    with db.engine.begin() as connection:
        fill_as_the_first_release(connection)
        production, exporter = connection.execute(
            sa.select(api_tokens.c.id)
            .where(api_tokens.c.name.in_(["Production App", "Metrics exporter"]))
            .order_by(api_tokens.c.name.desc())
        ).scalars()
        hours = [
            (production, datetime(2026, 11, 18, 0), 5),  # the first hour of a day
            (production, datetime(2026, 11, 18, 9), 7),
            (production, datetime(2026, 11, 18, 23), 3_000_000_000),  # past 32 bits
            (production, datetime(2026, 11, 19, 0), 1),  # the next day
            (exporter, datetime(2026, 11, 18, 12), 2),
            (exporter, datetime(2026, 11, 20, 11), 4),
        ]
        connection.execute(
            sa.insert(token_usage),
            [{"token_id": t, "hour": hour, "count": n} for t, hour, n in hours],
        )
    expected = sorted(
        [
            (production, date(2026, 11, 18), 3_000_000_012),
            (production, date(2026, 11, 19), 1),
            (exporter, date(2026, 11, 18), 2),
            (exporter, date(2026, 11, 20), 4),
        ]
    )
    days = sa.select(TokenUsageDay.token_id, TokenUsageDay.day, TokenUsageDay.count).order_by(
        TokenUsageDay.token_id, TokenUsageDay.day
    )

    flask_migrate.upgrade()
    with db.engine.connect() as connection:
        assert [tuple(row) for row in connection.execute(days)] == expected
        assert connection.scalar(sa.select(sa.func.count()).select_from(token_usage)) == 6
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    assert usage.daily_counts([production, exporter], now, days=3) == {
        production: [3_000_000_012, 1, 0],
        exporter: [2, 0, 4],
    }
    db.session.remove()

    # Down drops the sums and keeps the hours; up again sums them again.
    flask_migrate.downgrade(revision=BEFORE_DAILY_USAGE)
    with db.engine.connect() as connection:
        assert "token_usage_daily" not in sa.inspect(connection).get_table_names()
        assert connection.scalar(sa.select(sa.func.count()).select_from(token_usage)) == 6
    flask_migrate.upgrade()
    with db.engine.connect() as connection:
        assert [tuple(row) for row in connection.execute(days)] == expected


def still_good(app, values: dict[str, str]) -> None:
    """Tokens verify (or are refused for the reason they were before); people sign in
    and see their project."""
    client = app.test_client()
    for name, slug in [
        ("Production App", "shop"),
        ("Metrics exporter", "shop"),
        ("Made by the CLI", "shop"),
        ("Other app", "other"),
    ]:
        response = client.get("/api/v1/token", headers=bearer(values[name]))
        assert response.status_code == 200, (name, response.text)
        data = response.get_json(force=True)["data"]
        assert data["attributes"]["name"] == name
        assert data["relationships"]["project"]["data"]["id"] == slug
    for name, code in [("Old staging", "token_revoked"), ("Last year's CI", "token_expired")]:
        response = client.get("/api/v1/token", headers=bearer(values[name]))
        assert response.status_code == 401
        assert error_of(response)["code"] == code

    for email in ("olivia@example.com", "dev@example.com", "vic@example.com"):
        client = app.test_client()
        signed_in = client.post("/sign-in", data={"email": email, "password": PASSWORD})
        assert signed_in.status_code == 302, (email, signed_in.text)
        listing = client.get("/projects/shop/tokens")
        assert listing.status_code == 200
        names = {text_of(name) for name in page(listing).select("#token-list .token-name")}
        assert names >= {"Production App", "Made by the CLI", "Old staging"}
    refused = app.test_client().post(
        "/sign-in", data={"email": "gone@example.com", "password": PASSWORD}
    )
    assert refused.status_code != 302
    db.session.remove()


@pytest.mark.usefixtures("app_at_first_migration")
def test_the_upgrade_to_proven_addresses_distrusts_accounts_made_from_links():
    """Until then every invitation link was shown to its owner: an account made from
    one (it accepted an invitation as it was made) is not proven; the others are."""
    flask_migrate.upgrade(revision="494ed41c6a3b")
    made = datetime(2026, 11, 18, 9, 0)
    invitations = sa.table(
        "invitations",
        *(sa.column(name) for name in ("id", "project_id", "email", "role", "secret_hash")),
        *(sa.column(name, sa.DateTime) for name in ("created_at", "expires_at", "accepted_at")),
        sa.column("accepted_by_id", sa.Integer),
    )
    with db.engine.begin() as connection:
        connection.execute(
            sa.insert(users),
            [
                {
                    "id": n,
                    "email": f"{who}@example.com",
                    "name": who,
                    "password_hash": "x",
                    "is_admin": False,
                    "active": True,
                    "created_at": made,
                }
                for n, who in [(1, "by-admin"), (2, "from-link"), (3, "joined-later")]
            ],
        )
        connection.execute(
            sa.insert(projects), [{"id": 1, "slug": "shop", "name": "Shop", "created_at": made}]
        )
        connection.execute(
            sa.insert(invitations),
            [
                {
                    "id": n,
                    "project_id": 1,
                    "email": f"{who}@example.com",
                    "role": "viewer",
                    "secret_hash": str(n) * 64,
                    "created_at": made - timedelta(hours=1),
                    "expires_at": made + timedelta(days=6),
                    "accepted_at": made + delay,
                    "accepted_by_id": n,
                }
                for n, who, delay in [
                    (2, "from-link", timedelta(seconds=1)),
                    (3, "joined-later", timedelta(days=2)),
                ]
            ],
        )

    flask_migrate.upgrade()
    with db.engine.connect() as connection:
        proven = connection.execute(
            sa.text("SELECT email, email_proven_at FROM users ORDER BY id")
        ).all()
        mailed = connection.execute(sa.text("SELECT DISTINCT delivered_by_mail FROM invitations"))
        assert [tuple(row) for row in mailed] == [(False,)]
    assert [(email, when is not None) for email, when in proven] == [
        ("by-admin@example.com", True),
        ("from-link@example.com", False),
        ("joined-later@example.com", True),
    ]
    db.session.remove()
    flask_migrate.downgrade(revision="494ed41c6a3b")
