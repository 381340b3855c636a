"""Tokens about to expire (the banner on a project's pages and `tokens expiring`, for a
cron alert) and unused tokens revoked by the project's policy (`tokens prune`)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from flagpal_dash.core import tokens
from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, AuditEvent

from .support import HTMX, issue_token, page, text_of
from .test_api_token import bearer

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def expiring(team):
    """Shop: "CI" expires in 26 hours, "Shop backend" in 3 days; others do not count."""
    with time_machine.travel(NOW - 20 * DAY, tick=False):
        issue_token(team.project, "Shop backend", expires_at=NOW + 3 * DAY)
        issue_token(team.project, "CI", expires_at=NOW + DAY + timedelta(hours=2))
        issue_token(team.project, "Next month", expires_at=NOW + 10 * DAY)
        issue_token(team.project, "Forever")
        issue_token(team.project, "Gone", expires_at=NOW - DAY)
        issue_token(team.project, "Revoked", expires_at=NOW + 2 * DAY, revoked_at=NOW - DAY)
        # A rotated token stops on purpose at the end of its grace period.
        issue_token(team.project, "Rotated", expires_at=NOW + 2 * DAY, rotated_at=NOW - DAY)
        issue_token(team.other_project, "Other app", expires_at=NOW + 5 * DAY)


def run(runner, *args):
    with time_machine.travel(NOW, tick=False):
        result = runner.invoke(args=list(args))
    assert "Traceback" not in result.output
    return result


# The banner ----------------------------------------------------------------------------


def banner(client, path="/projects/shop"):
    response = client.get(path)
    assert response.status_code == 200
    return page(response).find(id="expiring-tokens")


def test_members_see_which_tokens_expire_within_7_days(client, team, sign_in, expiring):
    with time_machine.travel(NOW, tick=False):
        sign_in(team.developer)
        shown = banner(client)
    assert text_of(shown.strong) == "2 tokens expire within 7 days:"
    names = shown.select(".expiring-token")
    assert [text_of(n) for n in names] == ["CI ( in 26 hours )", "Shop backend ( in 3 days )"]
    assert [n.time.get_text() for n in names] == ["in 26 hours", "in 3 days"]
    assert names[1].time["datetime"] == "2026-06-04T12:00:00Z"
    assert shown.find("a", string="See API Tokens")["href"] == "/projects/shop/tokens"
    assert "Rotate them before apps stop working." in text_of(shown)


def test_viewers_see_the_names_but_not_when(client, team, sign_in, expiring):
    with time_machine.travel(NOW, tick=False):
        sign_in(team.viewer)
        shown = banner(client)
    assert [text_of(n) for n in shown.select(".expiring-token")] == ["CI", "Shop backend"]
    assert shown.find("time") is None
    assert "Rotate" not in text_of(shown)


def test_the_banner_is_on_every_page_of_the_project(client, team, sign_in, expiring):
    with time_machine.travel(NOW, tick=False):
        sign_in(team.owner)
        for path in ["/projects/shop/members", "/projects/shop/audit", "/projects/shop/settings"]:
            assert banner(client, path) is not None, path
        on_the_list = banner(client, "/projects/shop/tokens")
        assert on_the_list.find("a") is None, "no link to the page it is on"


def test_the_banner_is_read_once_for_a_page_and_never_for_a_fragment(
    client, team, sign_in, expiring, monkeypatch
):
    reads = []
    original = tokens.expiring
    monkeypatch.setattr(
        tokens, "expiring", lambda *args, **kwargs: reads.append(1) or original(*args, **kwargs)
    )
    with time_machine.travel(NOW, tick=False):
        sign_in(team.owner)
        assert banner(client, "/projects/shop/tokens") is not None
        assert len(reads) == 1
        response = client.get("/projects/shop/tokens", headers=HTMX)
        assert response.status_code == 200
        assert len(reads) == 1, "an htmx fragment swaps into a page that already shows it"
        assert client.get("/projects/shop/tokens/999999/revoke").status_code == 404
        assert len(reads) == 1, "an error page is no project page"


def test_from_7_days_before_until_it_expires(client, team, sign_in):
    issue_token(team.project, "Shop backend", expires_at=NOW + 7 * DAY)
    with time_machine.travel(NOW - timedelta(seconds=1), tick=False):
        sign_in(team.owner)
        assert banner(client) is None
    with time_machine.travel(NOW, tick=False):
        sign_in(team.owner)
        assert text_of(banner(client).strong) == "1 token expires within 7 days:"
    with time_machine.travel(NOW + 7 * DAY, tick=False):
        sign_in(team.owner)
        assert banner(client) is None, "expired: no longer a warning"


@pytest.fixture
def two_days_is_soon(monkeypatch):
    """ "Soon" is 2 days; requested before ``app``, so the app is made with it."""
    monkeypatch.setattr(tokens, "EXPIRES_SOON", 2 * DAY)


def test_the_banner_says_the_span_it_warns_for(two_days_is_soon, client, team, sign_in, expiring):
    with time_machine.travel(NOW, tick=False):
        sign_in(team.developer)
        shown = banner(client)
    assert text_of(shown.strong) == "1 token expires within 2 days:"
    assert [text_of(n) for n in shown.select(".expiring-token")] == ["CI ( in 26 hours )"]


# tokens expiring -----------------------------------------------------------------------


def test_expiring_lists_them_and_exits_1_for_cron(runner, expiring):
    result = run(runner, "tokens", "expiring", "--within-days", "7")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == "3 tokens expire within 7 days:"
    assert lines[1].split() == ["PROJECT", "ID", "NAME", "EXPIRES", "IN"]
    assert [line.split()[0] for line in lines[2:]] == ["shop", "shop", "other"]
    assert "CI" in lines[2] and "2026-06-02 14:00 UTC" in lines[2] and "in 26 hours" in lines[2]
    assert "Shop backend" in lines[3] and lines[3].endswith("in 3 days")
    assert "Other app" in lines[4] and lines[4].endswith("in 5 days")
    assert "flagpal_" not in result.output


def test_expiring_for_one_project_and_further_ahead(runner, team, expiring):
    result = run(runner, "tokens", "expiring", "--within-days", "7", "--project", "other")
    assert result.exit_code == 1
    assert [line.split()[0] for line in result.output.splitlines()[2:]] == ["other"]

    result = run(runner, "tokens", "expiring", "--within-days", "30", "--project", "shop")
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == "3 tokens expire within 30 days:"
    assert "Next month" in result.output
    for left_out in ["Forever", "Gone", "Revoked", "Rotated"]:
        assert left_out not in result.output


def test_expiring_says_none_and_exits_0(runner, team, expiring):
    issue_token(team.project, "Later", expires_at=NOW + 40 * DAY)
    result = run(runner, "tokens", "expiring", "--within-days", "1", "--project", "other")
    assert result.exit_code == 0
    assert result.output == "No active token expires within 1 day.\n"
    result = run(runner, "tokens", "expiring", "--within-days", "4", "--project", "other")
    assert result.exit_code == 0
    assert result.output == "No active token expires within 4 days.\n"


def test_expiring_looks_7_days_ahead_by_default(runner, expiring):
    result = run(runner, "tokens", "expiring")
    assert result.exit_code == 1
    assert result.output.startswith("3 tokens expire within 7 days:")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--within-days", "0"], "Invalid value for '--within-days'"),
        (["--within-days", "-3"], "Invalid value for '--within-days'"),
        (["--within-days", "99999999"], "Invalid value for '--within-days'"),
        (["--within-days", "soon"], "'soon' is not a valid integer"),
        (["--project", "nope"], "No project has the slug 'nope'."),
    ],
)
def test_expiring_refuses_bad_input_with_exit_2(runner, team, args, message):
    result = run(runner, "tokens", "expiring", *args)
    assert result.exit_code == 2, "1 would read as 'tokens are expiring'"
    assert "Error:" in result.output and message in result.output


# tokens prune --------------------------------------------------------------------------


@pytest.fixture
def unused(team):
    """Shop revokes tokens unused for 90 days; Other has no such policy."""
    made = {}
    # (Made earlier, so their "Token created" records come before the pruning.)
    with time_machine.travel(NOW - 400 * DAY, tick=False):
        for name, created, last_used, extra in [
            ("Stale", 200, 100, {}),
            ("Never used", 91, None, {}),
            ("Used lately", 200, 10, {}),
            ("New", 30, None, {}),
            ("Just 90 days", 90, None, {}),
            ("Revoked", 200, None, {"revoked_at": NOW - 150 * DAY}),
            ("Expired", 200, None, {"expires_at": NOW - DAY}),
        ]:
            made[name] = issue_token(
                team.project,
                name,
                created_at=NOW - created * DAY,
                last_used_at=NOW - last_used * DAY if last_used else None,
                **extra,
            )
        issue_token(team.other_project, "Old other", created_at=NOW - 400 * DAY)
    team.project.revoke_unused_after_days = 90
    db.session.commit()
    return made


def revoked_names() -> list[str]:
    db.session.expire_all()
    query = select(ApiToken.name).where(ApiToken.revoked_at.is_not(None)).order_by(ApiToken.name)
    return list(db.session.scalars(query))


def pruned_events() -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.kind == "token.pruned")))


def test_prune_revokes_tokens_unused_past_the_policy(runner, client, unused):
    result = run(runner, "tokens", "prune")
    assert result.exit_code == 0, result.output
    assert revoked_names() == ["Never used", "Revoked", "Stale"]
    lines = result.output.splitlines()
    stale, never = unused["Stale"][0], unused["Never used"][0]
    assert lines == [
        f'Revoked token {stale.id} "Stale" of shop: last used 2026-02-21 12:00 UTC, created '
        "2025-11-13 12:00 UTC (unused for 90 days, project policy).",
        f'Revoked token {never.id} "Never used" of shop: last used never, created '
        "2026-03-02 12:00 UTC (unused for 90 days, project policy).",
        "Revoked 2 unused tokens.",
    ]
    db.session.expire_all()
    for token in (stale, never):
        assert token.revoked_at == NOW
        assert token.revoked_reason == "unused for 90 days (project policy)"
        assert token.revoked_by is None
    assert unused["Revoked"][0].revoked_reason is None, "already revoked: left as it was"

    response = client.get("/api/v1/token", headers=bearer(unused["Stale"][1]))
    assert response.status_code == 401
    assert response.get_json()["errors"][0]["code"] == "token_revoked"


def test_prune_records_each_revocation(runner, client, team, sign_in, unused):
    run(runner, "tokens", "prune")
    events = pruned_events()
    assert [e.target for e in events] == [
        tokens.label(unused["Stale"][0]),
        tokens.label(unused["Never used"][0]),
    ]
    for event in events:
        assert event.actor == "command line"
        assert event.project == team.project
        assert event.details["reason"] == "unused for 90 days (project policy)"
    never = next(e for e in events if "Never used" in e.target)
    assert never.details["last_used_at"] == "never"

    sign_in(team.developer)
    rows = page(client.get("/projects/shop/audit?kind=token")).select("table.log tbody tr")
    what = rows[0].find("td", attrs={"data-label": "What"})
    assert text_of(what.strong) == "Token pruned"
    assert "reason: unused for 90 days (project policy)" in [
        text_of(meta) for meta in what.select(".meta")
    ]


def test_a_dry_run_changes_nothing(runner, unused):
    result = run(runner, "tokens", "prune", "--dry-run")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert [line.split(" token ")[0] for line in lines[:-1]] == ["Would revoke"] * 2
    assert lines[-1] == "Dry run: 2 tokens would be revoked."
    assert revoked_names() == ["Revoked"]
    assert pruned_events() == []


def test_prune_again_finds_nothing_and_without_a_policy_nothing_is_pruned(runner, team, unused):
    run(runner, "tokens", "prune")
    result = run(runner, "tokens", "prune")
    assert result.exit_code == 0
    assert result.output == "No token is unused for longer than its project's policy allows.\n"

    team.project.revoke_unused_after_days = None
    db.session.commit()
    issue_token(team.project, "Ancient", created_at=NOW - 1000 * DAY)
    assert run(runner, "tokens", "prune").exit_code == 0
    assert "Ancient" not in revoked_names()
