"""A way back into a locked-out instance: ``users set-password`` and ``users reset-link``
on the command line, an admin's reset link from Admin → Users, and the page behind a
reset link (once, for an hour, never for a deactivated account). Each is audited."""

import secrets
from datetime import timedelta

import pytest
from sqlalchemy import select

from flagpal_dash.core import password_resets, rows, sessions
from flagpal_dash.extensions import db
from flagpal_dash.models import AuditEvent, PasswordReset, User, utcnow

from .support import PASSWORD, add_user, page, snapshot, text_of

NEW_PASSWORD = "back in at last, thanks"


@pytest.fixture
def locked_out(app):
    """The instance's only admin, whose password nobody knows any more, signed in on an
    old laptop (a session made with the lost password)."""
    admin = add_user("ada@example.com", "Ada Admin", admin=True)
    admin.set_password(secrets.token_urlsafe(24), rounds=app.config["BCRYPT_ROUNDS"])
    db.session.commit()
    sessions.start(admin, user_agent="Firefox/133.0", address="203.0.113.9", now=utcnow())
    db.session.commit()
    return admin


def sign_in_status(app, email: str, password: str) -> int:
    return (
        app.test_client().post("/sign-in", data={"email": email, "password": password}).status_code
    )


def session_count(user: User) -> int:
    return len(sessions.of(user, utcnow()))


def events(kind: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.id)
        )
    )


def everything_stored() -> str:
    return repr(snapshot())


def link_printed(output: str) -> str:
    [line] = [line.strip() for line in output.splitlines() if "/password-reset/" in line]
    return line


def path_of(link: str) -> str:
    return link.removeprefix("http://localhost").removesuffix(" on this server")


def reset_link_cli(runner, email: str, *args: str) -> str:
    result = runner.invoke(args=["users", "reset-link", email, *args])
    assert result.exit_code == 0, result.output
    return link_printed(result.output)


def choose(client, path: str, password: str = NEW_PASSWORD, confirm: str | None = None):
    return client.post(path, data={"password": password, "confirm_password": confirm or password})


def message_of(response) -> str:
    return text_of(page(response).find(attrs={"data-error-message": True}))


# set-password


def test_set_password_lets_a_locked_out_admin_back_in(app, runner, locked_out):
    result = runner.invoke(
        args=["users", "set-password", "ada@example.com", "--password-stdin"],
        input=NEW_PASSWORD + "\n",
    )

    assert result.exit_code == 0, result.output
    assert result.output == "The password of ada@example.com is set; 1 session signed out.\n"
    assert session_count(locked_out) == 0, "the session made with the lost password ended"
    assert sign_in_status(app, "ada@example.com", NEW_PASSWORD) == 302
    [event] = events("account.password_changed")
    assert (event.actor, event.actor_id, event.target) == (
        "command line",
        None,
        "Ada Admin <ada@example.com>",
    )
    assert event.details == {"sessions_ended": 1, "via": "command line"}
    assert NEW_PASSWORD not in everything_stored()


def test_set_password_asks_twice_without_password_stdin(app, runner, locked_out):
    result = runner.invoke(
        args=["users", "set-password", "ada@example.com"],
        input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n",
    )

    assert result.exit_code == 0, result.output
    assert result.output.count("Password: ") == 1
    assert "Repeat for confirmation: " in result.output
    assert sign_in_status(app, "ada@example.com", NEW_PASSWORD) == 302


@pytest.mark.parametrize(
    ("args", "stdin", "error"),
    [
        pytest.param(
            ["ada@example.com", "--password-stdin"],
            "short\n",
            "Error: Use at least 10 characters for the password.",
            id="too short",
        ),
        pytest.param(
            ["nobody@example.com", "--password-stdin"],
            NEW_PASSWORD + "\n",
            "Error: No account has the email nobody@example.com.",
            id="no such account",
        ),
    ],
)
def test_set_password_refuses_and_changes_nothing(runner, locked_out, args, stdin, error):
    before = snapshot()

    result = runner.invoke(args=["users", "set-password", *args], input=stdin)

    assert result.exit_code == 1
    assert result.output.startswith(error), result.output
    assert snapshot() == before


# reset-link, and the page behind it


