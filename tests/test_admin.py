"""Instance admin: accounts (create, deactivate, reactivate) and new projects."""

import pytest
from sqlalchemy import func, select

from flagpal_dash.core import sessions
from flagpal_dash.core.projects import membership_of, project_by_slug
from flagpal_dash.extensions import db
from flagpal_dash.models import AuditEvent, Membership, Project, User, utcnow
from flagpal_dash.permissions import Role

from .support import PASSWORD, add_user, page, text_of

SIGN_IN_REFUSED = ["That email and password do not match an account."]


@pytest.fixture
def admin(app, team) -> User:
    ada = add_user("ada@example.com", "Ada Admin", admin=True)
    db.session.commit()
    return ada


def signed_in_client(app, email: str, password: str = PASSWORD):
    """Another browser, signed in through the real form."""
    other = app.test_client()
    response = other.post("/sign-in", data={"email": email, "password": password})
    assert response.status_code == 302, response.text
    return other


def sign_in_attempt(app, email: str, password: str = PASSWORD):
    return app.test_client().post("/sign-in", data={"email": email, "password": password})


def sign_in_errors(response) -> list[str]:
    return [text_of(p) for p in page(response).select(".form-errors p")]


def field_errors(response, field_id: str) -> list[str]:
    return [text_of(li) for li in page(response).select(f"#{field_id}-errors li")]


def flash(response) -> str:
    return text_of(page(response).find(id="flash"))


def user_rows(response) -> dict[str, dict]:
    """The users table as a person reads it, by email: name, badges and the buttons."""
    rows = {}
    for row in page(response).select("table.users tbody tr"):
        email = text_of(row.select_one("th .meta"))
        rows[email] = {
            "name": text_of(row.th).removesuffix(email).strip(),
            "badges": [text_of(badge) for badge in row.select(".badge")],
            "buttons": [text_of(button) for button in row.select(".actions button")],
        }
    return rows


def audit_kinds() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.kind).order_by(AuditEvent.id)))


def last_event(kind: str) -> AuditEvent:
    return db.session.scalars(
        select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.id.desc())
    ).first()


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def stored(user: User) -> User:
    db.session.refresh(user)
    return user


# Every route under /admin, with harmless but valid-looking form data.
ADMIN_ROUTES = [
    ("GET", "/admin/users", {}),
    ("POST", "/admin/users", {"name": "M", "email": "m@example.com", "password": "x" * 12}),
    ("POST", "/admin/users/{dev}/deactivate", {}),
    ("POST", "/admin/users/{dev}/reactivate", {}),
    ("POST", "/admin/users/{dev}/confirm-email", {}),
    ("POST", "/admin/users/{dev}/reset-link", {}),
    ("GET", "/admin/projects/new", {}),
    ("POST", "/admin/projects/new", {"name": "Heist", "owner": "dev@example.com"}),
    ("GET", "/admin/audit", {}),
    ("GET", "/admin/mail", {}),
    ("POST", "/admin/mail/test", {}),
]
ROUTE_IDS = [f"{method} {url}" for method, url, _ in ADMIN_ROUTES]


def test_the_routes_checked_here_are_every_admin_route(app):
    """So a new admin page cannot slip past the access tests below."""
    served = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/admin")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    checked = {
        (method, "/admin/users/<int:user_id>/confirm-email")
        if url.endswith("/confirm-email")
        else (method, "/admin/users/<int:user_id>/reset-link")
        if url.endswith("/reset-link")
        else (method, "/admin/users/<int:user_id>/<any(deactivate, reactivate):action>")
        if "{dev}" in url
        else (method, url)
        for method, url, _ in ADMIN_ROUTES
    }
    assert served == checked


def nothing_changed(team) -> None:
    assert count(User) == 4 and count(Project) == 2
    assert stored(team.developer).active


@pytest.mark.parametrize("method, url, data", ADMIN_ROUTES, ids=ROUTE_IDS)
def test_anonymous_visitors_are_sent_to_sign_in(client, team, method, url, data):
    url = url.format(dev=team.developer.id)
    response = client.open(url, method=method, data=data)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/sign-in?next={url}"
    nothing_changed(team)


@pytest.mark.parametrize("who", ["owner", "viewer"])
@pytest.mark.parametrize("method, url, data", ADMIN_ROUTES, ids=ROUTE_IDS)
def test_people_who_are_not_admins_get_404_everywhere(
    client, team, sign_in, method, url, data, who
):
    sign_in(team.member(who))
    response = client.open(url.format(dev=team.developer.id), method=method, data=data)
    assert response.status_code == 404
    assert text_of(page(response).find("h1")) == "Page not found"
    nothing_changed(team)


