"""The command line from shared/product.md: scriptable, clear errors, non-zero exits."""

import re

import pytest
from sqlalchemy import select

from flagpal_dash import token_format
from flagpal_dash.core.projects import membership_of, project_by_slug
from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, AuditEvent, Project, User, utcnow
from flagpal_dash.permissions import Role

from .support import PASSWORD, add_user, issue_token


def run_ok(runner, *args, input=None):
    result = runner.invoke(args=list(args), input=input)
    assert result.exit_code == 0, result.output
    return result


def run_fails(runner, *args, input=None) -> str:
    result = runner.invoke(args=list(args), input=input)
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    return result.output


def test_users_create_with_password_on_stdin(runner, app):
    result = run_ok(
        runner,
        "users",
        "create",
        "Ada@Example.com",
        "--name",
        "Ada",
        "--admin",
        "--password-stdin",
        input="a long enough password\n",
    )
    assert "Created admin account ada@example.com." in result.output
    user = User.by_email("ada@example.com")
    assert user.is_admin and user.check_password("a long enough password")
    assert "a long enough password" not in result.output


def test_users_create_prompts_for_what_flags_do_not_give(runner, app):
    run_ok(
        runner, "users", "create", "bo@example.com", input="Bo\nsecret password\nsecret password\n"
    )
    user = User.by_email("bo@example.com")
    assert user.name == "Bo" and not user.is_admin and user.check_password("secret password")


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (
            ["not-an-email", "--name", "X"],
            "long enough pw\n",
            "Enter an email address like name@example.com.",
        ),
        (["x@example.com", "--name", " "], "long enough pw\n", "Name is required."),
        (
            ["x@example.com", "--name", "X"],
            "short\n",
            "Use at least 10 characters for the password.",
        ),
        (
            ["olivia@example.com", "--name", "X"],
            "long enough pw\n",
            "An account with the email olivia@example.com already exists.",
        ),
    ],
)
def test_users_create_refuses_bad_input(runner, team, args, stdin, message):
    before = db.session.query(User).count()
    output = run_fails(runner, "users", "create", *args, "--password-stdin", input=stdin)
    assert f"Error: {message}" in output
    assert db.session.query(User).count() == before


def test_projects_create_prints_the_slug_and_makes_the_owner(runner, team):
    result = run_ok(runner, "projects", "create", "Mobile App", "--owner", "vic@example.com")
    assert result.output == "mobile-app\n"
    project = project_by_slug("mobile-app")
    assert membership_of(team.viewer, project).role is Role.OWNER
    result = run_ok(runner, "projects", "create", "Mobile App!", "--owner", "vic@example.com")
    assert result.output == "mobile-app-2\n", "a made-up slug never collides"
    result = run_ok(
        runner, "projects", "create", "Billing", "--owner", "vic@example.com", "--slug", "pay"
    )
    assert result.output == "pay\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["X", "--owner", "nobody@example.com"], "No account has the email nobody@example.com."),
        (
            ["X", "--owner", "vic@example.com", "--slug", "Bad Slug"],
            "A slug is 1 to 50 lower-case letters",
        ),
        (
            ["X", "--owner", "vic@example.com", "--slug", "shop"],
            "The slug 'shop' is already used by another project.",
        ),
        (["", "--owner", "vic@example.com"], "Project name is required."),
    ],
)
def test_projects_create_refuses_bad_input(runner, team, args, message):
    output = run_fails(runner, "projects", "create", *args)
    assert message in output
    assert db.session.query(Project).count() == 2


def test_members_add(runner, team):
    run_ok(runner, "members", "add", "other", "vic@example.com", "--role", "developer")
    assert membership_of(team.viewer, team.other_project).role is Role.DEVELOPER


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope", "vic@example.com", "--role", "viewer"], "No project has the slug 'nope'."),
        (
            ["shop", "who@example.com", "--role", "viewer"],
            "No account has the email who@example.com.",
        ),
        (
            ["shop", "vic@example.com", "--role", "viewer"],
            "vic@example.com is already a member of shop, as viewer.",
        ),
        (["shop", "otto@example.com", "--role", "boss"], "Invalid value for '--role'"),
    ],
)
def test_members_add_refuses_bad_input(runner, team, args, message):
    assert message in run_fails(runner, "members", "add", *args)
    assert membership_of(team.outsider, team.project) is None


