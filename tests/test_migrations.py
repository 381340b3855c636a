"""The schema is the migrations: from empty to head on SQLite, matching the models."""

import flask_migrate
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from flagpal_dash.extensions import db

from .conftest import make_app


def test_migrations_run_from_empty_to_head_on_sqlite_and_match_the_models(tmp_path):
    app = make_app(f"sqlite:///{tmp_path}/fresh.sqlite3")
    with app.app_context():
        flask_migrate.upgrade()
        inspector = inspect(db.engine)
        assert set(inspector.get_table_names()) == {
            "alembic_version",
            "users",
            "projects",
            "memberships",
            "api_tokens",
            "audit_events",
            "invitations",
            "token_usage",
            "token_usage_daily",
            "rate_limit_counters",
            "user_sessions",
            "job_runs",
            "password_resets",
            "mail_failures",
            "expiry_notices",
            "outgoing_mails",
            "webhooks",
            "webhook_deliveries",
            "personal_tokens",
            "sso_identities",
        }
        token_hash_unique = [
            c["column_names"] for c in inspector.get_unique_constraints("api_tokens")
        ]
        assert ["token_hash"] in token_hash_unique
        with db.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
        assert differences == [], "a model change needs a migration (flask --app wsgi db migrate)"
        flask_migrate.downgrade(revision="base")
        assert inspect(db.engine).get_table_names() == ["alembic_version"]
        db.engine.dispose()


def test_the_migrations_ship_inside_the_package():
    from flagpal_dash import PACKAGE_DIR

    versions = list((PACKAGE_DIR / "migrations" / "versions").glob("*.py"))
    assert versions, "an installed package must carry its migrations"