def test_only_admins_see_the_admin_link(client, team, admin, sign_in):
    sign_in(team.owner)
    assert page(client.get("/")).find("a", string="Admin") is None
    client.post("/sign-out")
    sign_in(admin)
    assert page(client.get("/")).find("a", string="Admin")["href"] == "/admin/users"


def test_the_users_list_shows_everyone_with_their_status(client, team, admin, sign_in):
    team.viewer.active = False
    db.session.commit()
    sign_in(admin)
    response = client.get("/admin/users")
    assert response.status_code == 200
    assert user_rows(response) == {
        "ada@example.com": {
            "name": "Ada Admin",
            "badges": ["Active", "Admin"],
            "buttons": ["Make a reset link for ada@example.com"],
        },
        "dev@example.com": {
            "name": "Dana Developer",
            "badges": ["Active"],
            "buttons": [
                "Make a reset link for dev@example.com",
                "Deactivate dev@example.com",
            ],
        },
        "olivia@example.com": {
            "name": "Olivia Owner",
            "badges": ["Active"],
            "buttons": [
                "Make a reset link for olivia@example.com",
                "Deactivate olivia@example.com",
            ],
        },
        "otto@example.com": {
            "name": "Otto Outsider",
            "badges": ["Active"],
            "buttons": [
                "Make a reset link for otto@example.com",
                "Deactivate otto@example.com",
            ],
        },
        "vic@example.com": {
            "name": "Vic Viewer",
            "badges": ["Deactivated"],
            "buttons": ["Reactivate vic@example.com"],
        },
    }
    form = page(response).find(id=f"user-{team.viewer.id}").find("form")
    assert form["action"] == f"/admin/users/{team.viewer.id}/reactivate"


@pytest.mark.parametrize("make_admin", [False, True], ids=["person", "admin"])
def test_an_admin_creates_an_account_that_can_sign_in(
    client, team, admin, sign_in, app, make_admin
):
    sign_in(admin)
    form = {"name": "  Nia New ", "email": "Nia@Example.com", "password": "first password 1"}
    response = client.post("/admin/users", data=form | ({"admin": "y"} if make_admin else {}))
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/users"
    listing = client.get("/admin/users")
    assert flash(listing) == "Created the account nia@example.com."
    assert user_rows(listing)["nia@example.com"]["name"] == "Nia New"
    assert user_rows(listing)["nia@example.com"]["badges"] == (
        ["Active", "Admin"] if make_admin else ["Active"]
    )
    assert "first password 1" not in response.text + listing.text

    nia = User.by_email("nia@example.com")
    assert nia.is_admin is make_admin
    assert nia.password_hash.startswith("$2b$") and "first password 1" not in nia.password_hash
    newcomer = signed_in_client(app=app, email="nia@example.com", password="first password 1")
    assert newcomer.get("/admin/users").status_code == (200 if make_admin else 404)
    event = last_event("user.created")
    assert event.actor == "Ada Admin <ada@example.com>"
    assert event.target == "Nia New <nia@example.com>"
    assert event.details == {"admin": make_admin}


@pytest.mark.parametrize(
    "form, field, message",
    [
        ({"email": "not-an-email"}, "email", "Enter an email address like name@example.com."),
        (
            {"email": "Olivia@Example.COM"},
            "email",
            "An account with the email olivia@example.com already exists.",
        ),
        ({"password": "too short"}, "password", "Use at least 10 characters for the password."),
        ({"name": "  "}, "name", "Name is required."),
    ],
    ids=["invalid email", "email taken", "short password", "no name"],
)
def test_a_bad_new_account_is_refused(client, team, admin, sign_in, app, form, field, message):
    sign_in(admin)
    events_before = audit_kinds()
    data = {"name": "Nia New", "email": "nia@example.com", "password": "first password 1"} | form
    response = client.post("/admin/users", data=data)
    assert response.status_code == 422
    assert field_errors(response, field) == [message]
    assert not page(response).find("input", id="password").get("value"), "never sent back"
    assert count(User) == 5
    assert audit_kinds() == events_before
    assert sign_in_attempt(app, data["email"], data["password"]).status_code == 422


def test_a_new_account_post_without_fields_is_refused(client, team, admin, sign_in):
    """Found by fuzzing: an empty post looked the missing email up (a 500)."""
    sign_in(admin)
    events_before = audit_kinds()
    response = client.post("/admin/users", data={})
    assert response.status_code == 422
    assert field_errors(response, "name") == ["Name is required."]
    assert field_errors(response, "email") == ["Email is required."]
    assert count(User) == 5
    assert audit_kinds() == events_before