def test_tokens_create_prints_the_value_alone_on_stdout(runner, team):
    result = run_ok(
        runner,
        "tokens",
        "create",
        "shop",
        "--name",
        "CI deploy",
        "--ability",
        "read",
        "--ability",
        "metrics",
        "--expires-in-days",
        "30",
    )
    value = result.stdout.strip()
    assert result.stdout == value + "\n", "only the value, on its own line"
    assert token_format.is_well_formed(value)
    assert re.search(r'Created token \d+ "CI deploy"', result.stderr)
    [token] = db.session.query(ApiToken).all()
    assert token.token_hash == token_format.digest(value)
    assert token.abilities == frozenset({"read", "metrics"})
    assert token.created_by is None
    assert abs((token.expires_at - utcnow()).total_seconds() - 30 * 86400) < 60


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope", "--name", "X", "--ability", "read"], "No project has the slug 'nope'."),
        (["shop", "--name", "X", "--ability", "admin"], "Invalid value for '--ability'"),
        (["shop", "--name", "X"], "Missing option '--ability'"),
        (["shop", "--name", "  ", "--ability", "read"], "Name is required."),
        (
            ["shop", "--name", "X", "--ability", "read", "--expires-in-days", "0"],
            "A token can be valid for 1 to 3650 days.",
        ),
        (
            ["shop", "--name", "X", "--ability", "read", "--expires-in-days", "99999999"],
            "A token can be valid for 1 to 3650 days.",
        ),
        (
            ["shop", "--name", "X", "--ability", "read", "--expires-in-days", "soon"],
            "'soon' is not a valid integer",
        ),
        (
            ["shop", "--name", "Taken", "--ability", "read"],
            'An active token in shop is already named "Taken".',
        ),
    ],
)
def test_tokens_create_refuses_bad_input(runner, team, args, message):
    issue_token(team.project, "Taken")
    assert message in run_fails(runner, "tokens", "create", *args)
    assert db.session.query(ApiToken).count() == 1


def test_tokens_list_shows_everything_but_the_value(runner, team):
    token, value = issue_token(team.project, "Shop backend", abilities=frozenset({"read", "write"}))
    issue_token(team.project, "Old", revoked_at=utcnow())
    output = run_ok(runner, "tokens", "list", "shop").output
    lines = output.splitlines()
    assert lines[0].split() == [
        "ID",
        "NAME",
        "STATUS",
        "ABILITIES",
        "CREATED",
        "EXPIRES",
        "LAST",
        "USED",
        "HINT",
    ]
    assert "Old" in lines[1] and "revoked" in lines[1]
    assert lines[2].startswith(f"{token.id} ") and "active" in lines[2] and "read,write" in lines[2]
    assert f"flagpal_…{value[-4:]}" in lines[2]
    assert value not in output


def test_tokens_list_cuts_long_names_so_the_columns_stay_readable(runner, team):
    long_name = "Shop backend, production, the instance in Frankfurt that serves the EU"
    token, value = issue_token(team.project, long_name)
    lines = run_ok(runner, "tokens", "list", "shop").output.splitlines()
    cut = long_name[:39] + "…"
    assert lines[1].split("  ")[0].strip() == str(token.id)
    assert [cell.strip() for cell in lines[1].split("  ") if cell.strip()][1:3] == [cut, "active"]
    assert long_name not in lines[1] and f"flagpal_…{value[-4:]}" in lines[1]
    # The header's columns line up with the row's.
    assert lines[0].index("STATUS") == lines[1].index("active")


def test_tokens_list_of_an_empty_project(runner, team):
    assert run_ok(runner, "tokens", "list", "other").output == "other has no tokens yet.\n"


def test_tokens_revoke(runner, team):
    token, _ = issue_token(team.project, "Shop backend")
    output = run_ok(runner, "tokens", "revoke", "shop", str(token.id)).output
    assert f'Revoked token {token.id} "Shop backend".' in output
    db.session.refresh(token)
    assert token.revoked_at is not None and token.revoked_by is None
    again = run_ok(runner, "tokens", "revoke", "shop", str(token.id)).output
    assert "was already revoked; nothing changed." in again


@pytest.mark.parametrize("token_id", ["999", "99999999999999999999"])
def test_tokens_revoke_refuses_unknown_and_other_projects_ids(runner, team, token_id):
    theirs, _ = issue_token(team.other_project, "Theirs")
    for wrong in (token_id, str(theirs.id)):
        assert f"shop has no token with id {wrong}" in run_fails(
            runner, "tokens", "revoke", "shop", wrong
        )
    db.session.refresh(theirs)
    assert theirs.revoked_at is None


