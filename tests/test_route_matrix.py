"""Who may use which page: every dashboard route against every kind of person.

Each route in the app's URL map is either in ``ROUTES`` (with the status every kind of
person gets, and how to see whether it changed anything) or in ``OWN_CHECKS`` (with the
reason and the tests that cover it). A new route that is in neither fails
``test_every_route_is_in_the_matrix``, so nobody can add a page and forget its check.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select

from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, AuditEvent, Invitation, Membership, Project, User
from flagpal_dash.permissions import Role

from .support import PASSWORD, add_user, issue_token

OK, CREATED, REDIRECT, FORBIDDEN, NOT_FOUND = 200, 201, 302, 403, 404
PEOPLE = ["anonymous", "outsider", "admin", "viewer", "developer", "owner"]
SIGNED_IN = PEOPLE[1:]
MEMBERS = ["viewer", "developer", "owner"]


@dataclass
class Route:
    method: str
    path: str  # {token}, {membership}, {invitation} and {user} are filled in per test
    allowed: dict[str, int]  # who -> status; everyone signed in who is missing gets `denied`
    data: dict | None = None
    # A query whose answer changes when (and only when) the request did its work.
    state: Callable[[], object] | None = None
    denied: dict[str, int] = field(default_factory=dict)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def roles() -> list[tuple[str, str]]:
    return sorted(
        (user.email, membership.role.value)
        for membership, user in db.session.execute(
            select(Membership, User).join(User, Membership.user_id == User.id)
        )
    )


# Members of the project who lack the permission get 403; everyone else who is signed in
# and not a member (the outsider and an instance admin who is not on the project) gets 404.
PROJECT_DENIED = {"outsider": NOT_FOUND, "admin": NOT_FOUND}
# Instance pages answer 404 to anyone who is not an admin.
ADMIN_DENIED = dict.fromkeys(["outsider", *MEMBERS], NOT_FOUND)

ROUTES = {
    "projects.index": Route("get", "/", dict.fromkeys(SIGNED_IN, OK)),
    "projects.overview": Route("get", "/projects/shop", dict.fromkeys(MEMBERS, OK)),
    "tokens.list_tokens": Route("get", "/projects/shop/tokens", dict.fromkeys(MEMBERS, OK)),
    "tokens.new_token": Route("get", "/projects/shop/tokens/new", {"developer": OK, "owner": OK}),
    "tokens.create_token": Route(
        "post",
        "/projects/shop/tokens",
        {"developer": CREATED, "owner": CREATED},
        data={"name": "New", "abilities": ["read"], "expiration": "never"},
        state=lambda: count(ApiToken),
    ),
    "tokens.confirm_revoke": Route(
        "get", "/projects/shop/tokens/{token}/revoke", {"developer": OK, "owner": OK}
    ),
    "tokens.revoke_token": Route(
        "post",
        "/projects/shop/tokens/{token}/revoke",
        {"developer": REDIRECT, "owner": REDIRECT},
        state=lambda: db.session.scalar(select(func.count(ApiToken.revoked_at))),
    ),
    "tokens.new_rotation": Route(
        "get", "/projects/shop/tokens/{token}/rotate", {"developer": OK, "owner": OK}
    ),
    "tokens.rotate_token": Route(
        "post",
        "/projects/shop/tokens/{token}/rotate",
        {"developer": CREATED, "owner": CREATED},
        data={"grace": "24h", "expiration": "30"},
        state=lambda: count(ApiToken),
    ),
    "members.list_members": Route("get", "/projects/shop/members", dict.fromkeys(MEMBERS, OK)),
    "members.change_role": Route(
        "post",
        "/projects/shop/members/{membership}/role",
        {"owner": REDIRECT},
        data={"role": "developer"},
        state=roles,
    ),
    "members.confirm_remove": Route(
        "get", "/projects/shop/members/{membership}/remove", {"owner": OK}
    ),
    "members.remove_member": Route(
        "post", "/projects/shop/members/{membership}/remove", {"owner": REDIRECT}, state=roles
    ),
    "members.new_invitation": Route("get", "/projects/shop/invitations/new", {"owner": OK}),
    "members.create_invitation": Route(
        "post",
        "/projects/shop/invitations",
        {"owner": CREATED},
        data={"email": "newcomer@example.com", "role": "viewer"},
        state=lambda: count(Invitation),
    ),
    "members.revoke_invitation": Route(
        "post",
        "/projects/shop/invitations/{invitation}/revoke",
        {"owner": REDIRECT},
        state=lambda: db.session.scalar(select(func.count(Invitation.revoked_at))),
    ),
    "audit.project_log": Route("get", "/projects/shop/audit", {"developer": OK, "owner": OK}),
    "settings.policy": Route("get", "/projects/shop/settings", {"owner": OK}),
    "settings.save_policy": Route(
        "post",
        "/projects/shop/settings",
        {"owner": REDIRECT},
        data={"max_token_lifetime_days": "90", "revoke_unused_after_days": "never"},
        state=lambda: db.session.scalar(
            select(Project.max_token_lifetime_days).where(Project.slug == "shop")
        ),
    ),
    "account.index": Route("get", "/account", dict.fromkeys(SIGNED_IN, OK)),
    "account.change_name": Route(
        "post",
        "/account/name",
        dict.fromkeys(SIGNED_IN, REDIRECT),
        data={"name": "Renamed Person"},
        state=lambda: db.session.scalar(select(func.count()).where(User.name == "Renamed Person")),
    ),
    "account.change_password": Route(
        "post",
        "/account/password",
        dict.fromkeys(SIGNED_IN, REDIRECT),
        data={
            "current_password": PASSWORD,
            "new_password": "a brand new passphrase",
            "confirm_password": "a brand new passphrase",
        },
        state=lambda: sorted(db.session.scalars(select(User.password_hash))),
    ),
    "admin.users": Route("get", "/admin/users", {"admin": OK}, denied=ADMIN_DENIED),
    "admin.create_user": Route(
        "post",
        "/admin/users",
        {"admin": REDIRECT},
        data={"name": "New Person", "email": "new@example.com", "password": PASSWORD},
        state=lambda: count(User),
        denied=ADMIN_DENIED,
    ),
    "admin.change_active": Route(
        "post",
        "/admin/users/{user}/deactivate",
        {"admin": REDIRECT},
        state=lambda: db.session.scalar(select(func.count()).where(User.active)),
        denied=ADMIN_DENIED,
    ),
    "admin.new_project": Route("get", "/admin/projects/new", {"admin": OK}, denied=ADMIN_DENIED),
    "admin.new_project POST": Route(
        "post",
        "/admin/projects/new",
        {"admin": REDIRECT},
        data={"name": "Warehouse", "slug": "", "owner": "vic@example.com"},
        state=lambda: count(Project),
        denied=ADMIN_DENIED,
    ),
    "audit.instance_log": Route("get", "/admin/audit", {"admin": OK}, denied=ADMIN_DENIED),
}

# Routes with their own kind of check, each covered by its own tests.
OWN_CHECKS = {
    "static": "public files (CSS, htmx, icons)",
    "health.healthz": "public health check for load balancers (test_serving.py)",
    "health.readyz": "public readiness check: can the database be reached (test_serving.py)",
    "api.describe_token": "token authentication, not a session (test_api_token.py)",
    "api.forward_auth": "token authentication, not a session (test_api_forward_auth.py)",
    "api.revoke_leaked_tokens": "public by nature: a leaked-token report only ever revokes "
    "the tokens it names (test_leak_reports.py)",
    "auth.sign_in": "public by nature (test_auth.py)",
    "auth.sign_out": "POST only, harmless when signed out (test_auth.py)",
    "auth.setup": "guarded by the one-time setup code (test_first_run.py)",
    "invitations.accept": "guarded by the invitation's secret (test_invitations.py)",
}


@pytest.fixture
def targets(team):
    """What the routes act on: a token, another member, an invitation, an account."""
    admin = add_user("ada@example.com", "Ada Admin", admin=True)
    extra = add_user("extra@example.com", "Exa Extra")
    membership = team.project.add_member(extra, Role.VIEWER)
    invitation, _ = Invitation.create(team.project, "invited@example.com", Role.VIEWER)
    db.session.commit()
    token, _ = issue_token(team.project, "Existing")
    return {
        "admin": admin,
        "token": token.id,
        "membership": membership.id,
        "invitation": invitation.id,
        "user": extra.id,
    }


def test_every_route_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    covered = {name.split(" ")[0] for name in ROUTES} | set(OWN_CHECKS)
    assert endpoints - covered == set(), "add new routes to ROUTES or OWN_CHECKS"
    assert covered - endpoints == set(), "the matrix names routes that no longer exist"


def expected_status(route: Route, who: str) -> int:
    if who == "anonymous":
        return REDIRECT
    if who in route.allowed:
        return route.allowed[who]
    return route.denied.get(who) or PROJECT_DENIED.get(who, FORBIDDEN)


@pytest.mark.parametrize("name", list(ROUTES))
@pytest.mark.parametrize("who", PEOPLE)
def test_role_matrix(client, team, targets, sign_in, who, name):
    route = ROUTES[name]
    if who != "anonymous":
        sign_in(targets["admin"] if who == "admin" else team.member(who))
    path = route.path.format(**targets)
    before = route.state() if route.state else None

    response = getattr(client, route.method)(path, data=route.data)

    expected = expected_status(route, who)
    assert response.status_code == expected, response.text[:500]
    if who == "anonymous":
        assert response.headers["Location"].startswith("/sign-in?next=")
    if route.state:
        db.session.expire_all()
        assert (route.state() != before) == (who in route.allowed), "changed only when allowed"


@pytest.mark.parametrize(
    "name",
    [name for name, route in ROUTES.items() if route.state and "viewer" not in route.allowed],
)
def test_a_refused_change_records_nothing(client, team, targets, sign_in, name):
    """A viewer is refused every change but their own account's; the audit log stays as is."""
    route = ROUTES[name]
    sign_in(team.viewer)
    events = count(AuditEvent)
    getattr(client, route.method)(route.path.format(**targets), data=route.data)
    assert count(AuditEvent) == events
