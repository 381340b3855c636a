"""A token's expiry date in a real browser, with and without JavaScript: a typed date
chooses Custom date (the field looks inactive until it applies), and rotating a token
made to expire on a chosen day keeps that day."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken

from ..support import issue_token
from .conftest import new_page
from .live import sign_in

# Far enough ahead of today (UTC) for any test run, and a month end.
CHOSEN = (date.today() + timedelta(days=62)).replace(day=1) - timedelta(days=1)


def end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(), UTC)


def newest_token() -> ApiToken:
    db.session.expire_all()
    return db.session.scalars(db.select(ApiToken).order_by(ApiToken.id.desc())).first()


def looks_inactive(page) -> bool:
    """The date field is drawn dashed and muted until Custom date is chosen."""
    return page.locator("#custom_date").evaluate("e => getComputedStyle(e).borderTopStyle") == (
        "dashed"
    )


def fill_name_and_ability(form, name: str) -> None:
    form.get_by_label("Name").fill(name)
    form.get_by_label("Read", exact=True).check()


def test_typing_a_date_chooses_custom_date_and_another_option_sets_it_aside(page, team):
    sign_in(page, team.developer)
    page.goto("/projects/shop/tokens")
    page.get_by_role("link", name="New API Token").click()
    dialog = page.get_by_role("dialog", name="New API Token")
    dialog.wait_for()
    fill_name_and_ability(dialog, "Nightly export")
    custom = dialog.get_by_label("Custom date")
    assert dialog.get_by_label("30 days").is_checked()
    assert looks_inactive(page)
    assert page.locator("#custom_date").is_enabled(), "typeable, so not disabled"

    page.locator("#custom_date").fill(CHOSEN.isoformat())
    assert custom.is_checked(), "typing the date chose Custom date"
    assert not looks_inactive(page)

    dialog.get_by_label("7 days").check()
    assert page.locator("#custom_date").input_value() == "", "no date sent beside 7 days"
    assert looks_inactive(page)
    custom.check()
    assert page.locator("#custom_date").input_value() == CHOSEN.isoformat(), "given back"

    dialog.get_by_role("button", name="Create").click()
    page.get_by_role("dialog", name="Token created").wait_for()
    assert newest_token().expires_at == end_of(CHOSEN)


def test_without_javascript_a_typed_date_is_the_choice(plain_page, team):
    page = plain_page
    sign_in(page, team.developer)
    page.goto("/projects/shop/tokens/new")
    form = page.locator("form.token-form")
    fill_name_and_ability(form, "Nightly export")
    assert form.get_by_label("30 days").is_checked()
    assert looks_inactive(page), "inactive without a script too"
    page.locator("#custom_date").fill(CHOSEN.isoformat())
    assert form.get_by_label("30 days").is_checked(), "no script changes the option"
    form.get_by_role("button", name="Create").click()

    assert page.get_by_text("It will not be shown again.").is_visible()
    assert newest_token().expires_at == end_of(CHOSEN), "the date typed, not 30 days"


def test_without_javascript_a_date_beside_a_chosen_option_asks_which(
    chromium, live_server, request, app, team
):
    watched = new_page(
        chromium,
        live_server,
        request,
        viewport={"width": 1280, "height": 900},
        java_script_enabled=False,
    )
    page = watched.page
    sign_in(page, team.developer)
    page.goto("/projects/shop/tokens/new")
    form = page.locator("form.token-form")
    fill_name_and_ability(form, "Nightly export")
    form.get_by_label("7 days").check()
    page.locator("#custom_date").fill(CHOSEN.isoformat())
    form.get_by_role("button", name="Create").click()

    errors = page.locator("#expiration-errors").inner_text()
    assert errors.startswith("You chose 7 days and also entered")
    assert newest_token() is None
    page.get_by_label("Custom date").check()
    page.get_by_role("button", name="Create").click()
    assert page.get_by_text("It will not be shown again.").is_visible()
    assert newest_token().expires_at == end_of(CHOSEN)
    # Chromium reports the form's 422 answer in the console; nothing else went wrong.
    assert [problem for problem in watched.problems if "422" not in problem] == []


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "plain"])
def test_rotating_keeps_the_chosen_day(page, plain_page, team, javascript):
    browser_page = page if javascript else plain_page
    token, _ = issue_token(team.project, "Shop backend", expires_at=end_of(CHOSEN))
    # Made some days before, at an hour that is not midnight: the lifetime is no
    # whole number of days, as a custom date's is.
    token.created_at = datetime.now(UTC) - timedelta(days=3, hours=5)
    db.session.commit()
    sign_in(browser_page, team.developer)
    for rotation in (1, 2):
        browser_page.goto("/projects/shop/tokens")
        browser_page.get_by_role("link", name="Rotate Shop backend").click()
        browser_page.get_by_label("Custom date").wait_for()
        assert browser_page.get_by_label("Custom date").is_checked()
        shown = browser_page.locator("#custom_date").input_value()
        assert shown == CHOSEN.isoformat(), f"rotation {rotation} shows the day chosen"
        browser_page.get_by_role("button", name="Rotate").click()
        browser_page.get_by_text("It will not be shown again.").wait_for()
        assert newest_token().expires_at == end_of(CHOSEN), f"rotation {rotation} keeps it"
