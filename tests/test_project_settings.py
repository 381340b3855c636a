"""The Token policy page (owners only) and the maximum token lifetime, enforced when a
token is created in the dashboard or on the command line."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from flagpal_dash.core import tokens
from flagpal_dash.core.projects import project_by_slug, set_token_policy
from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, AuditEvent, Project, utcnow
from flagpal_dash.validation import Invalid

from .support import HTMX, issue_token, page, text_of

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SETTINGS = "/projects/shop/settings"
GOOD_TOKEN = {"name": "Shop backend", "abilities": ["read"], "expiration": "30"}


def set_policy(project: Project, lifetime: int | None = None, unused: int | None = None):
    project.max_token_lifetime_days = lifetime
    project.revoke_unused_after_days = unused
    db.session.commit()


def shop() -> Project:
    db.session.expire_all()
    return project_by_slug("shop")


def policy_events() -> list[AuditEvent]:
    return list(
        db.session.scalars(select(AuditEvent).where(AuditEvent.kind == "project.policy_changed"))
    )


def save_policy(client, *, lifetime: str, unused: str):
    """Submit the Token policy form with these choices, as the page's selects send them."""
    return client.post(
        SETTINGS,
        data={"max_token_lifetime_days": lifetime, "revoke_unused_after_days": unused},
    )


def selected(form_page, name: str) -> str:
    return form_page.find("select", attrs={"name": name}).find("option", selected=True)["value"]


def field_errors(response) -> list[str]:
    return [text_of(li) for li in page(response).select(".field-errors li")]


# The page ----------------------------------------------------------------------------


def test_owners_find_token_policy_in_the_project_nav(client, team, sign_in):
    sign_in(team.owner)
    nav = page(client.get("/projects/shop")).find("nav", class_="settings-nav")
    link = nav.find("a", string="Token policy")
    assert link["href"] == SETTINGS

    response = client.get(link["href"])
    assert response.status_code == 200
    assert (
        page(response)
        .find("nav", class_="settings-nav")
        .find("a", attrs={"aria-current": "page"})
        .get_text()
        == "Token policy"
    )


@pytest.mark.parametrize("role", ["developer", "viewer"])
def test_others_see_no_link_and_get_403(client, team, sign_in, role):
    sign_in(team.member(role))
    nav = page(client.get("/projects/shop")).find("nav", class_="settings-nav")
    assert nav.find("a", string="Token policy") is None
    assert client.get(SETTINGS).status_code == 403
    response = client.post(SETTINGS, data={"max_token_lifetime_days": "30"})
    assert response.status_code == 403
    assert shop().max_token_lifetime_days is None


def test_a_non_member_gets_404(client, team, sign_in):
    sign_in(team.outsider)
    assert client.get(SETTINGS).status_code == 404
    assert client.post(SETTINGS, data={"max_token_lifetime_days": "30"}).status_code == 404


def test_the_page_shows_the_choices_and_the_policy_as_it_is(client, team, sign_in):
    set_policy(team.project, lifetime=90, unused=60)
    sign_in(team.owner)
    response = client.get(SETTINGS)
    assert response.status_code == 200
    form = page(response).find("form", attrs={"action": SETTINGS})
    lifetime = form.find("select", attrs={"name": "max_token_lifetime_days"})
    assert [text_of(o) for o in lifetime.find_all("option")] == [
        "No maximum",
        "30 days",
        "90 days",
        "180 days",
        "365 days",
    ]
    unused = form.find("select", attrs={"name": "revoke_unused_after_days"})
    assert [o["value"] for o in unused.find_all("option")] == [
        "never",
        "30",
        "60",
        "90",
        "180",
        "365",
    ]
    assert selected(form, "max_token_lifetime_days") == "90"
    assert selected(form, "revoke_unused_after_days") == "60"
    assert form.find("label", attrs={"for": "max_token_lifetime_days"}).get_text() == (
        "Maximum token lifetime"
    )
    assert "tokens prune" in text_of(form.find(id="revoke_unused_after_days-description"))


def test_saving_changes_the_policy_and_records_old_and_new(client, team, sign_in):
    set_policy(team.project, unused=90)
    sign_in(team.owner)
    response = save_policy(client, lifetime="30", unused="90")
    assert response.status_code == 302
    assert response.headers["Location"] == SETTINGS
    assert shop().max_token_lifetime_days == 30
    assert shop().revoke_unused_after_days == 90

    [event] = policy_events()
    assert event.actor == "Olivia Owner <olivia@example.com>"
    assert event.target == "Shop (shop)"
    assert event.details == {
        "max_token_lifetime": "30 days",
        "previous_max_token_lifetime": "no maximum",
    }, "only what changed"

    shown = page(client.get(SETTINGS))
    assert text_of(shown.find(id="flash")) == "Token policy saved."
    assert selected(shown, "max_token_lifetime_days") == "30"

    save_policy(client, lifetime="none", unused="never")
    assert (shop().max_token_lifetime_days, shop().revoke_unused_after_days) == (None, None)
    assert policy_events()[-1].details == {
        "max_token_lifetime": "no maximum",
        "previous_max_token_lifetime": "30 days",
        "revoke_unused_after": "never",
        "previous_revoke_unused_after": "90 days",
    }


