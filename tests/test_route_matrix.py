"""Who may use which route: every route and method of the app's URL map, against every
kind of person, checked against one table of expectations (``ROUTES``).

The table is keyed by (endpoint, method) for every method a rule accepts (Flask's own
HEAD and OPTIONS aside); a route or method added without a row fails
``test_every_route_is_in_the_matrix``, so nobody can add a page and forget its check.
Every request is also checked against the database: a row with a ``state`` changes it
exactly for the people allowed; every other request leaves every table as it was.
Public routes are rows too (health checks, static files, the token API, sign-in, setup,
invitation links, password reset links): no route is left to "its own tests" without a row here.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask import current_app
from sqlalchemy import func, select

from flagpal_dash.core import personal_tokens, sessions, webhooks
from flagpal_dash.core.invitations import create_invitation
from flagpal_dash.core.projects import add_member
from flagpal_dash.deliverer import webhook_settings
from flagpal_dash.extensions import db
from flagpal_dash.models import (
    ApiToken,
    AuditEvent,
    Invitation,
    Membership,
    PasswordReset,
    PersonalToken,
    Project,
    User,
    UserSession,
    Webhook,
    WebhookDelivery,
    utcnow,
)
from flagpal_dash.permissions import Role

from .support import PASSWORD, add_user, issue_token, setup_code, snapshot

OK, CREATED, ACCEPTED, REDIRECT = 200, 201, 202, 302
UNAUTHORIZED, FORBIDDEN, NOT_FOUND, CONFLICT = 401, 403, 404, 409
# A 302 to the sign-in page, which names the page asked for as ``next``.
SIGN_IN = "302 to sign in"

# "other_owner" owns another project, "Other", and is not on Shop; "admin" is an
# instance admin who is a member of no project.
PEOPLE = ["anonymous", "viewer", "developer", "owner", "other_owner", "admin"]
SIGNED_IN = PEOPLE[1:]
MEMBERS = ["viewer", "developer", "owner"]
IGNORED_METHODS = {"HEAD", "OPTIONS"}  # added by Flask to every rule
IDS = ("{token}", "{membership}", "{invitation}", "{webhook}")


@dataclass
class Route:
    # {token}, {membership}, {invitation}, {webhook}, {user}, {setup_code}, {session}: `targets`
    path: str
    # Who gets what. Those `allowed` do what the route does (a row with a `state`
    # changes it); for everyone else nothing in the database changes.
    allowed: dict[str, int | str]
    refused: dict[str, int | str]
    data: dict | None = None
    # A JSON body, made from the targets (the leak report names a real token).
    json: Callable[[dict], object] | None = None
    # A query whose answer changes when (and only when) the request did its work.
    state: Callable[[], object] | None = None
    # More to check in every answer (the JSON:API document of the token API).
    check: Callable[[object], None] | None = None

    def form(self, targets: dict) -> dict | None:
        """``data`` with the targets filled in (a date relative to today, an id)."""
        if self.data is None:
            return None
        return {
            name: value.format(**targets) if isinstance(value, str) else value
            for name, value in self.data.items()
        }

    def expected(self, who: str) -> int | str:
        return self.allowed[who] if who in self.allowed else self.refused[who]


def project_route(path: str, allowed: dict[str, int], **details) -> Route:
    """Under /projects/shop: members whose role lacks the permission get 403; people who
    are not members (another project's owner, an instance admin) get 404, as if there
    were no such project."""
    refused = {"anonymous": SIGN_IN, "other_owner": NOT_FOUND, "admin": NOT_FOUND}
    refused |= {who: FORBIDDEN for who in MEMBERS if who not in allowed}
    return Route(path, allowed, refused, **details)


def admin_route(path: str, status: int, **details) -> Route:
    """Instance pages answer 404 to anyone signed in who is not an admin."""
    refused = {"anonymous": SIGN_IN} | dict.fromkeys(["other_owner", *MEMBERS], NOT_FOUND)
    return Route(path, {"admin": status}, refused, **details)


def account_route(path: str, status: int, **details) -> Route:
    """Anyone signed in, for their own account."""
    return Route(path, dict.fromkeys(SIGNED_IN, status), {"anonymous": SIGN_IN}, **details)


def own_token_route(path: str, status: int, **details) -> Route:
    """The owner's own personal token: theirs alone; anyone else signed in gets 404."""
    refused = {"anonymous": SIGN_IN} | {who: NOT_FOUND for who in SIGNED_IN if who != "owner"}
    return Route(path, {"owner": status}, refused, **details)


def public(path: str, status: int, **details) -> Route:
    return Route(path, dict.fromkeys(PEOPLE, status), {}, **details)


def nobody(path: str, status: int, **details) -> Route:
    return Route(path, {}, dict.fromkeys(PEOPLE, status), **details)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def count_where(condition) -> int:
    return db.session.scalar(select(func.count()).where(condition))


def roles() -> list[tuple[str, str]]:
    return sorted(
        (user.email, membership.role.value)
        for membership, user in db.session.execute(
            select(Membership, User).join(User, Membership.user_id == User.id)
        )
    )


def revoked_tokens() -> int:
    return db.session.scalar(select(func.count(ApiToken.revoked_at)))


def a_session_is_not_a_token(response) -> None:
    """The token API ignores the session cookie: no bearer token, a JSON:API 401."""
    assert response.mimetype == "application/vnd.api+json"
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="flagpal"')
    [error] = response.json["errors"]
    assert (error["status"], error["code"]) == ("401", "token_missing")


def openapi_document(response) -> None:
    assert response.mimetype == "application/json"
    assert response.json["openapi"] == "3.1.0"


def html_page(response) -> None:
    assert response.mimetype == "text/html"


def a_session_is_not_a_personal_token(response) -> None:
    """The management API reads no cookie: a signed-in browser alone gets a JSON:API 401
    asking for a personal access token."""
    assert response.mimetype == "application/vnd.api+json"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="flagpal"'
    [error] = response.json["errors"]
    assert (error["status"], error["code"]) == ("401", "token_missing")
    assert "personal access token" in error["detail"]


def stylesheet(response) -> None:
    assert response.mimetype == "text/css"


def ready(response) -> None:
    assert response.json["status"] == "ready"


def alive(response) -> None:
    assert response.text == "ok\n"


NEW_TOKEN = {"name": "New", "abilities": ["read"], "expiration": "never"}
NEW_ACCOUNT = {"name": "Nina Newcomer", "password": PASSWORD, "confirm_password": PASSWORD}

ROUTES: dict[tuple[str, str], Route] = {
    ("projects.index", "GET"): account_route("/", OK),
    ("projects.overview", "GET"): project_route("/projects/shop", dict.fromkeys(MEMBERS, OK)),
    ("tokens.list_tokens", "GET"): project_route(
        "/projects/shop/tokens", dict.fromkeys(MEMBERS, OK)
    ),
    ("tokens.new_token", "GET"): project_route(
        "/projects/shop/tokens/new", {"developer": OK, "owner": OK}
    ),
    ("tokens.create_token", "POST"): project_route(
        "/projects/shop/tokens",
        {"developer": CREATED, "owner": CREATED},
        data=NEW_TOKEN,
        state=lambda: count(ApiToken),
    ),
    ("tokens.shown_once", "GET"): project_route(
        "/projects/shop/tokens/{token}/created", {"developer": OK, "owner": OK}
    ),
    ("tokens.confirm_revoke", "GET"): project_route(
        "/projects/shop/tokens/{token}/revoke", {"developer": OK, "owner": OK}
    ),
    ("tokens.revoke_token", "POST"): project_route(
        "/projects/shop/tokens/{token}/revoke",
        {"developer": REDIRECT, "owner": REDIRECT},
        state=revoked_tokens,
    ),
    ("tokens.new_rotation", "GET"): project_route(
        "/projects/shop/tokens/{token}/rotate", {"developer": OK, "owner": OK}
    ),
    ("tokens.rotate_token", "POST"): project_route(
        "/projects/shop/tokens/{token}/rotate",
        {"developer": CREATED, "owner": CREATED},
        data={"grace": "24h", "expiration": "30"},
        state=lambda: count(ApiToken),
    ),
    ("members.list_members", "GET"): project_route(
        "/projects/shop/members", dict.fromkeys(MEMBERS, OK)
    ),
    ("members.change_role", "POST"): project_route(
        "/projects/shop/members/{membership}/role",
        {"owner": REDIRECT},
        data={"role": "developer"},
        state=roles,
    ),
    ("members.confirm_remove", "GET"): project_route(
        "/projects/shop/members/{membership}/remove", {"owner": OK}
    ),
    ("members.remove_member", "POST"): project_route(
        "/projects/shop/members/{membership}/remove", {"owner": REDIRECT}, state=roles
    ),
    ("members.new_invitation", "GET"): project_route(
        "/projects/shop/invitations/new", {"owner": OK}
    ),
    ("members.create_invitation", "POST"): project_route(
        "/projects/shop/invitations",
        {"owner": CREATED},
        data={"email": "newcomer@example.com", "role": "viewer"},
        state=lambda: count(Invitation),
    ),
    ("members.invitation_made", "GET"): project_route(
        "/projects/shop/invitations/{invitation}/created", {"owner": OK}
    ),
    ("members.revoke_invitation", "POST"): project_route(
        "/projects/shop/invitations/{invitation}/revoke",
        {"owner": REDIRECT},
        state=lambda: db.session.scalar(select(func.count(Invitation.revoked_at))),
    ),
    ("audit.project_log", "GET"): project_route(
        "/projects/shop/audit", {"developer": OK, "owner": OK}
    ),
    ("settings.policy", "GET"): project_route("/projects/shop/settings", {"owner": OK}),
    ("webhooks.list_webhooks", "GET"): project_route(
        "/projects/shop/settings/webhooks", {"owner": OK}
    ),
    # Its secret is shown on the answer: 201.
    ("webhooks.create_webhook", "POST"): project_route(
        "/projects/shop/settings/webhooks",
        {"owner": CREATED},
        data={"url": "http://127.0.0.1:9/new", "all_events": "y", "format": "json"},
        state=lambda: count(Webhook),
    ),
    ("webhooks.webhook", "GET"): project_route(
        "/projects/shop/settings/webhooks/{webhook}", {"owner": OK}
    ),
    ("webhooks.save_webhook", "POST"): project_route(
        "/projects/shop/settings/webhooks/{webhook}",
        {"owner": REDIRECT},
        data={"all_events": "y", "format": "slack", "enabled": "y"},
        state=lambda: db.session.scalar(select(Webhook.format)),
    ),
    # Sent at once to port 9 of this machine, which refuses it: a delivery to retry.
    ("webhooks.send_test", "POST"): project_route(
        "/projects/shop/settings/webhooks/{webhook}/test",
        {"owner": REDIRECT},
        state=lambda: count(WebhookDelivery),
    ),
    ("webhooks.new_secret", "POST"): project_route(
        "/projects/shop/settings/webhooks/{webhook}/secret",
        {"owner": OK},
        state=lambda: db.session.scalar(select(Webhook.secret_nonce)),
    ),
    ("webhooks.secret_shown", "GET"): project_route(
        "/projects/shop/settings/webhooks/{webhook}/secret", {"owner": OK}
    ),
    ("webhooks.confirm_delete", "GET"): project_route(
        "/projects/shop/settings/webhooks/{webhook}/delete", {"owner": OK}
    ),
    ("webhooks.delete_webhook", "POST"): project_route(
        "/projects/shop/settings/webhooks/{webhook}/delete",
        {"owner": REDIRECT},
        state=lambda: count(Webhook),
    ),
    ("settings.save_policy", "POST"): project_route(
        "/projects/shop/settings",
        {"owner": REDIRECT},
        data={"max_token_lifetime_days": "90", "revoke_unused_after_days": "never"},
        state=lambda: db.session.scalar(
            select(Project.max_token_lifetime_days).where(Project.slug == "shop")
        ),
    ),
    ("account.index", "GET"): account_route("/account", OK),
    ("account.change_name", "POST"): account_route(
        "/account/name",
        REDIRECT,
        data={"name": "Renamed Person"},
        state=lambda: db.session.scalar(select(func.count()).where(User.name == "Renamed Person")),
    ),
    ("account.change_password", "POST"): account_route(
        "/account/password",
        REDIRECT,
        data={
            "current_password": PASSWORD,
            "new_password": "a brand new passphrase",
            "confirm_password": "a brand new passphrase",
        },
        state=lambda: sorted(db.session.scalars(select(User.password_hash))),
    ),
    # The box unticked (sent as nothing): expiry mail off for whoever sends it.
    ("account.change_expiry_mail", "POST"): account_route(
        "/account/expiry-mail",
        REDIRECT,
        state=lambda: db.session.scalar(select(func.count()).where(User.expiry_mail)),
    ),
    # The owner's session in another browser: anyone else's own list does not have it.
    ("account.end_session", "POST"): Route(
        "/account/sessions/{session}/sign-out",
        {"owner": REDIRECT},
        {"anonymous": SIGN_IN} | {who: NOT_FOUND for who in SIGNED_IN if who != "owner"},
        state=lambda: count(UserSession),
    ),
    ("account.end_other_sessions", "POST"): account_route(
        "/account/sessions/sign-out-others", REDIRECT, state=lambda: count(UserSession)
    ),
    ("account.create_personal_token", "POST"): account_route(
        "/account/tokens",
        CREATED,
        data={"name": "New script", "expires_on": "{in_30_days}"},
        state=lambda: count(PersonalToken),
    ),
    # The owner's personal token: only its person reaches it, everyone else gets 404.
    ("account.personal_token_shown_once", "GET"): own_token_route(
        "/account/tokens/{personal_token}/created", OK
    ),
    ("account.confirm_revoke_personal_token", "GET"): own_token_route(
        "/account/tokens/{personal_token}/revoke", OK
    ),
    ("account.revoke_personal_token", "POST"): own_token_route(
        "/account/tokens/{personal_token}/revoke",
        REDIRECT,
        state=lambda: db.session.scalar(select(func.count(PersonalToken.revoked_at))),
    ),
    ("admin.users", "GET"): admin_route("/admin/users", OK),
    ("admin.create_user", "POST"): admin_route(
        "/admin/users",
        REDIRECT,
        data={"name": "New Person", "email": "new@example.com", "password": PASSWORD},
        state=lambda: count(User),
    ),
    ("admin.change_active", "POST"): admin_route(
        "/admin/users/{user}/deactivate",
        REDIRECT,
        state=lambda: db.session.scalar(select(func.count()).where(User.active)),
    ),
    ("admin.confirm_email", "POST"): admin_route(
        "/admin/users/{user}/confirm-email",
        REDIRECT,
        state=lambda: count_where(User.email_proven_at.is_not(None)),
    ),
    # Without mail set up (as here) the link is shown to the admin: 201.
    ("admin.send_reset_link", "POST"): admin_route(
        "/admin/users/{user}/reset-link", CREATED, state=lambda: count(PasswordReset)
    ),
    ("admin.new_project", "GET"): admin_route("/admin/projects/new", OK),
    ("admin.new_project", "POST"): admin_route(
        "/admin/projects/new",
        REDIRECT,
        data={"name": "Warehouse", "slug": "", "owner": "vic@example.com"},
        state=lambda: count(Project),
    ),
    ("audit.instance_log", "GET"): admin_route("/admin/audit", OK),
    ("admin.mail_settings", "GET"): admin_route("/admin/mail", OK),
    # Without mail set up (as here) there is nothing to send with, even for an admin:
    # 409, nothing kept (test_mail.py: with mail, as admin and not).
    ("admin.send_test_mail", "POST"): Route(
        "/admin/mail/test",
        {},
        {"anonymous": SIGN_IN, "admin": CONFLICT}
        | dict.fromkeys(["other_owner", *MEMBERS], NOT_FOUND),
    ),
    # The token API takes bearer tokens only: a signed-in session is not one.
    ("api.describe_token", "GET"): nobody(
        "/api/v1/token", UNAUTHORIZED, check=a_session_is_not_a_token
    ),
    # Self-rotation takes the token rotating itself, as a bearer header.
    ("api.rotate_token", "POST"): nobody(
        "/api/v1/token/rotate", UNAUTHORIZED, check=a_session_is_not_a_token
    ),
    ("api.forward_auth", "GET"): nobody(
        "/api/v1/auth/read", UNAUTHORIZED, check=a_session_is_not_a_token
    ),
    # The management API takes personal access tokens only, never a session: every
    # person gets 401 here; by role, with a personal token, in test_management_api.py.
    ("management.list_projects", "GET"): nobody(
        "/api/v1/projects", UNAUTHORIZED, check=a_session_is_not_a_personal_token
    ),
    ("management.show_project", "GET"): nobody(
        "/api/v1/projects/shop", UNAUTHORIZED, check=a_session_is_not_a_personal_token
    ),
    ("management.list_members", "GET"): nobody(
        "/api/v1/projects/shop/members", UNAUTHORIZED, check=a_session_is_not_a_personal_token
    ),
    ("management.list_tokens", "GET"): nobody(
        "/api/v1/projects/shop/tokens", UNAUTHORIZED, check=a_session_is_not_a_personal_token
    ),
    ("management.show_token", "GET"): nobody(
        "/api/v1/projects/shop/tokens/{token}",
        UNAUTHORIZED,
        check=a_session_is_not_a_personal_token,
    ),
    ("management.list_audit_events", "GET"): nobody(
        "/api/v1/projects/shop/audit-events",
        UNAUTHORIZED,
        check=a_session_is_not_a_personal_token,
    ),
    # Its writes likewise: a session is no personal token, so nothing is read of the
    # body and nothing changes (by role, in test_management_api_writes.py).
    ("management.create_token", "POST"): nobody(
        "/api/v1/projects/shop/tokens",
        UNAUTHORIZED,
        json=lambda targets: {
            "data": {"type": "api-tokens", "attributes": {"name": "New", "abilities": ["read"]}}
        },
        check=a_session_is_not_a_personal_token,
    ),
    ("management.revoke_token", "DELETE"): nobody(
        "/api/v1/projects/shop/tokens/{token}",
        UNAUTHORIZED,
        check=a_session_is_not_a_personal_token,
    ),
    ("management.rotate_token", "POST"): nobody(
        "/api/v1/projects/shop/tokens/{token}/rotate",
        UNAUTHORIZED,
        json=lambda targets: {"data": {"type": "api-tokens", "attributes": {"grace": "now"}}},
        check=a_session_is_not_a_personal_token,
    ),
    # Public by nature: a leaked-token report only ever revokes the tokens it names, and
    # whoever sends one already holds them.
    ("api.revoke_leaked_tokens", "POST"): public(
        "/api/v1/tokens/revoke",
        ACCEPTED,
        json=lambda targets: [targets["token_value"]],
        state=revoked_tokens,
    ),
    # What the token API is, for clients and for people: public, like the API's own
    # answers to a request without a token.
    ("api.openapi_document", "GET"): public("/api/v1/openapi.json", OK, check=openapi_document),
    ("api.api_docs", "GET"): public("/api/v1/docs", OK, check=html_page),
    ("health.healthz", "GET"): public("/healthz", OK, check=alive),
    ("health.readyz", "GET"): public("/readyz", OK, check=ready),
    ("static", "GET"): public("/static/app.css", OK, check=stylesheet),
    # Signed in already: sent on to the projects page, and nothing is recorded.
    ("auth.sign_in", "GET"): Route(
        "/sign-in", {"anonymous": OK}, dict.fromkeys(SIGNED_IN, REDIRECT)
    ),
    ("auth.sign_in", "POST"): Route(
        "/sign-in",
        {"anonymous": REDIRECT},
        dict.fromkeys(SIGNED_IN, REDIRECT),
        data={"email": "vic@example.com", "password": PASSWORD},
        state=lambda: count(AuditEvent),
    ),
    # Signing out deletes the session's row (test_sessions.py: its cookie is refused after).
    ("auth.sign_out", "POST"): account_route(
        "/sign-out", REDIRECT, state=lambda: count(UserSession)
    ),
    # Single sign-on is not set up here: no button, and both steps are 404 for everyone
    # (test_sso.py drives them, and its matrix below, with a provider).
    ("sso.start", "GET"): nobody("/sign-in/sso", NOT_FOUND),
    ("sso.callback", "GET"): nobody("/sign-in/sso/callback?code=x&state=y", NOT_FOUND),
    # The one-time setup page is gone for good once an account exists, code or not.
    ("auth.setup", "GET"): nobody("/setup/{setup_code}", NOT_FOUND),
    ("auth.setup", "POST"): nobody(
        "/setup/{setup_code}",
        NOT_FOUND,
        data={
            "name": "Late Comer",
            "email": "late@example.com",
            "password": PASSWORD,
            "confirm_password": PASSWORD,
            "project_name": "Late",
        },
    ),
    # Without mail set up (as here), the page says to ask an admin and takes no posts
    # (test_forgot_password.py: with mail). Signed in: sent on, as from sign-in.
    ("recovery.forgot_password", "GET"): Route(
        "/forgot-password", {"anonymous": OK}, dict.fromkeys(SIGNED_IN, REDIRECT)
    ),
    ("recovery.forgot_password", "POST"): Route(
        "/forgot-password",
        {},
        {"anonymous": NOT_FOUND} | dict.fromkeys(SIGNED_IN, REDIRECT),
        data={"email": "vic@example.com"},
    ),
    # A reset link with a secret no link has (test_password_resets.py: real ones).
    ("recovery.reset_password", "GET"): nobody("/password-reset/no-such-secret", NOT_FOUND),
    ("recovery.reset_password", "POST"): nobody(
        "/password-reset/no-such-secret",
        NOT_FOUND,
        data={"password": PASSWORD, "confirm_password": PASSWORD},
    ),
    # An invitation link with a secret no invitation has (test_invitations.py: real ones).
    ("invitations.accept", "GET"): nobody("/invitations/no-such-secret", NOT_FOUND),
    ("invitations.accept", "POST"): nobody(
        "/invitations/no-such-secret", NOT_FOUND, data=NEW_ACCOUNT
    ),
}


def make_targets(team) -> dict:
    """What the routes act on, all in project "Shop": a token, a member who is not one
    of the team, a pending invitation; an account for the admin to deactivate; and for
    everyone a session in another browser (the owner's is the one to sign out)."""
    admin = add_user("ada@example.com", "Ada Admin", admin=True)
    extra = add_user("extra@example.com", "Exa Extra", proven=False)
    membership = add_member(team.project, extra, Role.VIEWER, actor=None)
    invitation, secret = create_invitation(
        team.project, "invited@example.com", Role.VIEWER, by=None, now=utcnow(), by_mail=False
    )
    db.session.commit()
    token, value = issue_token(team.project, "Existing")
    for user in [team.owner, team.developer, team.viewer, team.outsider, admin]:
        other_browser, _ = sessions.start(
            user, user_agent="Firefox/133.0", address="203.0.113.9", now=utcnow()
        )
        if user is team.owner:
            owners_other_browser = other_browser
    # A webhook to loopback (refused unless allowed, as here): port 9, where nothing listens.
    current_app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    webhook, _ = webhooks.create(
        team.project,
        "http://127.0.0.1:9/hook",
        None,
        "json",
        actor=None,
        now=utcnow(),
        settings=webhook_settings(current_app.config),
    )
    personal_token, _ = personal_tokens.issue(
        team.owner, "Owner's script", utcnow() + timedelta(days=30), now=utcnow()
    )
    db.session.commit()
    return {
        "personal_token": personal_token.id,
        "in_30_days": (utcnow() + timedelta(days=30)).date().isoformat(),
        "webhook": webhook.id,
        "admin": admin,
        "token": token.id,
        "token_value": value,
        "membership": membership.id,
        "invitation": invitation.id,
        "invitation_secret": secret,
        "user": extra.id,
        "setup_code": setup_code(),
        "session": owners_other_browser.id,
    }


@pytest.fixture
def targets(team):
    return make_targets(team)


def person(who: str, team, targets) -> User:
    if who == "admin":
        return targets["admin"]
    return team.outsider if who == "other_owner" else team.member(who)


def url_map_pairs(app) -> set[tuple[str, str]]:
    return {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - IGNORED_METHODS
    }


def test_every_route_is_in_the_matrix(app):
    pairs = url_map_pairs(app)
    assert pairs - set(ROUTES) == set(), "add a row to ROUTES for each new route and method"
    assert set(ROUTES) - pairs == set(), "the matrix names routes that no longer exist"


def test_each_row_names_everyone_once_and_reaches_its_route(app):
    adapter = app.url_map.bind("localhost")
    for (endpoint, method), route in ROUTES.items():
        assert sorted([*route.allowed, *route.refused]) == sorted(PEOPLE), endpoint
        path = route.path.format(
            token=1,
            membership=1,
            invitation=1,
            webhook=1,
            user=1,
            setup_code="x",
            session=1,
            personal_token=1,
            in_30_days="2027-01-01",
        )
        assert adapter.match(path.partition("?")[0], method)[0] == endpoint
        assert route.state or method == "GET" or not route.allowed, (
            f"{endpoint} {method}: a change someone may make needs a `state` showing it was made"
        )


def send(client, method: str, route: Route, targets: dict, path: str | None = None):
    response = client.open(
        (path or route.path).format(**targets),
        method=method,
        data=route.form(targets),
        json=route.json(targets) if route.json else None,
    )
    response.close()  # (a static file's handle)
    return response


@pytest.mark.parametrize(("endpoint", "method"), list(ROUTES))
@pytest.mark.parametrize("who", PEOPLE)
def test_role_matrix(client, team, targets, sign_in, who, endpoint, method):
    route = ROUTES[endpoint, method]
    if who != "anonymous":
        sign_in(person(who, team, targets))
    before, rows_before = (route.state() if route.state else None), snapshot()

    response = send(client, method, route, targets)

    expected = route.expected(who)
    if expected == SIGN_IN:
        assert response.status_code == REDIRECT, response.text[:500]
        assert response.headers["Location"].startswith("/sign-in?next=")
    else:
        assert response.status_code == expected, response.text[:500]
    if route.check:
        route.check(response)
    db.session.expire_all()
    if route.state and who in route.allowed:
        assert route.state() != before, "an allowed change was made"
    else:
        assert snapshot() == rows_before, "nothing changed"


# Every route that acts on a project's token, member or invitation by its id.
BY_ID = [
    pair
    for pair, route in ROUTES.items()
    if route.path.startswith("/projects/shop/") and any(id_ in route.path for id_ in IDS)
]


def test_every_route_taking_an_object_id_is_checked_across_projects(app):
    taking_ids = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/projects/<slug>/") and rule.arguments - {"slug"}
        for method in rule.methods - IGNORED_METHODS
    }
    assert taking_ids == set(BY_ID)


