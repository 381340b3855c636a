"""The API Tokens page: what each role sees of a project's tokens."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from flagpal_dash.core import tokens
from flagpal_dash.extensions import db
from flagpal_dash.models import utcnow

from .support import issue_token, page, text_of


def rows(response) -> list:
    return page(response).select("#token-list tbody tr")


def column_titles(response) -> list[str]:
    return [text_of(th) for th in page(response).select("#token-list thead th")]


def test_project_page_leads_to_api_tokens_under_project_settings(client, team, sign_in):
    sign_in(team.viewer)
    response = client.get("/projects/shop")
    assert response.status_code == 200
    nav = page(response).find("nav", attrs={"aria-labelledby": "settings-heading"})
    assert text_of(nav.find("h2")) == "Project Settings"
    link = nav.find("a", string="API Tokens")
    assert link["href"] == "/projects/shop/tokens"


def test_home_lists_only_the_projects_you_belong_to(client, team, sign_in):
    sign_in(team.outsider)
    response = client.get("/")
    assert [text_of(a) for a in page(response).select(".project-list a")] == ["Other"]


def test_tokens_are_listed_newest_first_with_a_time_element(client, team, sign_in):
    with time_machine.travel(datetime(2026, 1, 1, 9, 30, tzinfo=UTC), tick=False):
        issue_token(team.project, "Old app")
    with time_machine.travel(datetime(2026, 2, 1, 9, 30, tzinfo=UTC), tick=False):
        issue_token(team.project, "New app")
    with time_machine.travel(datetime(2026, 2, 4, 10, 0, tzinfo=UTC), tick=False):
        sign_in(team.viewer)
        response = client.get("/projects/shop/tokens")
    assert response.status_code == 200
    listed = rows(response)
    assert [text_of(row.select_one(".token-name")) for row in listed] == ["New app", "Old app"]
    created = listed[1].find_all("td")[1].find("time")
    assert created["datetime"] == "2026-01-01T09:30:00Z"
    assert text_of(created) == "34 days ago"
    assert created["title"] == "1 Jan 2026, 09:30 UTC"
    assert text_of(listed[0].find_all("td")[1].find("time")) == "3 days ago"


def test_status_is_active_expired_or_revoked(client, team, sign_in):
    issue_token(team.project, "Working")
    issue_token(team.project, "Ran out", expires_at=utcnow() - timedelta(minutes=1))
    issue_token(team.project, "Stopped", revoked_at=utcnow())
    sign_in(team.viewer)
    statuses = {
        text_of(row.select_one(".token-name")): text_of(row.select_one(".badge"))
        for row in rows(client.get("/projects/shop/tokens"))
    }
    assert statuses == {"Working": "Active", "Ran out": "Expired", "Stopped": "Revoked"}


def badge(client) -> str:
    return text_of(rows(client.get("/projects/shop/tokens"))[0].select_one(".badge"))


def test_a_token_is_flagged_a_week_before_it_expires_then_expires(client, team, sign_in):
    expires = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
    issue_token(team.project, "Short-lived", expires_at=expires)
    with time_machine.travel(expires - timedelta(days=7, seconds=1), tick=False):
        sign_in(team.viewer)
        assert badge(client) == "Active"
    with time_machine.travel(expires - timedelta(days=7), tick=False):
        assert badge(client) == "Expires in 7 days"
    with time_machine.travel(expires - timedelta(hours=30), tick=False):
        assert badge(client) == "Expires in 30 hours"
    with time_machine.travel(expires, tick=False):
        assert badge(client) == "Expired"


def test_viewers_see_name_status_and_creation_date_only(client, team, sign_in):
    _, value = issue_token(
        team.project,
        "Shop backend",
        created_by=team.owner,
        abilities=frozenset({"read", "metrics"}),
    )
    sign_in(team.viewer)
    response = client.get("/projects/shop/tokens")
    assert column_titles(response) == ["Name", "Status", "Created"]
    row = rows(response)[0]
    assert text_of(row).startswith("Shop backend Active")
    assert value[-4:] not in response.text
    assert "Olivia Owner" not in text_of(row)
    assert "Metrics" not in text_of(row)
    assert page(response).find(string="New API Token") is None
    assert row.find("a") is None and row.find("button") is None and row.find("form") is None


@pytest.mark.parametrize("role", ["developer", "owner"])
def test_managers_also_see_abilities_expiry_last_use_hint_and_creator(client, team, sign_in, role):
    expires = utcnow() + timedelta(days=30)
    token, value = issue_token(
        team.project,
        "Shop backend",
        created_by=team.developer,
        abilities=frozenset({"read", "metrics"}),
        expires_at=expires,
        last_used_at=utcnow() - timedelta(hours=2, minutes=5),
    )
    sign_in(team.member(role))
    response = client.get("/projects/shop/tokens")
    assert column_titles(response) == [
        "Name",
        "Status",
        "Created",
        "Abilities",
        "Expires",
        "Last used",
        "Actions",
    ]
    cells = rows(response)[0].find_all(["th", "td"])
    assert text_of(cells[0]) == f"Shop backend flagpal_…{value[-4:]}"
    assert "by Dana Developer" in text_of(cells[2])
    assert text_of(cells[3]) == "Read, Metrics"
    assert cells[4].find("time")["datetime"] == expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert text_of(cells[4]) == "in 30 days", "the 30 days picked, not one short"
    assert text_of(cells[5]) == "2 hours ago No requests in 30 days"
    actions = {text_of(a): a["href"] for a in cells[-1].find_all("a")}
    assert actions == {
        "Rotate Shop backend": f"/projects/shop/tokens/{token.id}/rotate",
        "Revoke Shop backend": f"/projects/shop/tokens/{token.id}/revoke",
    }


def test_full_access_never_expiring_unused_token_reads_plainly(client, team, sign_in):
    issue_token(team.project, "Admin script", abilities=frozenset({"*"}))
    sign_in(team.owner)
    cells = rows(client.get("/projects/shop/tokens"))[0].find_all("td")
    assert [text_of(cell) for cell in cells[2:5]] == [
        "Full access",
        "Never",
        "Never No requests in 30 days",
    ]
    assert "by the command line" in text_of(cells[1])


def test_revoked_rows_tell_managers_when_and_by_whom(client, team, sign_in):
    token, _ = issue_token(
        team.project,
        "Old",
        revoked_at=datetime(2026, 5, 6, 7, 8, tzinfo=UTC),
        revoked_by=team.owner,
    )
    with time_machine.travel(datetime(2026, 5, 9, 7, 8, tzinfo=UTC), tick=False):
        sign_in(team.developer)
        row = rows(client.get("/projects/shop/tokens"))[0]
    status_cell = row.find_all("td")[0]
    assert text_of(status_cell) == "Revoked 3 days ago by Olivia Owner"
    assert status_cell.find("time")["title"] == "6 May 2026, 07:08 UTC"
    assert row.find("a") is None, "no Revoke on a revoked token"


@pytest.mark.parametrize("how", ["revoked", "rotated immediately", "rotated with a grace"])
def test_revoked_and_rotated_rows_show_no_future_expiry(client, team, sign_in, how):
    now = datetime(2026, 5, 9, 7, 8, tzinfo=UTC)
    with time_machine.travel(now, tick=False):
        token, _ = issue_token(team.project, "Old", expires_at=now + timedelta(days=30))
        if how == "revoked":
            tokens.revoke(token, actor=team.owner, now=now)
        else:
            grace = timedelta(0) if how == "rotated immediately" else timedelta(hours=24)
            tokens.rotate(token, grace, None, actor=team.owner, now=now)
        db.session.commit()
        sign_in(team.developer)
        row = page(client.get("/projects/shop/tokens")).select_one(f"#token-{token.id}")
    expires = row.select_one('td[data-label="Expires"]')
    assert expires.find("time") is None, "no expiry in 30 days, nor one in the grace"
    assert text_of(expires).startswith("— ")
    if how == "rotated with a grace":
        # When it stops is said once, in its status.
        assert "stops working in 24 hours" in text_of(row.select_one('td[data-label="Status"]'))


def test_empty_project_explains_tokens_and_how_to_create_one(client, team, sign_in):
    sign_in(team.developer)
    response = client.get("/projects/shop/tokens")
    empty = page(response).select_one("#token-list .empty")
    assert "An API token lets an app or SDK use the FlagPal API" in text_of(empty)
    assert "Create one with New API Token" in text_of(empty)
    assert page(response).find("a", string="New API Token")["href"] == "/projects/shop/tokens/new"


def test_empty_project_tells_viewers_whom_to_ask(client, team, sign_in):
    sign_in(team.viewer)
    empty = page(client.get("/projects/shop/tokens")).select_one("#token-list .empty")
    assert "ask an owner of this project (Olivia Owner) or a developer" in text_of(empty)


def test_names_with_html_are_shown_as_text(client, team, sign_in):
    issue_token(team.project, '<script>alert("x")</script><b>bold</b>')
    sign_in(team.viewer)
    response = client.get("/projects/shop/tokens")
    name = rows(response)[0].select_one(".token-name")
    assert name.get_text() == '<script>alert("x")</script><b>bold</b>'
    assert name.find("script") is None and name.find("b") is None


# Words: a viewer reads plain words, those who make tokens read how an app sends one.

TECHNICAL = "Authorization: Bearer"


@pytest.mark.parametrize("with_tokens", [True, False], ids=["list", "empty"])
def test_viewers_read_plain_words_not_headers_or_api_terms(client, team, sign_in, with_tokens):
    if with_tokens:
        issue_token(team.project, "Shop backend")
    sign_in(team.viewer)
    response = client.get("/projects/shop/tokens")
    assert response.status_code == 200
    main = page(response).find("main")
    assert text_of(main.select_one("p.lead")) == (
        "These are the keys Shop's apps use to reach FlagPal. "
        "Here you can see which exist and whether they still work."
    )
    assert main.find("code") is None
    for jargon in (TECHNICAL, "SDK", "saving actors", "API for"):
        assert jargon not in text_of(main)
    if not with_tokens:
        assert "An API token is the key an app uses to reach FlagPal for this project." in (
            text_of(main.select_one("#token-list .empty"))
        )


@pytest.mark.parametrize("role", ["developer", "owner"])
def test_token_makers_read_how_an_app_sends_a_token(client, team, sign_in, role):
    sign_in(team.member(role))
    main = page(client.get("/projects/shop/tokens")).find("main")
    lead = main.select_one("p.lead")
    assert text_of(lead.find("code")) == TECHNICAL
    assert text_of(lead) == (
        "Apps and SDKs call the FlagPal API for Shop with these tokens, sent in the "
        "Authorization: Bearer header. Use one token per app and environment."
    )
    assert ".." not in text_of(lead) and "…" not in text_of(lead)
    assert "saving actors" in text_of(main.select_one("#token-list .empty"))


@pytest.mark.parametrize("role", ["viewer", "developer"])
def test_a_name_cut_short_in_the_list_keeps_its_whole_text_in_its_title(
    client, team, sign_in, role
):
    name = "Integration" + "x" * 89
    issue_token(team.project, name, created_by=team.developer)
    sign_in(team.member(role))
    row = rows(client.get("/projects/shop/tokens"))[0]
    shown = row.select_one("th .token-name")
    assert shown["title"] == name and shown.get_text() == name
    if role == "developer":
        assert row.select_one("td[data-label=Created] .person")["title"] == "by Dana Developer"


@pytest.mark.parametrize("late", [timedelta(0), timedelta(seconds=1), timedelta(seconds=30)])
def test_a_7_day_token_just_made_says_expires_in_7_days(client, team, sign_in, late):
    made = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    with time_machine.travel(made, tick=False):
        issue_token(team.project, "Weekly", expires_at=made + timedelta(days=7))
    with time_machine.travel(made + late, tick=False):
        sign_in(team.viewer)
        assert badge(client) == "Expires in 7 days", "not one day short"