def test_saving_the_same_policy_records_nothing(client, team, sign_in):
    set_policy(team.project, lifetime=180)
    sign_in(team.owner)
    response = save_policy(client, lifetime="180", unused="never")
    assert response.status_code == 302
    assert policy_events() == []
    assert "nothing changed" in text_of(page(client.get(SETTINGS)).find(id="flash"))


def test_the_change_is_in_the_project_audit_log(client, team, sign_in):
    sign_in(team.owner)
    save_policy(client, lifetime="365", unused="30")
    row = page(client.get("/projects/shop/audit")).select_one("table.log tbody tr")
    what = row.find("td", attrs={"data-label": "What"})
    assert text_of(what.strong) == "Project policy changed"
    assert [text_of(meta) for meta in what.select(".meta")] == [
        "max token lifetime: 365 days",
        "previous max token lifetime: no maximum",
        "revoke unused after: 30 days",
        "previous revoke unused after: never",
    ]


FORGED = [
    ({"max_token_lifetime_days": "45"}, "Choose one of the listed lifetimes."),
    ({"max_token_lifetime_days": "never"}, "Choose one of the listed lifetimes."),
    ({"max_token_lifetime_days": "3650"}, "Choose one of the listed lifetimes."),
    ({"max_token_lifetime_days": ""}, "Choose one of the listed lifetimes."),
    ({"max_token_lifetime_days": None}, "Choose one of the listed lifetimes."),
    ({"revoke_unused_after_days": "7"}, "Choose one of the listed periods."),
    ({"revoke_unused_after_days": "none"}, "Choose one of the listed periods."),
    ({"revoke_unused_after_days": "-30"}, "Choose one of the listed periods."),
    ({"revoke_unused_after_days": "9" * 40}, "Choose one of the listed periods."),
    ({"revoke_unused_after_days": None}, "Choose one of the listed periods."),
]


@pytest.mark.parametrize("change, message", FORGED, ids=[str(c) for c, _ in FORGED])
def test_forged_values_are_refused_and_change_nothing(client, team, sign_in, change, message):
    set_policy(team.project, lifetime=90, unused=60)
    sign_in(team.owner)
    data = {"max_token_lifetime_days": "30", "revoke_unused_after_days": "30"} | change
    response = client.post(SETTINGS, data={k: v for k, v in data.items() if v is not None})
    assert response.status_code == 422
    assert field_errors(response) == [message]
    assert page(response).find("html") is not None, "the page again, with the message"
    assert (shop().max_token_lifetime_days, shop().revoke_unused_after_days) == (90, 60)
    assert policy_events() == []


def test_the_core_refuses_days_that_are_not_offered(team):
    with pytest.raises(Invalid, match="Choose one of the listed lifetimes."):
        set_token_policy(team.project, 60, None, actor=team.owner)
    with pytest.raises(Invalid, match="Choose one of the listed periods."):
        set_token_policy(team.project, None, 1, actor=team.owner)


# The maximum lifetime: one rule in core/tokens.py --------------------------------------


def test_the_rule_on_the_project(team):
    project = team.project
    assert tokens.lifetime_limit(project) is None
    assert tokens.longest_expiry(project, NOW) is None
    tokens.check_expiry(project, None, NOW)  # no maximum: anything goes

    project.max_token_lifetime_days = 90
    assert tokens.lifetime_limit(project) == timedelta(days=90)
    assert tokens.longest_expiry(project, NOW) == NOW + timedelta(days=90)
    tokens.check_expiry(project, NOW + timedelta(days=90), NOW)
    with pytest.raises(Invalid) as beyond:
        tokens.check_expiry(project, NOW + timedelta(days=90, seconds=1), NOW)
    assert str(beyond.value) == "Tokens in Shop can last at most 90 days (project policy)."
    with pytest.raises(Invalid) as never:
        tokens.check_expiry(project, None, NOW)
    assert str(never.value) == "Tokens in Shop must expire within 90 days (project policy)."


def test_issuing_a_token_beyond_the_maximum_is_refused_whoever_asks(team):
    set_policy(team.project, lifetime=30)
    with pytest.raises(Invalid):
        tokens.issue(team.project, "X", frozenset({"read"}), None, actor=None, now=utcnow())
    assert db.session.scalars(select(ApiToken)).all() == []


def test_tokens_that_exist_keep_their_expiry(client, team, sign_in):
    token, _ = issue_token(team.project, "Old and endless")
    sign_in(team.owner)
    save_policy(client, lifetime="30", unused="never")
    db.session.expire_all()
    assert token.expires_at is None and token.revoked_at is None


# In the New API Token dialog -----------------------------------------------------------


def offered(response) -> list[str]:
    fieldset = page(response).select("form fieldset")[1]
    return [text_of(label) for label in fieldset.select(".choices label")]


