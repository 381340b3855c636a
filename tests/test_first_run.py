"""A fresh install: the console's one-time link creates the first admin and project."""

from flagpal_dash.core.projects import membership_of, project_by_slug
from flagpal_dash.extensions import db
from flagpal_dash.models import Project, User
from flagpal_dash.permissions import Role

from .support import add_user, page, setup_code, text_of

SETUP_FORM = {
    "name": "Ada Admin",
    "email": "Ada@Example.com ",
    "password": "a long enough password",
    "confirm_password": "a long enough password",
    "project_name": "Shop Backend",
}


def setup_path(runner) -> str:
    result = runner.invoke(args=["setup-link"])
    assert result.exit_code == 0
    link = result.output.split()[-1]
    assert link.startswith("http://localhost/setup/"), "at the served address (conftest)"
    return link.removeprefix("http://localhost")


def test_setup_link_creates_the_first_admin_and_their_project(client, runner):
    path = setup_path(runner)
    form_page = client.get(path)
    assert form_page.status_code == 200
    assert page(form_page).find("h1").get_text() == "Set up FlagPal Dash"

    response = client.post(path, data=SETUP_FORM)
    assert response.status_code == 302
    assert response.headers["Location"] == "/projects/shop-backend/tokens"

    user = User.by_email("ada@example.com")
    assert user.is_admin and user.name == "Ada Admin"
    assert user.check_password("a long enough password")
    assert user.email_proven_at is not None, "the server's operator vouches for it"
    project = project_by_slug("shop-backend")
    assert project.name == "Shop Backend"
    assert membership_of(user, project).role is Role.OWNER

    tokens_page = client.get(response.headers["Location"])
    assert tokens_page.status_code == 200, "the new admin is signed in"
    assert "Welcome, Ada Admin" in text_of(page(tokens_page).find(id="flash"))


def test_setup_page_is_404_without_the_right_code(client, runner):
    assert client.get("/setup/not-the-code").status_code == 404
    assert client.post("/setup/not-the-code", data=SETUP_FORM).status_code == 404
    assert db.session.query(User).count() == 0


def test_setup_link_is_gone_once_an_account_exists(app, client, runner):
    path = setup_path(runner)
    add_user("someone@example.com", "Someone")
    db.session.commit()
    assert client.get(path).status_code == 404
    assert client.post(path, data=SETUP_FORM).status_code == 404
    assert User.by_email("ada@example.com") is None
    result = runner.invoke(args=["setup-link"])
    assert "Set-up is done" in result.output
    assert setup_code() not in result.output


def test_setup_form_explains_bad_input_and_creates_nothing(client, runner):
    path = setup_path(runner)
    bad = SETUP_FORM | {
        "email": "not-an-email",
        "confirm_password": "something else",
        "project_name": "  ",
    }
    response = client.post(path, data=bad)
    assert response.status_code == 422
    errors = [text_of(li) for li in page(response).select(".field-errors li")]
    assert "Enter an email address like name@example.com." in errors
    assert "The two passwords differ." in errors
    assert "Project name is required." in errors
    assert db.session.query(User).count() == 0
    assert db.session.query(Project).count() == 0


def test_sign_in_page_points_to_the_setup_link_while_there_is_no_account(client, caplog):
    response = client.get("/sign-in")
    assert response.status_code == 200
    notice = page(response).select_one(".notice")
    assert "no accounts yet" in text_of(notice)
    assert "flask --app wsgi setup-link" in text_of(notice)
    # The log names the server and the command, not the link: the code is a secret,
    # for the console (tests/test_links.py has the forged addresses).
    [line] = [r.getMessage() for r in caplog.records if "No account exists yet" in r.getMessage()]
    assert line.startswith("No account exists yet at http://localhost.")
    assert "flask --app wsgi setup-link" in line
    assert setup_code() not in caplog.text


def test_setup_form_states_the_password_rule_before_it_is_broken(client, runner):
    """Under the field and linked to it for screen readers, on the first view."""
    form = page(client.get(setup_path(runner)))
    password = form.find("input", attrs={"name": "password"})
    hint = form.find(id=password["aria-describedby"])
    assert text_of(hint) == "At least 10 characters."
    assert hint.find_previous("label")["for"] == password["id"], "between label and field"
    assert form.select(".field-errors") == []
    # The form's two parts are sections with their own headings.
    assert [text_of(f.find("legend")) for f in form.select("fieldset.form-section")] == [
        "Your account",
        "Your first project",
    ]