def test_deactivating_ends_the_session_at_once_and_refuses_sign_in(
    client, team, admin, sign_in, app
):
    dana = signed_in_client(app, team.developer.email)
    assert dana.get("/projects/shop/tokens").status_code == 200
    sign_in(admin)

    response = client.post(f"/admin/users/{team.developer.id}/deactivate")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/users"
    listing = client.get("/admin/users")
    assert flash(listing) == "dev@example.com is deactivated and signed out everywhere."
    assert user_rows(listing)["dev@example.com"]["badges"] == ["Deactivated"]
    assert user_rows(listing)["dev@example.com"]["buttons"] == ["Reactivate dev@example.com"]

    next_request = dana.get("/projects/shop/tokens")
    assert next_request.status_code == 302
    assert next_request.headers["Location"] == "/sign-in?next=/projects/shop/tokens"
    assert dana.get("/").status_code == 302

    refused = sign_in_attempt(app, team.developer.email)
    unknown = sign_in_attempt(app, "nobody@example.com")
    assert refused.status_code == unknown.status_code == 422
    assert sign_in_errors(refused) == sign_in_errors(unknown) == SIGN_IN_REFUSED, (
        "the page must not tell a deactivated account from a missing one"
    )
    [failed, _] = db.session.scalars(
        select(AuditEvent).where(AuditEvent.kind == "sign_in.failed").order_by(AuditEvent.id)
    )
    assert failed.target == "Dana Developer <dev@example.com>"
    assert failed.details == {"reason": "account deactivated"}, "the log says why, for admins"

    event = last_event("user.deactivated")
    assert event.actor == "Ada Admin <ada@example.com>"
    assert event.target == "Dana Developer <dev@example.com>"
    log = page(client.get("/admin/audit")).select("table.log tbody tr")
    [row] = [row for row in log if "User deactivated" in text_of(row)]
    assert " ".join(row.select_one("[data-label=What]").get_text().split()) == (
        "User deactivated: Dana Developer <dev@example.com>"
    )
    assert text_of(row.select_one("[data-label=Who]")) == "Ada Admin <ada@example.com>"


def test_reactivating_lets_them_sign_in_again_but_not_resume_old_sessions(
    client, team, admin, sign_in, app
):
    dana = signed_in_client(app, team.developer.email)
    sign_in(admin)
    client.get(client.post(f"/admin/users/{team.developer.id}/deactivate").headers["Location"])
    assert dana.get("/").status_code == 302

    response = client.post(f"/admin/users/{team.developer.id}/reactivate")
    assert response.status_code == 302
    listing = client.get("/admin/users")
    assert flash(listing) == "dev@example.com can sign in again."
    assert user_rows(listing)["dev@example.com"]["badges"] == ["Active"]
    assert stored(team.developer).active

    assert dana.get("/").status_code == 302, "a session from before stays ended"
    again = signed_in_client(app, team.developer.email)
    assert again.get("/projects/shop/tokens").status_code == 200
    assert last_event("user.reactivated").actor == "Ada Admin <ada@example.com>"


def test_the_deactivated_flag_alone_ends_a_session(team, app):
    """Even without the session version changing (say, the flag set by another tool)."""
    dana = signed_in_client(app, team.developer.email)
    team.developer.active = False
    db.session.commit()
    assert dana.get("/projects/shop/tokens").status_code == 302
    assert len(sessions.of(team.developer, utcnow())) == 1, "refused, not ended"


@pytest.mark.parametrize("action, state", [("deactivate", False), ("reactivate", True)])
def test_repeating_an_action_says_so_and_changes_nothing(
    client, team, admin, sign_in, action, state
):
    team.developer.active = state
    db.session.commit()
    sign_in(admin)
    events_before = audit_kinds()
    response = client.post(f"/admin/users/{team.developer.id}/{action}")
    assert response.status_code == 302
    word = "active" if state else "deactivated"
    assert flash(client.get("/admin/users")) == f"dev@example.com is already {word}."
    developer = stored(team.developer)
    assert developer.active is state
    assert audit_kinds() == events_before


def test_an_admin_cannot_deactivate_themself(client, team, admin, sign_in):
    sign_in(admin)
    response = client.post(f"/admin/users/{admin.id}/deactivate")
    assert response.status_code == 409
    assert flash(response) == "You cannot deactivate your own account; nothing changed."
    assert user_rows(response)["ada@example.com"]["badges"] == ["Active", "Admin"]
    ada = stored(admin)
    assert ada.active
    assert client.get("/admin/users").status_code == 200, "still signed in"
    assert last_event("user.deactivated") is None


