"""The management API's door and read routes: each route as each kind of caller (owner,
developer, viewer, someone not on the project, a deactivated person's token, a revoked
or expired token, a project token, a browser session alone), and the paging and query
parameters of the audit log. Runs on SQLite and on PostgreSQL like every test."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from flagpal_dash import token_format
from flagpal_dash.core import personal_tokens
from flagpal_dash.core.projects import change_role, membership_of, remove_member
from flagpal_dash.extensions import db
from flagpal_dash.models import AuditEvent, AuditKind, PersonalToken, utcnow
from flagpal_dash.permissions import Role

from .support import PASSWORD, issue_token, snapshot

MEDIA_TYPE = "application/vnd.api+json"
SHOP = "/api/v1/projects/shop"
ROUTES = [
    "/api/v1/projects",
    SHOP,
    f"{SHOP}/members",
    f"{SHOP}/audit-events",
    f"{SHOP}/tokens",
]


def personal_token(user, name="Script", days=30) -> str:
    _, value = personal_tokens.issue(user, name, utcnow() + timedelta(days=days), now=utcnow())
    db.session.commit()
    return value


def bearer(value: str) -> dict:
    return {"Authorization": f"Bearer {value}"}


def get(client, path, value, **kwargs):
    response = client.get(path, headers=bearer(value), **kwargs)
    assert response.headers["Content-Type"] == MEDIA_TYPE
    return response


def error_of(response) -> dict:
    assert response.headers["Content-Type"] == MEDIA_TYPE
    [error] = response.get_json(force=True)["errors"]
    assert error["status"] == str(response.status_code)
    assert error["title"] and error["detail"]
    return error


# Who gets what, by route: the pages' rules (permissions.py).
EXPECTED = {
    "owner": {
        "/api/v1/projects": 200,
        SHOP: 200,
        f"{SHOP}/members": 200,
        f"{SHOP}/audit-events": 200,
        f"{SHOP}/tokens": 200,
    },
    "developer": {
        "/api/v1/projects": 200,
        SHOP: 200,
        f"{SHOP}/members": 200,
        f"{SHOP}/audit-events": 200,
        f"{SHOP}/tokens": 200,
    },
    "viewer": {
        "/api/v1/projects": 200,
        SHOP: 200,
        f"{SHOP}/members": 200,
        f"{SHOP}/audit-events": 403,
        f"{SHOP}/tokens": 200,
    },
    "outsider": {
        "/api/v1/projects": 200,
        SHOP: 404,
        f"{SHOP}/members": 404,
        f"{SHOP}/audit-events": 404,
        f"{SHOP}/tokens": 404,
    },
}


@pytest.mark.parametrize("who", list(EXPECTED))
@pytest.mark.parametrize("path", ROUTES)
def test_each_route_as_each_role(client, team, who, path):
    value = personal_token(team.member(who))
    before = snapshot()
    response = get(client, path, value)
    assert response.status_code == EXPECTED[who][path], response.text
    if response.status_code == 403:
        assert error_of(response)["code"] == "forbidden"
    if response.status_code == 404:
        error = error_of(response)
        assert error["code"] == "not_found"
        # The same answer as for a project that does not exist.
        missing = get(client, path.replace("/shop", "/no-such-project"), value)
        assert (missing.status_code, missing.data) == (404, response.data)
    after = snapshot()
    # Nothing changes but the token's last use.
    after["personal_tokens"] = before["personal_tokens"] = None
    assert after == before


def test_projects_lists_the_persons_projects_with_their_role(client, team):
    response = get(client, "/api/v1/projects", personal_token(team.developer))
    assert response.status_code == 200
    assert response.json == {
        "data": [
            {
                "type": "projects",
                "id": "shop",
                "attributes": {"name": "Shop", "slug": "shop", "role": "developer"},
                "links": {"self": "/api/v1/projects/shop"},
            }
        ],
        "meta": {"count": 1},
        "links": {"self": "/api/v1/projects"},
    }
    assert (
        get(client, "/api/v1/projects", personal_token(team.outsider)).json["data"][0]["id"]
        == team.other_project.slug
    )


@pytest.mark.parametrize(
    ("who", "policy"),
    [
        ("owner", {"max_token_lifetime_days": 90, "revoke_unused_after_days": 30}),
        ("developer", {"max_token_lifetime_days": 90}),
        ("viewer", {}),
    ],
)
def test_a_project_shows_its_policy_as_the_pages_do(client, team, who, policy):
    team.project.max_token_lifetime_days = 90
    team.project.revoke_unused_after_days = 30
    db.session.commit()
    response = get(client, SHOP, personal_token(team.member(who)))
    assert response.status_code == 200
    data = response.json["data"]
    assert (data["type"], data["id"]) == ("projects", "shop")
    attributes = data["attributes"]
    assert attributes.pop("created_at").endswith("Z")
    assert attributes == {"name": "Shop", "slug": "shop", "role": who} | policy
    assert data["relationships"]["members"]["links"]["related"] == f"{SHOP}/members"


@pytest.mark.parametrize("who", ["owner", "developer", "viewer"])
def test_members_are_listed_with_addresses_for_owners_only(client, team, who):
    response = get(client, f"{SHOP}/members", personal_token(team.member(who)))
    assert response.status_code == 200
    members = [member["attributes"] for member in response.json["data"]]
    assert [(m["name"], m["role"]) for m in members] == [
        ("Olivia Owner", "owner"),
        ("Dana Developer", "developer"),
        ("Vic Viewer", "viewer"),
    ]
    emails = [m.get("email") for m in members]
    if who == "owner":
        assert emails == ["olivia@example.com", "dev@example.com", "vic@example.com"]
    else:
        assert emails == [None, None, None]
        assert "@" not in response.text
    assert response.json["meta"] == {"count": 3}


def test_a_person_taken_off_the_project_loses_it_at_once(client, team):
    value = personal_token(team.developer)
    assert get(client, SHOP, value).status_code == 200
    remove_member(membership_of(team.developer, team.project), actor=team.owner)
    db.session.commit()
    assert get(client, SHOP, value).status_code == 404
    assert get(client, "/api/v1/projects", value).json["data"] == []


def test_a_changed_role_applies_at_once(client, team):
    value = personal_token(team.viewer)
    assert get(client, f"{SHOP}/audit-events", value).status_code == 403
    membership = membership_of(team.viewer, team.project)
    change_role(membership, Role.DEVELOPER, actor=team.owner)
    db.session.commit()
    assert get(client, f"{SHOP}/audit-events", value).status_code == 200


# Refusals at the door ----------------------------------------------------------------


def refusal(client, path, headers=None):
    response = client.get(path, headers=headers or {})
    assert response.status_code == 401, response.text
    error = error_of(response)
    return error["code"], response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("path", ROUTES)
def test_stopped_tokens_and_wrong_kinds_are_refused_with_their_code(client, team, path):
    good = personal_token(team.owner, "Good")
    revoked = personal_token(team.owner, "Revoked")
    expired = personal_token(team.owner, "Expired", days=1)
    deactivated = personal_token(team.developer, "Deactivated person's")
    personal_tokens.revoke(
        team.owner,
        db.session.scalar(select(PersonalToken.id).where(PersonalToken.name == "Revoked")),
        actor=team.owner,
        now=utcnow(),
    )
    team.developer.active = False
    db.session.commit()
    _, project_value = issue_token(team.project)
    invalid = 'Bearer realm="flagpal", error="invalid_token"'
    before = snapshot()
    later = datetime.now(UTC) + timedelta(days=1, seconds=1)

    assert refusal(client, path, bearer(revoked)) == ("token_revoked", invalid)
    assert refusal(client, path, bearer(deactivated)) == ("account_deactivated", invalid)
    assert refusal(client, path, bearer(project_value)) == ("personal_token_required", invalid)
    assert refusal(client, path, bearer(good[:-1] + "_")) == ("token_malformed", invalid)
    unknown = token_format.generate_personal()
    assert refusal(client, path, bearer(unknown)) == ("token_invalid", invalid)
    assert refusal(client, path) == ("token_missing", 'Bearer realm="flagpal"')
    assert refusal(client, path, {"Authorization": "Basic abc"})[0] == "token_missing"
    assert refusal(client, f"{path}?token={good}")[0] == "token_malformed"
    with time_machine.travel(later, tick=False):
        assert refusal(client, path, bearer(expired)) == ("token_expired", invalid)
    assert snapshot() == before, "a refused request changes nothing"


def test_a_project_token_is_told_what_to_send(client, team):
    _, project_value = issue_token(team.project)
    error = error_of(client.get("/api/v1/projects", headers=bearer(project_value)))
    assert error["detail"].startswith("This is a project API token, which only FlagPal's API")
    assert "personal access token (`flagpal_pat_…`)" in error["detail"]


def test_a_signed_in_browser_alone_gets_401_and_cookies_are_ignored(client, team, sign_in):
    sign_in(team.owner)
    for path in ROUTES:
        assert refusal(client, path)[0] == "token_missing"
    # With a good token, the session of someone else changes nothing: the token decides.
    value = personal_token(team.outsider)
    assert get(client, SHOP, value).status_code == 404
    assert "Set-Cookie" not in get(client, "/api/v1/projects", value).headers


def test_use_is_recorded_at_most_once_a_minute(client, team):
    value = personal_token(team.owner)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    with time_machine.travel(start, tick=False):
        get(client, SHOP, value)
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        get(client, SHOP, value)
    token = db.session.scalar(select(PersonalToken))
    db.session.refresh(token)
    assert token.last_used_at == start
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        get(client, SHOP, value)
    db.session.refresh(token)
    assert token.last_used_at == start + timedelta(seconds=61)


# The audit log ------------------------------------------------------------------------


def test_the_audit_log_pages_oldest_first_with_links(client, team):
    db.session.execute(db.delete(AuditEvent))
    db.session.commit()
    start = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    made = []
    for number in range(5):
        with time_machine.travel(start + timedelta(minutes=number), tick=False):
            made.append(issue_token(team.project, f"Token {number}")[0])
    value = personal_token(team.developer)

    response = get(client, f"{SHOP}/audit-events", value, query_string={"page[size]": "2"})
    assert response.status_code == 200
    body = response.json
    assert [e["attributes"]["target"] for e in body["data"]] == [
        f"token {made[0].id} “Token 0”",
        f"token {made[1].id} “Token 1”",
    ]
    assert body["meta"] == {"count": 5, "pages": 3}
    assert body["links"]["self"].endswith("page%5Bnumber%5D=1&page%5Bsize%5D=2")
    assert body["links"]["next"].endswith("page%5Bnumber%5D=2&page%5Bsize%5D=2")
    assert body["links"]["last"].endswith("page%5Bnumber%5D=3&page%5Bsize%5D=2")
    assert "prev" not in body["links"]
    last = get(client, body["links"]["last"], value).json
    assert len(last["data"]) == 1 and "next" not in last["links"]
    assert last["links"]["prev"].endswith("page%5Bnumber%5D=2&page%5Bsize%5D=2")
    assert last["data"][0]["attributes"]["at"] == "2026-11-01T12:04:00Z"
    assert last["data"][0]["attributes"]["kind"] == "token.created"

    since = get(
        client,
        f"{SHOP}/audit-events",
        value,
        query_string={"filter[since]": "2026-11-01T12:03:00Z"},
    ).json
    assert [e["attributes"]["at"] for e in since["data"]] == [
        "2026-11-01T12:03:00Z",
        "2026-11-01T12:04:00Z",
    ]
    assert since["meta"] == {"count": 2, "pages": 1}
    # The links keep the filter.
    assert "filter%5Bsince%5D=2026-11-01T12:03:00Z&" in since["links"]["self"]
    beyond = get(client, f"{SHOP}/audit-events", value, query_string={"page[number]": "9"}).json
    assert beyond["data"] == [] and beyond["links"]["prev"].endswith(
        "page%5Bnumber%5D=1&page%5Bsize%5D=50"
    )


def test_developers_read_the_log_without_invitations_or_addresses(client, team):
    AuditEvent.record(
        AuditKind.INVITATION_CREATED,
        project=team.project,
        target="new@example.com",
        actor=team.owner,
    )
    remove_member(membership_of(team.viewer, team.project), actor=team.owner)
    db.session.commit()
    developer = get(client, f"{SHOP}/audit-events", personal_token(team.developer)).json
    owner = get(client, f"{SHOP}/audit-events", personal_token(team.owner)).json
    developer_kinds = {e["attributes"]["kind"] for e in developer["data"]}
    owner_kinds = {e["attributes"]["kind"] for e in owner["data"]}
    assert "invitation.created" in owner_kinds and "invitation.created" not in developer_kinds
    [removed] = [e for e in developer["data"] if e["attributes"]["kind"] == "member.removed"]
    assert removed["attributes"]["actor"] == "Olivia Owner"
    assert removed["attributes"]["target"] == "Vic Viewer"
    assert "@" not in str(developer["data"])
    assert "olivia@example.com" in str(owner["data"])


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"page[size]": "0"}, "page[size]"),
        ({"page[size]": "101"}, "page[size]"),
        ({"page[size]": "ten"}, "page[size]"),
        ({"page[number]": "0"}, "page[number]"),
        ({"page[number]": "-1"}, "page[number]"),
        ({"page[number]": "²"}, "page[number]"),
        ({"filter[since]": "yesterday"}, "filter[since]"),
        ({"filter[since]": "2026-11-01"}, "filter[since]"),
        ({"filter[since]": "2026-11-01T12:00:00"}, "filter[since]"),
        ({"sort": "-at"}, "sort"),
        ({"filter[kind]": "token"}, "filter[kind]"),
        ([("page[size]", "2"), ("page[size]", "3")], "page[size]"),
    ],
)
def test_bad_query_parameters_are_400_naming_the_parameter(client, team, query, parameter):
    response = get(client, f"{SHOP}/audit-events", personal_token(team.owner), query_string=query)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_parameter"
    assert error["source"] == {"parameter": parameter}


@pytest.mark.parametrize(
    ("since", "kept"),
    [
        # RFC 3339 (what the OpenAPI document's date-time means) allows a lower-case
        # t and z, and a leap second; the first two were refused with 400.
        ("2000-01-01t00:00:00z", True),
        ("2016-12-31T23:59:60Z", True),
        ("2016-12-31T23:59:60.5+01:00", True),
        # Beyond what UTC can write: these were a 500 (OverflowError).
        ("0001-01-01T00:00:00+14:00", True),
        ("9999-12-31T23:59:59-14:00", False),
    ],
)
def test_any_rfc_3339_moment_is_read(client, team, since, kept):
    response = get(
        client,
        f"{SHOP}/audit-events",
        personal_token(team.owner),
        query_string={"filter[since]": since},
    )
    assert response.status_code == 200, response.text
    assert bool(response.json["data"]) == kept


@pytest.mark.parametrize("path", ROUTES[:3])
def test_routes_without_parameters_refuse_any(client, team, path):
    response = get(client, path, personal_token(team.owner), query_string={"page[size]": "2"})
    assert response.status_code == 400
    assert error_of(response)["source"] == {"parameter": "page[size]"}


def test_a_personal_token_never_opens_the_flagpal_api(client, team):
    value = personal_token(team.owner)
    for path in ["/api/v1/token", "/api/v1/auth/read"]:
        response = client.get(path, headers=bearer(value))
        assert response.status_code == 401
        assert error_of(response)["code"] == "token_malformed"


def test_the_sign_in_password_is_not_a_token(client, team):
    assert refusal(client, SHOP, bearer(PASSWORD))[0] == "token_malformed"


# Project tokens ------------------------------------------------------------------------

VIEWER_FIELDS = {"name", "status", "created_at"}


@pytest.mark.parametrize("who", list(EXPECTED))
def test_tokens_as_each_role(client, team, who):
    token, _ = issue_token(team.project, "Shop backend", abilities=frozenset({"read", "write"}))
    value = personal_token(team.member(who))
    listed = get(client, f"{SHOP}/tokens", value)
    one = get(client, f"{SHOP}/tokens/{token.id}", value)
    if who == "outsider":
        assert (listed.status_code, one.status_code) == (404, 404)
        assert listed.data == get(client, "/api/v1/projects/nope/tokens", value).data
        return
    assert (listed.status_code, one.status_code) == (200, 200)
    [resource] = listed.json["data"]
    assert resource == one.json["data"]
    assert (resource["type"], resource["id"]) == ("api-tokens", str(token.id))
    attributes = resource["attributes"]
    assert (attributes["name"], attributes["status"]) == ("Shop backend", "active")
    if who == "viewer":
        assert set(attributes) == VIEWER_FIELDS
        assert "relationships" not in resource
        assert token.hint not in listed.text
    else:
        assert attributes["abilities"] == ["read", "write"]
        assert attributes["hint"] == f"flagpal_…{token.hint}"
        assert attributes["state"] == "active"
        assert attributes["created_by"] is None
        assert resource["relationships"] == {"replaced_by": {"data": None}}
    assert listed.json["meta"] == {"count": 1, "pages": 1}


def test_tokens_are_filtered_and_paged_newest_first(client, team):
    start = datetime(2026, 11, 1, tzinfo=UTC)
    made = []
    for number, name in enumerate(["CI one", "CI two", "Shop", "ci three"]):
        with time_machine.travel(start + timedelta(hours=number), tick=False):
            made.append(issue_token(team.project, name)[0])
    made[1].revoked_at = utcnow()
    db.session.commit()
    value = personal_token(team.developer)

    def names(**query):
        response = get(client, f"{SHOP}/tokens", value, query_string=query)
        assert response.status_code == 200, response.text
        return [t["attributes"]["name"] for t in response.json["data"]], response.json

    assert names()[0] == ["ci three", "Shop", "CI two", "CI one"]
    assert names(**{"filter[name]": "ci"})[0] == ["ci three", "CI two", "CI one"]
    assert names(**{"filter[status]": "revoked"})[0] == ["CI two"]
    assert names(**{"filter[status]": "active", "filter[name]": "CI"})[0] == ["ci three", "CI one"]
    assert names(**{"filter[name]": "%"})[0] == []
    page, body = names(**{"page[size]": "3", "page[number]": "2"})
    assert page == ["CI one"]
    assert body["meta"] == {"count": 4, "pages": 2}
    assert "filter" not in body["links"]["self"]
    assert body["links"]["prev"].endswith("page%5Bnumber%5D=1&page%5Bsize%5D=3")


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"filter[status]": "gone"}, "filter[status]"),
        ({"page[size]": "1000"}, "page[size]"),
        ({"sort": "name"}, "sort"),
    ],
)
def test_bad_token_list_parameters_are_400(client, team, query, parameter):
    response = get(client, f"{SHOP}/tokens", personal_token(team.owner), query_string=query)
    assert response.status_code == 400
    assert error_of(response)["source"] == {"parameter": parameter}


def test_another_projects_token_or_an_unknown_id_is_404(client, team):
    others, _ = issue_token(team.other_project, "Other's")
    value = personal_token(team.owner)
    for token_id in [others.id, 2**31, 2**63]:
        response = get(client, f"{SHOP}/tokens/{token_id}", value)
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"
