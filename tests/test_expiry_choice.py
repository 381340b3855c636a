"""A custom date a person types is never silently ignored: beside the option the form
opened with it is the choice (nothing changes that option without JavaScript), and
beside an option the person chose the form asks which to use. The date field says so,
and its picker allows exactly the days the server accepts."""

from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy import select

from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken

from .support import HTMX, issue_token, page, text_of
from .test_tokens_create import GOOD

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
END_OF_15_JUNE = datetime(2026, 6, 16, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def at_noon_on_1_june():
    with time_machine.travel(NOW, tick=False):
        yield


def tokens_in_db() -> list[ApiToken]:
    db.session.expire_all()
    return list(db.session.scalars(select(ApiToken).order_by(ApiToken.id)))


def post(client, url: str, data: dict, htmx: bool):
    return client.post(url, data=data, headers=HTMX if htmx else {})


def expiration_errors(response) -> list[str]:
    fieldset = page(response).select_one("fieldset.expiration")
    return [text_of(li) for li in fieldset.select("#expiration-errors li")]


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_a_date_typed_beside_the_option_the_form_opened_with_is_the_choice(
    client, team, sign_in, htmx
):
    sign_in(team.developer)
    # "30" is what the create form opens with; the person only typed the date.
    response = post(client, "/projects/shop/tokens", GOOD | {"custom_date": "2026-06-15"}, htmx)
    assert response.status_code == 201
    [token] = tokens_in_db()
    assert token.expires_at == END_OF_15_JUNE, "the date typed, not 30 days"


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
@pytest.mark.parametrize(
    "option, label", [("7", "7 days"), ("never", "No expiration"), ("90", "90 days")]
)
def test_a_date_typed_beside_another_chosen_option_asks_which_to_use(
    client, team, sign_in, htmx, option, label
):
    sign_in(team.developer)
    response = post(
        client,
        "/projects/shop/tokens",
        GOOD | {"expiration": option, "custom_date": "2026-06-15"},
        htmx,
    )
    assert response.status_code == 422
    assert expiration_errors(response) == [
        f"You chose {label} and also entered 15 Jun 2026. "
        f"Choose Custom date to use the date, or clear the date to use {label}."
    ]
    form = page(response).select_one("form.token-form")
    assert form.find("input", attrs={"name": "expiration"}, checked=True)["value"] == option
    assert form.find(id="custom_date")["value"] == "2026-06-15", "what was typed is kept"
    assert tokens_in_db() == []


def test_the_date_field_says_typing_a_date_chooses_custom_date(client, team, sign_in):
    sign_in(team.developer)
    form = page(client.get("/projects/shop/tokens/new", headers=HTMX)).find("form")
    date_input = form.find(id="custom_date")
    description = form.find(id=date_input["aria-describedby"])
    assert text_of(description) == "Entering a date chooses Custom date."
    assert not date_input.has_attr("disabled"), "a disabled field would not be sent"
    # The picker's first and last days are the ones the server accepts.
    assert (date_input["min"], date_input["max"]) == ("2026-06-02", "2036-05-28")


@pytest.mark.parametrize(
    "day, status",
    [("2026-06-02", 201), ("2036-05-28", 201), ("2026-06-01", 422), ("2036-05-29", 422)],
)
def test_the_picker_s_first_and_last_days_are_accepted_and_no_others(
    client, team, sign_in, day, status
):
    sign_in(team.developer)
    response = post(
        client, "/projects/shop/tokens", GOOD | {"expiration": "custom", "custom_date": day}, False
    )
    assert response.status_code == status


def rotate(client, token, data: dict, htmx: bool):
    return post(client, f"/projects/shop/tokens/{token.id}/rotate", {"grace": "24h"} | data, htmx)


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_rotating_a_date_typed_beside_the_old_token_s_period_is_the_choice(
    client, team, sign_in, htmx
):
    old, _ = issue_token(team.project, expires_at=NOW.replace(day=8))  # a 7-day token
    sign_in(team.developer)
    response = rotate(client, old, {"expiration": "7", "custom_date": "2026-06-15"}, htmx)
    assert response.status_code == 201
    assert tokens_in_db()[-1].expires_at == END_OF_15_JUNE


def test_rotating_asks_when_another_period_was_chosen_beside_a_typed_date(client, team, sign_in):
    old, _ = issue_token(team.project, expires_at=NOW.replace(day=8))
    sign_in(team.developer)
    response = rotate(client, old, {"expiration": "30", "custom_date": "2026-06-15"}, True)
    assert response.status_code == 422
    assert expiration_errors(response)[0].startswith("You chose 30 days and also entered")
    assert len(tokens_in_db()) == 1


def test_rotating_with_another_period_leaves_the_pre_filled_date_aside(client, team, sign_in):
    """The rotate form fills in the old token's chosen day; choosing a period instead,
    without touching that date, is no conflict: the period is the choice."""
    old, _ = issue_token(team.project, expires_at=END_OF_15_JUNE)
    sign_in(team.developer)
    response = rotate(client, old, {"expiration": "30", "custom_date": "2026-06-15"}, False)
    assert response.status_code == 201
    assert tokens_in_db()[-1].expires_at == datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