@pytest.mark.parametrize(
    "lifetime, choices",
    [
        (None, ["No expiration", "7 days", "30 days", "60 days", "90 days", "Custom date"]),
        (30, ["7 days", "30 days", "Custom date"]),
        (90, ["7 days", "30 days", "60 days", "90 days", "Custom date"]),
        (365, ["7 days", "30 days", "60 days", "90 days", "Custom date"]),
    ],
)
def test_the_dialog_offers_only_what_the_maximum_allows(client, team, sign_in, lifetime, choices):
    set_policy(team.project, lifetime=lifetime)
    with time_machine.travel(NOW, tick=False):
        sign_in(team.developer)
        response = client.get("/projects/shop/tokens/new", headers=HTMX)
    assert response.status_code == 200
    assert offered(response) == choices
    date_input = page(response).find(id="custom_date")
    assert date_input["min"] == "2026-06-02"
    hint = page(response).find("p", string=lambda s: s and "project policy" in s)
    if lifetime is None:
        # No project maximum: the ten years any token may last, as the server allows.
        assert date_input["max"] == "2036-05-28"
        assert hint is None
    else:
        # The token stops at the end of the chosen day: the day before the maximum's.
        latest = (NOW + timedelta(days=lifetime - 1)).date().isoformat()
        assert date_input["max"] == latest
        assert text_of(hint) == f"Tokens in Shop last at most {lifetime} days (project policy)."
    assert page(response).find("input", attrs={"name": "expiration"}, checked=True)["value"] == "30"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"expiration": "60"}, "Tokens in Shop can last at most 30 days (project policy)."),
        ({"expiration": "90"}, "Tokens in Shop can last at most 30 days (project policy)."),
        ({"expiration": "never"}, "Tokens in Shop must expire within 30 days (project policy)."),
        (
            {"expiration": "custom", "custom_date": "2026-07-01"},
            "Tokens in Shop can last at most 30 days (project policy). "
            "Choose 30 Jun 2026 or earlier.",
        ),
        (
            {"expiration": "custom", "custom_date": "2030-01-01"},
            "Tokens in Shop can last at most 30 days (project policy). "
            "Choose 30 Jun 2026 or earlier.",
        ),
        ({"expiration": "365"}, "Choose one of the expiration options."),
    ],
)
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_a_forged_expiry_beyond_the_maximum_is_refused(
    client, team, sign_in, change, message, htmx
):
    set_policy(team.project, lifetime=30)
    with time_machine.travel(NOW, tick=False):
        sign_in(team.developer)
        response = client.post(
            "/projects/shop/tokens", data=GOOD_TOKEN | change, headers=HTMX if htmx else {}
        )
    assert response.status_code == 422
    assert field_errors(response) == [message]
    assert page(response).find(id="new-token-value") is None
    assert db.session.scalars(select(ApiToken)).all() == []


@pytest.mark.parametrize(
    "change, expires_at",
    [
        ({"expiration": "30"}, NOW + timedelta(days=30)),
        ({"expiration": "7"}, NOW + timedelta(days=7)),
        ({"expiration": "custom", "custom_date": "2026-06-30"}, datetime(2026, 7, 1, tzinfo=UTC)),
    ],
)
def test_up_to_the_maximum_is_fine(client, team, sign_in, change, expires_at):
    set_policy(team.project, lifetime=30)
    with time_machine.travel(NOW, tick=False):
        sign_in(team.owner)
        response = client.post("/projects/shop/tokens", data=GOOD_TOKEN | change)
    assert response.status_code == 201
    [token] = db.session.scalars(select(ApiToken)).all()
    assert token.expires_at == expires_at


# On the command line -------------------------------------------------------------------


def create_on_cli(runner, *extra):
    args = ["tokens", "create", "shop", "--name", "CI", "--ability", "read", *extra]
    return runner.invoke(args=args)


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            ["--expires-in-days", "31"],
            "Error: Tokens in Shop can last at most 30 days (project policy). "
            "Give --expires-in-days 30 or less.",
        ),
        (
            [],
            "Error: Tokens in Shop must expire within 30 days (project policy). "
            "Give --expires-in-days 30 or less.",
        ),
    ],
    ids=["beyond", "none given"],
)
def test_the_command_line_refuses_beyond_the_maximum(runner, team, extra, message):
    set_policy(team.project, lifetime=30)
    result = create_on_cli(runner, *extra)
    assert result.exit_code == 1
    assert message in result.output
    assert "flagpal_" not in result.output
    assert db.session.scalars(select(ApiToken)).all() == []


def test_the_command_line_creates_within_the_maximum(runner, team):
    set_policy(team.project, lifetime=30)
    with time_machine.travel(NOW, tick=False):
        result = create_on_cli(runner, "--expires-in-days", "30")
    assert result.exit_code == 0, result.output
    [token] = db.session.scalars(select(ApiToken)).all()
    assert token.expires_at == NOW + timedelta(days=30)