def test_a_reset_link_lets_a_locked_out_admin_back_in(app, runner, locked_out):
    link = reset_link_cli(runner, "ada@example.com")
    assert link.startswith("http://localhost/password-reset/"), "at the served address"
    secret = link.rsplit("/", 1)[1]
    assert secret not in everything_stored(), "only the secret's digest is kept"
    client = app.test_client()

    form_page = client.get(path_of(link))
    assert form_page.status_code == 200
    html = page(form_page)
    assert text_of(html.find(class_="reset-account")) == "ada@example.com"
    assert [field["name"] for field in html.select("form input[type=password]")] == [
        "password",
        "confirm_password",
    ]

    response = choose(client, path_of(link))

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get("/account").status_code == 200, "signed in by the link"
    assert session_count(locked_out) == 1, "the old laptop's session ended; this one is new"
    assert sign_in_status(app, "ada@example.com", NEW_PASSWORD) == 302
    [created] = events("account.password_reset_link_created")
    assert (created.actor, created.target) == ("command line", "Ada Admin <ada@example.com>")
    assert created.details["how"] == "command line"
    [changed] = events("account.password_changed")
    assert (changed.actor_id, changed.details["via"]) == (locked_out.id, "reset link")
    assert changed.details["sessions_ended"] == 1


def test_the_link_follows_the_public_address(app, runner, locked_out):
    app.config["PUBLIC_URL"] = "https://flags.example.com"
    assert reset_link_cli(runner, "ada@example.com").startswith(
        "https://flags.example.com/password-reset/"
    )
    assert reset_link_cli(
        runner, "ada@example.com", "--base-url", "https://other.example"
    ).startswith("https://other.example/password-reset/")


def test_the_cli_says_how_long_the_link_works(runner, locked_out):
    result = runner.invoke(args=["users", "reset-link", "ada@example.com"])
    assert "It works once, for 1 hour (until " in result.output


def test_a_used_link_is_refused(app, runner, locked_out):
    path = path_of(reset_link_cli(runner, "ada@example.com"))
    assert choose(app.test_client(), path).status_code == 302
    before = snapshot()

    for response in (
        app.test_client().get(path),
        choose(app.test_client(), path, "another new passphrase"),
    ):
        assert response.status_code == 410
        assert message_of(response).startswith("This password reset link has already been used.")
    assert snapshot() == before
    assert sign_in_status(app, "ada@example.com", NEW_PASSWORD) == 302


def test_an_expired_link_is_refused(app, locked_out):
    made = utcnow() - PasswordReset.LIFETIME - timedelta(seconds=1)
    _, secret = password_resets.create_reset(locked_out, by=None, now=made, how="test")
    db.session.commit()
    before = snapshot()

    for response in (
        app.test_client().get(f"/password-reset/{secret}"),
        choose(app.test_client(), f"/password-reset/{secret}"),
    ):
        assert response.status_code == 410
        assert message_of(response) == (
            "This password reset link has expired (links last 1 hour). Ask for another one."
        )
    assert snapshot() == before


def test_a_link_works_until_its_hour_is_up(app, locked_out):
    made = utcnow() - PasswordReset.LIFETIME + timedelta(minutes=1)
    _, secret = password_resets.create_reset(locked_out, by=None, now=made, how="test")
    db.session.commit()
    assert choose(app.test_client(), f"/password-reset/{secret}").status_code == 302


@pytest.mark.parametrize("secret", ["x" * 43, "x" * 101, "x" * 5000])
def test_an_unknown_link_is_not_found(app, locked_out, secret):
    assert app.test_client().get("/password-reset/" + secret).status_code == 404


def test_a_secret_longer_than_any_made_names_no_row_and_is_not_hashed(app, monkeypatch):
    """The one length rule every secret lookup shares (core/rows.py)."""
    hashed = []
    monkeypatch.setattr(rows, "secret_hash", lambda secret: hashed.append(secret) or "0")
    assert rows.by_secret(PasswordReset, "x" * (rows.LONGEST_SECRET + 1)) is None
    assert hashed == []


def test_using_one_link_voids_the_accounts_other_links(app, runner, locked_out):
    first = path_of(reset_link_cli(runner, "ada@example.com"))
    second = path_of(reset_link_cli(runner, "ada@example.com"))

    assert choose(app.test_client(), second).status_code == 302

    assert app.test_client().get(first).status_code == 404