def test_users_list_shows_every_account_with_admin_status_and_address(runner, team):
    add_user("ada@example.com", "Ada Admin", admin=True)
    team.viewer.active = False
    team.outsider.email_proven_at = None  # made from an invitation link nobody mailed
    db.session.commit()
    lines = [line.split("  ") for line in run_ok(runner, "users", "list").output.splitlines()]
    rows = [[cell.strip() for cell in line if cell.strip()] for line in lines]
    assert rows == [
        ["EMAIL", "NAME", "ADMIN", "STATUS", "ADDRESS"],
        ["ada@example.com", "Ada Admin", "admin", "active", "proven"],
        ["dev@example.com", "Dana Developer", "-", "active", "proven"],
        ["olivia@example.com", "Olivia Owner", "-", "active", "proven"],
        ["otto@example.com", "Otto Outsider", "-", "active", "unproven"],
        ["vic@example.com", "Vic Viewer", "-", "deactivated", "proven"],
    ]


def test_users_deactivate_and_reactivate(runner, team, app):
    browser = app.test_client()
    browser.post("/sign-in", data={"email": team.developer.email, "password": PASSWORD})
    assert browser.get("/projects/shop/tokens").status_code == 200

    output = run_ok(runner, "users", "deactivate", "Dev@Example.com").output
    assert output == "dev@example.com is deactivated and signed out everywhere.\n"
    assert browser.get("/projects/shop/tokens").status_code == 302, "the session ends at once"
    db.session.refresh(team.developer)
    assert not team.developer.active
    again = run_ok(runner, "users", "deactivate", "dev@example.com").output
    assert again == "dev@example.com is already deactivated.\n"

    output = run_ok(runner, "users", "reactivate", "dev@example.com").output
    assert output == "dev@example.com can sign in again.\n"
    db.session.refresh(team.developer)
    assert team.developer.active
    kinds = db.session.scalars(
        select(AuditEvent).where(AuditEvent.kind.startswith("user.")).order_by(AuditEvent.id)
    ).all()
    assert [(e.kind, e.actor, e.target) for e in kinds] == [
        ("user.deactivated", "command line", "Dana Developer <dev@example.com>"),
        ("user.reactivated", "command line", "Dana Developer <dev@example.com>"),
    ]


@pytest.mark.parametrize("command", ["deactivate", "reactivate"])
def test_users_deactivate_and_reactivate_need_an_existing_account(runner, team, command):
    output = run_fails(runner, "users", command, "nobody@example.com")
    assert "Error: No account has the email nobody@example.com." in output


def test_the_last_active_admin_cannot_be_deactivated(runner, team):
    ada = add_user("ada@example.com", "Ada Admin", admin=True)
    bea = add_user("bea@example.com", "Bea Admin", admin=True)
    bea.active = False
    db.session.commit()
    output = run_fails(runner, "users", "deactivate", "ada@example.com")
    assert "Error: This is the only active admin; make another admin first." in output
    db.session.refresh(ada)
    assert ada.active

    run_ok(runner, "users", "reactivate", "bea@example.com")
    run_ok(runner, "users", "deactivate", "ada@example.com")
    db.session.refresh(ada)
    assert not ada.active
    assert "only active admin" in run_fails(runner, "users", "deactivate", "bea@example.com")


@pytest.mark.parametrize("args", [["users", "list"], ["tokens", "list", "x"], ["setup-link"]])
def test_an_unreachable_database_is_one_error_line(database_url, tmp_path, args):
    from .conftest import make_app
    from .test_token_authority import unreachable_url

    url = unreachable_url(database_url, tmp_path)
    output = run_fails(make_app(url).test_cli_runner(), *args)
    assert output.startswith("Error: Cannot reach the database ")
    assert output.count("\n") == 1


def test_a_database_without_the_apps_tables_says_to_migrate(tmp_path):
    import sqlite3

    from .conftest import make_app

    # Tables, but none of the app's (one with none at all: test_missing_database.py).
    database = sqlite3.connect(tmp_path / "new.sqlite3")
    database.execute("CREATE TABLE something_else (x INTEGER)")
    database.close()
    runner = make_app(f"sqlite:///{tmp_path}/new.sqlite3").test_cli_runner()
    output = run_fails(runner, "users", "list")
    assert "has no tables yet (no such table: users)" in output
    assert "run `flask --app wsgi db upgrade` first" in output
