"""A command run without the server's settings opens the wrong database: it must refuse
one that is not there or has no tables, naming it, instead of acting on an empty one
(a backup of nothing reported as success), and must not make one as it looks."""

import sqlite3

import pytest

from flagpal_dash.extensions import db

from .conftest import make_app

COMMANDS = [
    ["backup", "{tmp}/backup.sqlite3"],
    ["copy-to", "sqlite:///{tmp}/target.sqlite3"],
    ["users", "list"],
    ["setup-link"],
    ["tokens", "list", "shop"],
    ["tokens", "prune", "--dry-run"],
    ["audit", "export", "--since", "2026-11-01"],
]


def run(url: str, args: list[str], tmp_path):
    app = make_app(url)
    try:
        return app.test_cli_runner().invoke(args=[arg.format(tmp=tmp_path) for arg in args])
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_command_refuses_a_database_file_that_is_not_there_and_makes_none(tmp_path, args):
    database = tmp_path / "instance" / "flagpal-dash.sqlite3"
    database.parent.mkdir()
    result = run(f"sqlite:///{database}", args, tmp_path)
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith(f"Error: There is no database at {database}: ")
    assert "--env-file" in line and "FLAGPAL_ENV_FILE" in line
    assert "run `flask --app wsgi db upgrade` to make one" in line
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["instance"]
    # `db upgrade` is the one that makes it.
    upgraded = run(f"sqlite:///{database}", ["db", "upgrade"], tmp_path)
    assert upgraded.exit_code == 0, upgraded.output
    assert database.exists()


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_command_refuses_a_database_without_tables_naming_it(tmp_path, args):
    database = tmp_path / "empty.sqlite3"
    sqlite3.connect(database).close()
    result = run(f"sqlite:///{database}", args, tmp_path)
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith(f"Error: The database {database} has no tables yet: ")
    assert "run `flask --app wsgi db upgrade` first" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.sqlite3"], "no backup, no target"


def test_a_postgresql_database_without_tables_is_named_without_its_password(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("on PostgreSQL when FLAGPAL_TEST_DATABASE_URL names one")
    from sqlalchemy import create_engine, make_url

    admin = create_engine(database_url)
    with admin.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA IF EXISTS nothing_here CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA nothing_here")
    try:
        # A schema with no tables: the database a command would see, seen from there.
        url = (
            make_url(database_url)
            .set(password="hunter2")
            .update_query_dict({"options": "-csearch_path=nothing_here"})
        )
        result = run(url.render_as_string(hide_password=False), ["users", "list"], None)
        assert result.exit_code == 1
        [line] = result.output.splitlines()
        assert line.startswith(f"Error: The database {url.render_as_string()} has no tables yet")
        assert "--env-file" in line and "FLAGPAL_ENV_FILE" in line
        assert "hunter2" not in line
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA nothing_here CASCADE")
        admin.dispose()