def test_a_new_password_must_follow_the_rule(app, runner, locked_out):
    path = path_of(reset_link_cli(runner, "ada@example.com"))
    client = app.test_client()

    response = choose(client, path, "short")
    assert response.status_code == 422
    errors = [text_of(li) for li in page(response).select("#password-errors li")]
    assert errors == ["Use at least 10 characters for the password."]
    response = choose(client, path, NEW_PASSWORD, "something else entirely")
    assert response.status_code == 422

    assert choose(client, path).status_code == 302, "the link still works"


def test_a_deactivated_account_gets_no_link(app, runner, locked_out):
    add_user("bea@example.com", "Bea Gone").active = False
    db.session.commit()
    before = snapshot()

    result = runner.invoke(args=["users", "reset-link", "bea@example.com"])

    assert result.exit_code == 1
    assert "The account bea@example.com is deactivated: reactivate it first" in result.output
    assert snapshot() == before


def test_a_link_stops_working_when_its_account_is_deactivated(app, runner, locked_out):
    add_user("bea@example.com", "Bea Soon Gone")
    db.session.commit()
    path = path_of(reset_link_cli(runner, "bea@example.com"))
    assert runner.invoke(args=["users", "deactivate", "bea@example.com"]).exit_code == 0

    response = choose(app.test_client(), path)

    assert response.status_code == 410
    assert message_of(response).startswith("This account is deactivated")
    assert sign_in_status(app, "bea@example.com", NEW_PASSWORD) == 422


# Admin → Users


def reset_button(response, email: str):
    for form in page(response).select("table.users form"):
        if (
            form.button
            and text_of(form.button).endswith(email)
            and "reset link" in text_of(form.button)
        ):
            return form
    return None


def test_an_admin_makes_a_reset_link_shown_once_without_mail(app, client, team, locked_out):
    admin = add_user("root@example.com", "Rita Root", admin=True)
    db.session.commit()
    client.post("/sign-in", data={"email": "root@example.com", "password": PASSWORD})
    form = reset_button(client.get("/admin/users"), "ada@example.com")
    assert text_of(form.button) == "Make a reset link for ada@example.com"

    response = client.post(form["action"])

    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    link = page(response).find(id="reset-link")["value"]
    assert link.startswith("http://localhost/password-reset/")
    [created] = events("account.password_reset_link_created")
    assert (created.actor_id, created.target, created.details["how"]) == (
        admin.id,
        "Ada Admin <ada@example.com>",
        "by an admin",
    )
    assert choose(app.test_client(), path_of(link)).status_code == 302
    assert sign_in_status(app, "ada@example.com", NEW_PASSWORD) == 302


def test_with_mail_an_admin_mails_the_link_and_never_sees_it(app, client, locked_out, mail_server):
    app.config.update(mail_server.settings())
    add_user("root@example.com", "Rita Root", admin=True)
    db.session.commit()
    client.post("/sign-in", data={"email": "root@example.com", "password": PASSWORD})
    form = reset_button(client.get("/admin/users"), "ada@example.com")
    assert text_of(form.button) == "Mail a reset link for ada@example.com"

    response = client.post(form["action"])

    assert response.status_code == 302
    after = client.get(response.headers["Location"])
    flashed = [text_of(p) for p in page(after).select("#flash .flash")]
    assert flashed == ["A password reset link was mailed to ada@example.com."]
    assert "/password-reset/" not in after.text
    [message] = mail_server.messages
    assert mail_server.recipients == [["ada@example.com"]]
    [link] = [w for w in message.get_content().split() if "/password-reset/" in w]
    assert choose(app.test_client(), path_of(link)).status_code == 302


def test_deactivated_accounts_have_no_reset_button(app, client, locked_out):
    add_user("root@example.com", "Rita Root", admin=True)
    add_user("bea@example.com", "Bea Gone").active = False
    db.session.commit()
    client.post("/sign-in", data={"email": "root@example.com", "password": PASSWORD})
    users = client.get("/admin/users")
    assert reset_button(users, "ada@example.com") is not None
    assert reset_button(users, "bea@example.com") is None