@pytest.mark.parametrize(
    "method, url, status",
    [
        ("POST", "/admin/users/999/deactivate", 404),
        ("POST", "/admin/users/0/reactivate", 404),
        ("POST", "/admin/users/99999999999999999999/deactivate", 404),
        ("POST", "/admin/users/{dev}/delete", 404),
        ("GET", "/admin/users/{dev}/deactivate", 405),
    ],
)
def test_unknown_accounts_and_actions(client, team, admin, sign_in, method, url, status):
    sign_in(admin)
    response = client.open(url.format(dev=team.developer.id), method=method)
    assert response.status_code == status
    assert stored(team.developer).active and count(User) == 5


@pytest.mark.parametrize(
    "slug, expected_slug", [("", "mobile-app"), ("  mobile-2  ", "mobile-2")], ids=["made", "given"]
)
def test_an_admin_creates_a_project_for_its_owner(
    client, team, admin, sign_in, app, slug, expected_slug
):
    sign_in(admin)
    form = page(client.get("/admin/projects/new")).find("main").find("form")
    assert [field["name"] for field in form.select("input:not([type=hidden])")] == [
        "name",
        "slug",
        "owner",
    ]
    response = client.post(
        "/admin/projects/new",
        data={"name": " Mobile App ", "slug": slug, "owner": "Vic@Example.com"},
    )
    assert response.status_code == 302
    assert flash(client.get(response.headers["Location"])) == (
        "Created Mobile App; vic@example.com owns it."
    )
    project = project_by_slug(expected_slug)
    assert project.name == "Mobile App"
    [membership] = project.memberships
    assert membership.user_id == team.viewer.id and membership.role is Role.OWNER
    assert membership_of(admin, project) is None, "the admin does not join it"

    vic = signed_in_client(app, team.viewer.email)
    home = page(vic.get("/"))
    assert [a.get_text() for a in home.select(".project-list a")] == ["Mobile App", "Shop"]
    assert home.find("a", string="Mobile App")["href"] == f"/projects/{expected_slug}"
    assert vic.get(f"/projects/{expected_slug}/members").status_code == 200

    created = last_event("project.created")
    assert created.actor == "Ada Admin <ada@example.com>"
    assert created.target == f"Mobile App ({expected_slug})"
    added = last_event("member.added")
    assert added.project_id == project.id and added.target == "Vic Viewer <vic@example.com>"
    assert added.details == {"role": "owner"}


@pytest.mark.parametrize(
    "form, field, message",
    [
        ({"name": "  "}, "name", "Project name is required."),
        (
            {"name": "x" * 101},
            "name",
            "Project name must be at most 100 characters (it has 101).",
        ),
        ({"slug": "shop"}, "slug", "The slug 'shop' is already used."),
        (
            {"slug": "Bad Slug"},
            "slug",
            "A slug is 1 to 50 lower-case letters, digits and single hyphens, like 'shop-backend'.",
        ),
        (
            {"owner": "nobody@example.com"},
            "owner",
            "No account has the email nobody@example.com. Create it first.",
        ),
        ({"owner": "not-an-email"}, "owner", "Enter an email address like name@example.com."),
    ],
    ids=["no name", "long name", "slug taken", "bad slug", "unknown owner", "not an email"],
)
def test_a_bad_new_project_is_refused(client, team, admin, sign_in, form, field, message):
    sign_in(admin)
    events_before = audit_kinds()
    data = {"name": "Mobile App", "slug": "", "owner": "vic@example.com"} | form
    response = client.post("/admin/projects/new", data=data)
    assert response.status_code == 422
    assert field_errors(response, field) == [message]
    assert count(Project) == 2 and count(Membership) == 4
    assert audit_kinds() == events_before


def test_deactivating_works_with_csrf_protection_on(csrf_client, team, admin):
    def token_on(response) -> str:
        return page(response).find("input", attrs={"name": "csrf_token"})["value"]

    sign_in_page = csrf_client.get("/sign-in")
    csrf_client.post(
        "/sign-in",
        data={"email": admin.email, "password": PASSWORD, "csrf_token": token_on(sign_in_page)},
    )
    users = page(csrf_client.get("/admin/users"))
    url = f"/admin/users/{team.developer.id}/deactivate"

    forged = csrf_client.post(url)
    assert forged.status_code == 400
    assert stored(team.developer).active

    form = users.find("form", action=url)
    token = form.find("input", attrs={"name": "csrf_token"})["value"]
    assert csrf_client.post(url, data={"csrf_token": token}).status_code == 302
    assert not stored(team.developer).active