@pytest.mark.parametrize(("endpoint", "method"), BY_ID)
def test_another_projects_owner_cannot_reach_shops_objects_through_their_own_project(
    client, team, targets, sign_in, endpoint, method
):
    """Owning "Other" lets them use /projects/other/..., never on Shop's ids: 404, as for
    an id that does not exist, and nothing changes."""
    route = ROUTES[endpoint, method]
    sign_in(team.outsider)  # the owner of "Other"
    path = route.path.replace("/projects/shop/", f"/projects/{team.other_project.slug}/")
    rows_before = snapshot()

    response = send(client, method, route, targets, path)

    assert response.status_code == NOT_FOUND, response.text[:500]
    assert snapshot() == rows_before


# A few pages of each kind, as each person: HEAD answers as GET does, without a body.
HEAD_CHECKED = [
    "projects.index",
    "tokens.list_tokens",
    "admin.users",
    "api.describe_token",
    "health.healthz",
    "auth.sign_in",
]


@pytest.mark.parametrize("endpoint", HEAD_CHECKED)
def test_head_answers_like_get(app, team, targets, endpoint):
    route = ROUTES[endpoint, "GET"]
    for who in PEOPLE:
        client = app.test_client()
        if who != "anonymous":
            user = person(who, team, targets)
            signed_in = client.post("/sign-in", data={"email": user.email, "password": PASSWORD})
            assert signed_in.status_code == REDIRECT
        path = route.path.format(**targets)
        got, head = client.get(path), client.head(path)
        assert (head.status_code, head.headers.get("Location")) == (
            got.status_code,
            got.headers.get("Location"),
        ), who
        expected = route.expected(who)
        assert head.status_code == (REDIRECT if expected == SIGN_IN else expected), who
        assert head.data == b"", who
        assert head.headers["Content-Type"] == got.headers["Content-Type"], who
