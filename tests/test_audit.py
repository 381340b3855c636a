"""The audit log: what is recorded (who, when, from where, what; never a secret), the
project's page, the instance's page for admins, and the JSON lines export."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select, text

from flagpal_dash.core import sso, tokens
from flagpal_dash.core.audit import PAGE_SIZE
from flagpal_dash.core.projects import add_member, change_role, membership_of
from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, AuditEvent, AuditKind, Invitation, User, utcnow
from flagpal_dash.permissions import Role

from .support import HTMX, PASSWORD, add_user, issue_token, page, text_of

ADDRESS = "203.0.113.7"
FROM = {"REMOTE_ADDR": ADDRESS}
NEW_TOKEN = {"name": "Shop backend", "abilities": ["read", "write"], "expiration": "30"}
NEW_PASSWORD = "a brand new passphrase"
EXPORT_FIELDS = {"at", "kind", "project", "actor", "address", "target", "details"}

OLIVIA = "Olivia Owner <olivia@example.com>"
DANA = "Dana Developer <dev@example.com>"
OTTO = "Otto Outsider <otto@example.com>"


def events(kind: AuditKind | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id)
    if kind is not None:
        query = query.where(AuditEvent.kind == kind.value)
    return list(db.session.scalars(query))


def only(kind: AuditKind) -> dict:
    """The one event of ``kind``, as the fields a reader of the log cares about."""
    [event] = events(kind)
    return {
        "project": event.project.slug if event.project else None,
        "actor": event.actor,
        "actor_id": event.actor_id,
        "address": event.address,
        "target": event.target,
        "details": event.details,
    }


def log_rows(response) -> list[dict[str, str]]:
    """The log table's rows as a person reads them, plus each row's exact time."""
    return [
        {"at": row.find("time")["datetime"]}
        | {cell["data-label"]: " ".join(cell.get_text().split()) for cell in row.find_all("td")}
        for row in page(response).select("table.log tbody tr")
    ]


def whats(response) -> list[str]:
    return [row["What"] for row in log_rows(response)]


def kinds_shown(response) -> set[str]:
    return {text_of(row.find("strong")) for row in page(response).select("table.log tbody tr")}


def pager_link(response, label: str) -> str | None:
    link = page(response).select_one("nav.pager").find("a", string=label)
    return link and link["href"]


def invite(client, email: str, role: str = "developer") -> str:
    """Invite ``email`` through the Members page; the secret from the link shown once."""
    response = client.post(
        "/projects/shop/invitations", data={"email": email, "role": role}, environ_base=FROM
    )
    assert response.status_code == 201, response.text
    return page(response).find(id="invitation-link")["value"].rsplit("/", 1)[1]


# What is recorded, through the real routes ------------------------------------------------


def test_creating_a_token_is_recorded_without_its_value(client, team, sign_in):
    sign_in(team.developer)
    response = client.post("/projects/shop/tokens", data=NEW_TOKEN, environ_base=FROM)
    assert response.status_code == 201
    token = db.session.scalars(select(ApiToken)).one()
    assert only(AuditKind.TOKEN_CREATED) == {
        "project": "shop",
        "actor": DANA,
        "actor_id": team.developer.id,
        "address": ADDRESS,
        "target": f"token {token.id} “Shop backend”",
        "details": {"abilities": ["read", "write"], "expires_at": token.expires_at.isoformat()},
    }


def test_revoking_a_token_is_recorded(client, team, sign_in):
    token, _ = issue_token(team.project, "CI")
    sign_in(team.owner)
    response = client.post(f"/projects/shop/tokens/{token.id}/revoke", environ_base=FROM)
    assert response.status_code == 302
    assert only(AuditKind.TOKEN_REVOKED) == {
        "project": "shop",
        "actor": OLIVIA,
        "actor_id": team.owner.id,
        "address": ADDRESS,
        "target": f"token {token.id} “CI”",
        "details": {},
    }
    client.post(f"/projects/shop/tokens/{token.id}/revoke", environ_base=FROM)
    assert len(events(AuditKind.TOKEN_REVOKED)) == 1, "revoking again changes nothing"


# The code has no token rotation yet (no route, no AuditKind), so there is nothing to record.


@pytest.mark.parametrize(
    ("action", "data", "kind", "details"),
    [
        ("role", {"role": "viewer"}, AuditKind.MEMBER_ROLE_CHANGED, {"role": "viewer"}),
        ("remove", {}, AuditKind.MEMBER_REMOVED, {"role": "developer"}),
    ],
)
def test_member_changes_are_recorded(client, team, sign_in, action, data, kind, details):
    dev = membership_of(team.developer, team.project)
    sign_in(team.owner)
    response = client.post(
        f"/projects/shop/members/{dev.id}/{action}", data=data, environ_base=FROM
    )
    assert response.status_code == 302
    expected_details = details | (
        {"previous_role": "developer"} if kind is AuditKind.MEMBER_ROLE_CHANGED else {}
    )
    assert only(kind) == {
        "project": "shop",
        "actor": OLIVIA,
        "actor_id": team.owner.id,
        "address": ADDRESS,
        "target": DANA,
        "details": expected_details,
    }


def test_creating_and_revoking_an_invitation_are_recorded(client, team, sign_in):
    sign_in(team.owner)
    invite(client, "newbie@example.com", "viewer")
    recorded = {
        "project": "shop",
        "actor": OLIVIA,
        "actor_id": team.owner.id,
        "address": ADDRESS,
        "target": "newbie@example.com as viewer",
    }
    assert only(AuditKind.INVITATION_CREATED) == recorded | {"details": {"role": "viewer"}}

    invitation = db.session.scalars(select(Invitation)).one()
    response = client.post(f"/projects/shop/invitations/{invitation.id}/revoke", environ_base=FROM)
    assert response.status_code == 302
    assert only(AuditKind.INVITATION_REVOKED) == recorded | {"details": {}}


@pytest.mark.parametrize("account", ["new", "existing"])
def test_accepting_an_invitation_is_recorded_as_the_person_who_joins(
    client, app, team, sign_in, account
):
    email = "newbie@example.com" if account == "new" else team.outsider.email
    sign_in(team.owner)
    secret = invite(client, email)
    form = (
        {"name": "Nina Newbie", "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
        if account == "new"
        else {"password": PASSWORD}
    )
    response = app.test_client().post(f"/invitations/{secret}", data=form, environ_base=FROM)
    assert response.status_code == 302, response.text
    joined = User.by_email(email)
    assert only(AuditKind.INVITATION_ACCEPTED) == {
        "project": "shop",
        "actor": joined.label,
        "actor_id": joined.id,
        "address": ADDRESS,
        "target": f"{email} as developer",
        "details": {},
    }
    added = events(AuditKind.MEMBER_ADDED)[-1]
    assert (added.project_id, added.actor, added.address, added.target, added.details) == (
        team.project.id,
        joined.label,
        ADDRESS,
        joined.label,
        {"role": "developer"},
    )


def test_a_successful_sign_in_is_recorded(client, team):
    response = client.post(
        "/sign-in", data={"email": team.owner.email, "password": PASSWORD}, environ_base=FROM
    )
    assert response.status_code == 302
    assert only(AuditKind.SIGN_IN_SUCCEEDED) == {
        "project": None,
        "actor": OLIVIA,
        "actor_id": team.owner.id,
        "address": ADDRESS,
        "target": OLIVIA,
        "details": {},
    }
    assert events(AuditKind.SIGN_IN_FAILED) == []


@pytest.mark.parametrize(
    ("email", "password", "target", "reason"),
    [
        ("olivia@example.com", "not my password", OLIVIA, "wrong password"),
        (" Nobody@Example.com ", PASSWORD, "nobody@example.com", "no such account"),
        ("vic@example.com", PASSWORD, "Vic Viewer <vic@example.com>", "account deactivated"),
    ],
    ids=["wrong-password", "unknown-email", "deactivated"],
)
def test_a_failed_sign_in_is_recorded_with_the_reason(
    client, team, email, password, target, reason
):
    team.viewer.active = False
    db.session.commit()
    users_before = db.session.scalar(select(func.count(User.id)))
    response = client.post(
        "/sign-in", data={"email": email, "password": password}, environ_base=FROM
    )
    assert response.status_code == 422
    assert only(AuditKind.SIGN_IN_FAILED) == {
        "project": None,
        "actor": "anonymous",
        "actor_id": None,
        "address": ADDRESS,
        "target": target,
        "details": {"reason": reason},
    }
    assert db.session.scalar(select(func.count(User.id))) == users_before, "no account made"
    assert events(AuditKind.SIGN_IN_SUCCEEDED) == []


def test_something_typed_that_is_not_an_email_address_is_not_kept(client, team):
    """People type a password into the email field; the log must not keep it."""
    response = client.post(
        "/sign-in", data={"email": "hunter2 my secret", "password": "x"}, environ_base=FROM
    )
    assert response.status_code == 422
    assert only(AuditKind.SIGN_IN_FAILED)["target"] == "(not an email address)"


@pytest.mark.parametrize(
    ("password", "kind", "details"),
    [
        (PASSWORD, AuditKind.SIGN_IN_SUCCEEDED, {"via": "invitation"}),
        (
            "not my password",
            AuditKind.SIGN_IN_FAILED,
            {"via": "invitation", "reason": "wrong password"},
        ),
    ],
    ids=["right", "wrong"],
)
def test_a_password_typed_on_an_invitation_is_a_recorded_sign_in(
    client, app, team, sign_in, password, kind, details
):
    sign_in(team.owner)
    secret = invite(client, team.outsider.email)
    invitee = app.test_client()
    invitee.post(f"/invitations/{secret}", data={"password": password}, environ_base=FROM)
    event = events(kind)[-1]  # (the owner's own sign-in came first)
    assert {
        "project": event.project,
        "actor": event.actor,
        "actor_id": event.actor_id,
        "address": event.address,
        "target": event.target,
        "details": event.details,
    } == {
        "project": None,
        "actor": OTTO if kind is AuditKind.SIGN_IN_SUCCEEDED else "anonymous",
        "actor_id": team.outsider.id if kind is AuditKind.SIGN_IN_SUCCEEDED else None,
        "address": ADDRESS,
        "target": OTTO,
        "details": details,
    }


def test_an_account_made_from_an_invitation_is_made_by_its_owner(client, app, team, sign_in):
    sign_in(team.owner)
    secret = invite(client, "newbie@example.com")
    app.test_client().post(
        f"/invitations/{secret}",
        data={"name": "Nina Newbie", "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
        environ_base=FROM,
    )
    nina = User.by_email("newbie@example.com")
    assert only(AuditKind.USER_CREATED)["actor"] == nina.label


def test_details_read_as_a_person_would(client, team, sign_in):
    with time_machine.travel(datetime(2026, 6, 1, 12, 0, tzinfo=UTC), tick=False):
        sign_in(team.developer)
        client.post("/projects/shop/tokens", data=NEW_TOKEN)
        [row] = log_rows(client.get("/projects/shop/audit?kind=token"))
    assert "abilities: read, write" in row["What"]
    assert "expires at: 1 Jul 2026, 12:00 UTC" in row["What"]


def test_no_token_value_invitation_secret_or_password_is_ever_stored(
    client, app, team, sign_in, runner
):
    wrong_password = "Tr0ub4dor&3 is not it"
    new_password = NEW_PASSWORD
    assert (
        client.post(
            "/sign-in", data={"email": team.owner.email, "password": wrong_password}
        ).status_code
        == 422
    )
    sign_in(team.owner)
    created = client.post("/projects/shop/tokens", data=NEW_TOKEN, headers=HTMX)
    assert created.status_code == 201
    token_value = page(created).find(id="new-token-value")["value"]
    secret = invite(client, "newbie@example.com")
    joined = app.test_client().post(
        f"/invitations/{secret}",
        data={"name": "Nina", "password": new_password, "confirm_password": new_password},
    )
    assert joined.status_code == 302
    secrets = [token_value, secret, wrong_password, PASSWORD, new_password]

    rows = db.session.execute(text("SELECT * FROM audit_events")).all()
    stored_kinds = {row.kind for row in rows}
    assert {"token.created", "invitation.created", "invitation.accepted", "sign_in.failed"} <= (
        stored_kinds
    ), "the scan below must look at the events these actions recorded"
    for row in rows:
        for column, value in row._mapping.items():
            for secret_ in secrets:
                assert secret_ not in str(value), f"a secret in audit_events.{column}"

    exported = runner.invoke(args=["audit", "export", "--since", "2000-01-01"])
    assert exported.exit_code == 0
    assert len(exported.output.splitlines()) == len(rows)
    for secret_ in secrets:
        assert secret_ not in exported.output
    log = client.get("/projects/shop/audit")
    assert log.status_code == 200
    for secret_ in secrets:
        assert secret_ not in log.text


# The project's page -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [("viewer", 403), ("outsider", 404), ("developer", 200), ("owner", 200)],
)
def test_only_developers_and_owners_see_a_project_s_log(client, team, sign_in, role, status):
    sign_in(team.member(role))
    response = client.get("/projects/shop/audit")
    assert response.status_code == status
    if status == 200:
        assert text_of(page(response).find("h1")) == "Audit log"
        assert page(response).select_one("table.log") is not None
    nav = page(client.get("/projects/shop/tokens")).select_one("nav.settings-nav")
    if role != "outsider":
        assert (nav.find("a", string="Audit log") is not None) == (status == 200)


def test_signed_out_people_are_sent_to_sign_in(client, team):
    response = client.get("/projects/shop/audit")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in?next=")


def test_the_page_shows_who_did_what_when_and_from_where(client, team, sign_in):
    sign_in(team.developer)
    client.post("/projects/shop/tokens", data=NEW_TOKEN, environ_base=FROM)
    token = db.session.scalars(select(ApiToken)).one()
    event = events(AuditKind.TOKEN_CREATED)[0]
    response = client.get("/projects/shop/audit")
    assert response.status_code == 200
    newest = log_rows(response)[0]
    assert newest["at"] == event.at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert newest["When"] == "just now"
    assert newest["What"].startswith(f"Token created: token {token.id} “Shop backend”")
    assert "abilities: read, write" in newest["What"]
    assert newest["Who"] == "Dana Developer", "a developer sees names, not addresses"
    assert newest["From"] == ADDRESS


def test_newest_first(client, team, sign_in):
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    dev = membership_of(team.developer, team.project)
    with time_machine.travel(start, tick=False):
        sign_in(team.owner)
        client.post("/projects/shop/tokens", data=NEW_TOKEN)
    token = db.session.scalars(select(ApiToken)).one()
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        client.post(f"/projects/shop/members/{dev.id}/role", data={"role": "viewer"})
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        client.post(f"/projects/shop/tokens/{token.id}/revoke")
        # Two events in the same instant: the later one still comes first.
        client.post(f"/projects/shop/members/{dev.id}/role", data={"role": "developer"})
        response = client.get("/projects/shop/audit")
    assert response.status_code == 200
    rows = log_rows(response)
    assert [row["What"].split(":")[0] for row in rows[:4]] == [
        "Member role changed",
        "Token revoked",
        "Member role changed",
        "Token created",
    ]
    assert rows[0]["What"].endswith("role: developer previous role: viewer")
    assert [row["at"] for row in rows] == sorted((row["at"] for row in rows), reverse=True)
    assert len(rows) == len([e for e in events() if e.project_id == team.project.id]), (
        "every event of the project is listed"
    )


def test_the_log_is_paged(client, team, sign_in):
    base = datetime.now(UTC) + timedelta(days=1)
    extra = 7
    for n in range(PAGE_SIZE + extra):
        event = AuditEvent.record(
            AuditKind.TOKEN_CREATED,
            project=team.project,
            target=f"token {n} “App {n}”",
            actor=None,
        )
        event.at = base + timedelta(minutes=n)
    db.session.commit()
    sign_in(team.developer)

    first = client.get("/projects/shop/audit")
    assert first.status_code == 200
    assert whats(first) == [
        f"Token created: token {n} “App {n}”" for n in reversed(range(extra, PAGE_SIZE + extra))
    ]
    assert pager_link(first, "← Newer") is None
    assert text_of(page(first).select_one("nav.pager span")) == "Page 1"

    second = client.get(pager_link(first, "Older →"))
    assert second.status_code == 200
    assert whats(second)[:extra] == [
        f"Token created: token {n} “App {n}”" for n in reversed(range(extra))
    ]
    assert whats(second)[extra:] == [
        "Member added: Vic Viewer role: viewer",
        "Member added: Dana Developer role: developer",
        "Member added: Olivia Owner role: owner",
        "Project created: Shop (shop)",
    ]
    assert pager_link(second, "Older →") is None
    assert whats(client.get(pager_link(second, "← Newer"))) == whats(first)

    beyond = client.get("/projects/shop/audit?page=3")
    assert beyond.status_code == 200
    assert log_rows(beyond) == []
    assert text_of(page(beyond).select_one("p.empty")) == "Nothing has happened this far back."

    filtered = client.get("/projects/shop/audit?kind=token")
    older = pager_link(filtered, "Older →")
    assert "kind=token" in older, "the filter is kept from page to page"
    assert len(log_rows(client.get(older))) == extra


@pytest.mark.parametrize("page_number", ["abc", "-1", "0", "1.5", "²", "", "100001"])
def test_a_page_number_that_is_not_one_is_not_found(client, team, sign_in, page_number):
    sign_in(team.developer)
    response = client.get("/projects/shop/audit", query_string={"page": page_number})
    assert response.status_code == 404


def make_some_history(team, client) -> None:
    """Token, member, sign-in and other-project events, in both projects."""
    token, _ = issue_token(team.project, "CI")
    tokens.revoke(token, actor=None, now=utcnow())
    change_role(membership_of(team.developer, team.project), Role.VIEWER, actor=None)
    issue_token(team.other_project, "Their secret app")
    db.session.commit()
    client.post("/sign-in", data={"email": team.owner.email, "password": "not my password"})


@pytest.mark.parametrize(
    ("url", "kind", "labels"),
    [
        ("/projects/shop/audit", "token", {"Token created", "Token revoked"}),
        ("/projects/shop/audit", "member", {"Member added", "Member role changed"}),
        ("/admin/audit", "sign_in", {"Sign in succeeded", "Sign in failed"}),
        ("/admin/audit", "project", {"Project created"}),
    ],
)
def test_filtering_by_kind_narrows_the_list(client, team, sign_in, url, kind, labels):
    make_some_history(team, client)
    admin = add_user("ada@example.com", "Ada Admin", admin=True)
    add_member(team.project, admin, Role.OWNER, actor=None)
    db.session.commit()
    sign_in(admin)
    everything = client.get(url)
    response = client.get(url, query_string={"kind": kind})
    assert response.status_code == 200
    assert kinds_shown(response) == labels
    assert kinds_shown(everything) > labels
    assert page(response).find("select", id="kind").find("option", selected=True)["value"] == kind


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("/projects/shop/audit", "sign_in"),
        ("/projects/shop/audit", "token.created"),
        ("/projects/shop/audit", "nonsense"),
        ("/projects/shop/audit", "' OR 1=1 --"),
        ("/admin/audit", "tokens"),
        ("/admin/audit", "%"),
    ],
)
def test_a_forged_kind_is_not_found(client, team, sign_in, url, kind):
    admin = add_user("ada@example.com", "Ada Admin", admin=True)
    add_member(team.project, admin, Role.OWNER, actor=None)
    db.session.commit()
    sign_in(admin)
    response = client.get(url, query_string={"kind": kind})
    assert response.status_code == 404


@pytest.mark.parametrize("kind", [None, "token", "member"])
def test_another_project_s_events_never_appear(client, team, sign_in, kind):
    make_some_history(team, client)
    client.post("/sign-in", data={"email": team.outsider.email, "password": PASSWORD})
    client.post("/projects/other/tokens", data=NEW_TOKEN)
    client.post("/sign-out")
    sign_in(team.owner)
    response = client.get("/projects/shop/audit", query_string={"kind": kind} if kind else {})
    assert response.status_code == 200
    shown = whats(response)
    assert shown
    assert not [what for what in shown if "Other" in what or "Their secret app" in what]
    assert not [what for what in shown if what.startswith("Sign in")]
    assert len(shown) == len(
        [
            e
            for e in events()
            if e.project_id == team.project.id and (kind is None or e.kind.startswith(kind))
        ]
    )


# The instance's page, for admins ----------------------------------------------------------


def test_admins_see_every_project_s_events_and_sign_ins(client, team, sign_in):
    make_some_history(team, client)
    admin = add_user("ada@example.com", "Ada Admin", admin=True)
    db.session.commit()
    sign_in(admin)
    response = client.get("/admin/audit")
    assert response.status_code == 200
    rows = log_rows(response)
    assert len(rows) == len(events())
    assert rows[0]["What"] == "Sign in succeeded: Ada Admin <ada@example.com>"
    assert rows[0]["Who"] == "Ada Admin <ada@example.com>"
    whats_ = [row["What"] for row in rows]
    assert "Sign in failed: Olivia Owner <olivia@example.com> reason: wrong password" in whats_
    assert any(
        w.startswith("Token created: token") and w.endswith("project: Other (other)")
        for w in whats_
    )
    assert any(w.endswith("project: Shop (shop)") for w in whats_)


@pytest.mark.parametrize("role", ["owner", "developer", "viewer", "outsider"])
def test_the_instance_log_is_not_found_for_anyone_else(client, team, sign_in, role):
    sign_in(team.member(role))
    assert client.get("/admin/audit").status_code == 404


# The export -------------------------------------------------------------------------------


@pytest.fixture
def dated_history(team, client):
    """Tokens made on the command line on known dates, and a web sign-in now."""
    with time_machine.travel(datetime(2026, 2, 9, 23, 59, 59, tzinfo=UTC), tick=False):
        issue_token(team.project, "Old")
    with time_machine.travel(datetime(2026, 2, 10, tzinfo=UTC), tick=False):
        new, _ = issue_token(team.project, "New")
        issue_token(team.other_project, "Theirs")
    response = client.post(
        "/sign-in", data={"email": team.owner.email, "password": PASSWORD}, environ_base=FROM
    )
    assert response.status_code == 302
    return new


def exported(runner, *args: str) -> list[dict]:
    result = runner.invoke(args=["audit", "export", *args])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_the_export_writes_json_lines_from_a_date_on(runner, team, dated_history):
    lines = exported(runner, "--since", "2026-02-10")
    assert all(set(line) == EXPORT_FIELDS for line in lines)
    targets = [line["target"] for line in lines]
    assert f"token {dated_history.id} “New”" in targets
    assert not [t for t in targets if t.endswith("“Old”")], "before --since"
    assert [line["at"] for line in lines] == sorted(line["at"] for line in lines)
    assert lines[0] == {
        "at": "2026-02-10T00:00:00.000000Z",
        "kind": "token.created",
        "project": "shop",
        "actor": "command line",
        "address": None,
        "target": f"token {dated_history.id} “New”",
        "details": {"abilities": ["read"], "expires_at": None},
    }
    assert lines[-1] | {"at": None} == {
        "at": None,
        "kind": "sign_in.succeeded",
        "project": None,
        "actor": OLIVIA,
        "address": ADDRESS,
        "target": OLIVIA,
        "details": {},
    }
    assert len(lines) == len(events()) - 1, "everything but the old token"


def test_the_export_since_a_time_of_day(runner, team, dated_history):
    targets = [line["target"] for line in exported(runner, "--since", "2026-02-10T00:00:01")]
    assert not [t for t in targets if t.endswith("“New”") or t.endswith("“Old”")]
    assert OLIVIA in targets


def test_the_export_narrowed_to_a_project(runner, team, dated_history):
    lines = exported(runner, "--since", "2026-02-10", "--project", "shop")
    assert {line["project"] for line in lines} == {"shop"}
    assert len(lines) == len([e for e in events() if e.project_id == team.project.id]) - 1, (
        "the project's events but the old token"
    )
    assert not [line for line in lines if line["kind"].startswith("sign_in")]


@pytest.mark.parametrize("since", ["yesterday", "2026-13-01", "10/02/2026", ""])
def test_a_bad_since_is_refused_plainly(runner, team, since):
    result = runner.invoke(args=["audit", "export", "--since", since])
    assert result.exit_code != 0
    assert "Invalid value for '--since'" in result.output
    assert "{" not in result.output


def test_an_unknown_project_is_refused_plainly(runner, team):
    result = runner.invoke(args=["audit", "export", "--since", "2026-01-01", "--project", "nope"])
    assert result.exit_code == 1
    assert "Error: No project has the slug 'nope'" in result.output


def test_people_s_addresses_in_the_log_follow_the_members_page_rule(app, team):
    """Issue 13, finding 7: the Members page shows email addresses and pending
    invitations to owners only; the project's log applies the same rule. A developer
    still sees every event about tokens and members, by people's names."""
    owner = app.test_client()
    owner.post("/sign-in", data={"email": team.owner.email, "password": PASSWORD})
    invited = owner.post(
        "/projects/shop/invitations", data={"email": "pending@example.com", "role": "viewer"}
    )
    assert invited.status_code == 201
    assert owner.post("/projects/shop/tokens", data=NEW_TOKEN).status_code == 201
    addresses = ["olivia@example.com", "dev@example.com", "vic@example.com"]

    owners_log = owner.get("/projects/shop/audit")
    assert owners_log.status_code == 200
    seen_by_owner = text_of(page(owners_log).select_one("table.log"))
    for address in [*addresses, "pending@example.com"]:
        assert address in seen_by_owner
    assert "Invitation created" in kinds_shown(owners_log)

    developer = app.test_client()
    developer.post("/sign-in", data={"email": team.developer.email, "password": PASSWORD})
    members = developer.get("/projects/shop/members")
    assert members.status_code == 200
    assert "olivia@example.com" not in members.text, "the Members page's rule"
    log = developer.get("/projects/shop/audit")
    assert log.status_code == 200
    rows = log_rows(log)
    assert "@" not in " ".join(" ".join(row.values()) for row in rows)
    assert kinds_shown(log) == {"Token created", "Member added", "Project created"}
    assert rows[0]["Who"] == "Olivia Owner"
    assert {row["What"] for row in rows if row["What"].startswith("Member added")} == {
        "Member added: Olivia Owner role: owner",
        "Member added: Dana Developer role: developer",
        "Member added: Vic Viewer role: viewer",
    }
    offered = [o["value"] for o in page(log).select("select[name=kind] option")]
    assert offered == ["", "token", "member", "project", "webhook"]
    assert developer.get("/projects/shop/audit?kind=invitation").status_code == 404
    assert owner.get("/projects/shop/audit?kind=invitation").status_code == 200


def test_single_sign_on_events_read_with_sso_in_capitals(client, team, sign_in):
    sso.refuse(sso.UNVERIFIED, target="ann@example.com", issuer="https://id.example.com")
    admin = add_user("ada@example.com", "Ada Admin", admin=True)
    db.session.commit()
    sign_in(admin)
    whats_ = [row["What"] for row in log_rows(client.get("/admin/audit"))]
    assert any(what.startswith("Sign in SSO refused: ann@example.com") for what in whats_)
    assert not [what for what in whats_ if " sso " in what]
