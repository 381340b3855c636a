"""Creating a token: the dialog, the value shown exactly once, and bad input."""

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select, text

from flagpal_dash import token_format
from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken

from .support import HTMX, PASSWORD, issue_token, page, text_of

GOOD = {"name": "Shop backend", "abilities": ["read", "write"], "expiration": "30"}


def created_value(response) -> str:
    return page(response).find(id="new-token-value")["value"]


def field_errors(response) -> list[str]:
    return [text_of(li) for li in page(response).select(".field-errors li")]


def tokens_in_db() -> list[ApiToken]:
    return list(db.session.scalars(select(ApiToken)))


def test_new_api_token_opens_a_dialog_form_loaded_by_htmx(client, team, sign_in):
    sign_in(team.developer)
    button = page(client.get("/projects/shop/tokens")).find("a", string="New API Token")
    assert button["hx-get"] == "/projects/shop/tokens/new"
    assert button["hx-target"] == "#dialog-content"

    response = client.get(button["hx-get"], headers=HTMX)
    assert response.status_code == 200
    fragment = page(response)
    assert fragment.find("html") is None, "a fragment, not a page"
    assert text_of(fragment.find(id="dialog-title")) == "New API Token"
    form = fragment.find("form")
    assert form["hx-post"] == "/projects/shop/tokens" and form["hx-target"] == "#dialog-content"
    assert fragment.find("label", attrs={"for": "name"}) is not None
    abilities = {
        text_of(label): label["for"] for label in form.select("fieldset")[0].find_all("label")
    }
    assert list(abilities) == ["Full access", "Read", "Write", "Metrics", "Rotate itself"]
    assert [form.find(id=ident)["value"] for ident in abilities.values()] == [
        "*",
        "read",
        "write",
        "metrics",
        "rotate",
    ]
    rotate_hint = form.find(id=abilities["Rotate itself"]).find_parent("li").select_one(".hint")
    assert text_of(rotate_hint) == (
        "Replace itself with a new token, so an app or CI job can renew its own"
    )
    expirations = [text_of(label) for label in form.select("fieldset")[1].select(".choices label")]
    assert expirations == [
        "No expiration",
        "7 days",
        "30 days",
        "60 days",
        "90 days",
        "Custom date",
    ]
    assert response.headers["Vary"] == "HX-Request, Cookie"


def test_create_shows_the_value_once_and_swaps_in_the_list(client, team, sign_in, caplog):
    caplog.set_level(logging.DEBUG)
    sign_in(team.developer)
    response = client.post("/projects/shop/tokens", data=GOOD, headers=HTMX)

    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    value = created_value(response)
    assert token_format.is_well_formed(value)
    assert response.text.count(value) == 1
    dialog = page(response)
    assert text_of(dialog.find(id="dialog-title")) == "Token created"
    assert "It will not be shown again." in text_of(dialog.select_one(".warning"))
    assert dialog.find("button", attrs={"data-copy-target": "new-token-value"}).get_text() == "Copy"

    swapped_list = dialog.find(id="token-list")
    assert swapped_list["hx-swap-oob"] == "true"
    row = swapped_list.select_one("tbody tr")
    assert text_of(row.select_one(".token-name")) == "Shop backend"
    assert text_of(row.select_one(".token-hint")) == f"flagpal_…{value[-4:]}"

    [token] = tokens_in_db()
    assert token.token_hash == token_format.digest(value)
    assert token.abilities == frozenset({"read", "write"})
    assert token.created_by == team.developer
    assert value not in caplog.text


def test_the_value_is_never_stored_or_shown_again(client, team, sign_in):
    sign_in(team.owner)
    value = created_value(client.post("/projects/shop/tokens", data=GOOD, headers=HTMX))

    for url in ["/projects/shop/tokens", "/projects/shop", "/"]:
        assert value not in client.get(url).text
    tables = db.metadata.sorted_tables
    for table in tables:
        for row in db.session.execute(select(table)).all():
            for cell in row:
                assert value not in str(cell), f"{table.name} holds the token value"


def test_without_javascript_the_page_answering_the_post_shows_the_value(client, team, sign_in):
    sign_in(team.developer)
    form_page = client.get("/projects/shop/tokens/new")
    assert form_page.status_code == 200
    form = page(form_page).find("form", class_="token-form")
    assert form["action"] == "/projects/shop/tokens" and form["method"] == "post"
    assert not form.has_attr("hx-post")
    assert page(form_page).find("a", string="Cancel")["href"] == "/projects/shop/tokens"

    response = client.post("/projects/shop/tokens", data=GOOD)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    value = created_value(response)
    assert response.text.count(value) == 1
    assert page(response).find("html") is not None
    assert (
        page(response).find("a", string="Done, back to API Tokens")["href"]
        == "/projects/shop/tokens"
    )
    assert value not in client.get("/projects/shop/tokens").text


def test_name_is_trimmed_and_full_access_is_stored_alone(client, team, sign_in):
    sign_in(team.owner)
    client.post(
        "/projects/shop/tokens",
        data={"name": "  CI  ", "abilities": ["read", "*"], "expiration": "never"},
    )
    [token] = tokens_in_db()
    assert token.name == "CI"
    assert token.abilities == frozenset({"*"})
    assert db.session.scalar(text("SELECT abilities FROM api_tokens")) == "*"
    assert token.expires_at is None


@pytest.mark.parametrize("days", ["7", "30", "60", "90"])
def test_expiration_periods(client, team, sign_in, days):
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    with time_machine.travel(now, tick=False):
        sign_in(team.owner)
        client.post("/projects/shop/tokens", data=GOOD | {"expiration": days})
    [token] = tokens_in_db()
    assert token.expires_at == now + timedelta(days=int(days))


def test_custom_date_expires_at_the_end_of_that_day_utc(client, team, sign_in):
    with time_machine.travel(datetime(2026, 6, 1, 12, 0, tzinfo=UTC), tick=False):
        sign_in(team.owner)
        client.post(
            "/projects/shop/tokens",
            data=GOOD | {"expiration": "custom", "custom_date": "2026-06-02"},
        )
    [token] = tokens_in_db()
    assert token.expires_at == datetime(2026, 6, 3, 0, 0, tzinfo=UTC)


def test_a_stray_custom_date_is_ignored_when_another_expiration_is_chosen(client, team, sign_in):
    sign_in(team.owner)
    response = client.post(
        "/projects/shop/tokens", data=GOOD | {"expiration": "never", "custom_date": "garbage"}
    )
    assert response.status_code == 201
    assert tokens_in_db()[0].expires_at is None


BAD_INPUT = [
    ({"name": ""}, "Name is required."),
    ({"name": "   "}, "Name is required."),
    ({"name": "x" * 101}, "Name must be at most 100 characters (it has 101)."),
    ({"name": "x" * 10_000}, "Name must be at most 100 characters (it has 10000)."),
    ({"name": "two\nlines"}, "Name cannot contain line breaks, tabs or other control characters."),
    ({"name": "nul\x00byte"}, "Name cannot contain line breaks, tabs or other control characters."),
    ({"abilities": []}, "Choose at least one ability."),
    (
        {"abilities": ["read", "admin"]},
        "Choose abilities from the list: Full access, Read, Write, Metrics, Rotate itself.",
    ),
    ({"expiration": "365"}, "Choose one of the expiration options."),
    ({"expiration": "custom"}, "Pick the date the token should expire."),
    (
        {"expiration": "custom", "custom_date": "31/12/2026"},
        "Pick the date the token should expire.",
    ),
    (
        {"expiration": "custom", "custom_date": "2026-02-30"},
        "Pick the date the token should expire.",
    ),
    (
        {"expiration": "custom", "custom_date": "99999-01-01"},
        "Pick the date the token should expire.",
    ),
    # In the picker's terms: the days its min and max allow, in words.
    (
        {"expiration": "custom", "custom_date": "2026-06-01"},
        "Choose 2 Jun 2026 or later (a date after today, UTC).",
    ),
    (
        {"expiration": "custom", "custom_date": "2020-01-01"},
        "Choose 2 Jun 2026 or later (a date after today, UTC).",
    ),
    (
        {"expiration": "custom", "custom_date": "2036-05-29"},
        "Choose 28 May 2036 or earlier, or No expiration.",
    ),
    (
        {"expiration": "custom", "custom_date": "9999-12-31"},
        "Choose 28 May 2036 or earlier, or No expiration.",
    ),
]


@pytest.mark.parametrize("change, message", BAD_INPUT, ids=[m for _, m in BAD_INPUT])
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_bad_input_is_explained_and_creates_nothing(client, team, sign_in, change, message, htmx):
    with time_machine.travel(datetime(2026, 6, 1, 12, 0, tzinfo=UTC), tick=False):
        sign_in(team.developer)
        response = client.post(
            "/projects/shop/tokens", data=GOOD | change, headers=HTMX if htmx else {}
        )
    assert response.status_code == 422
    assert field_errors(response) == [message]
    assert (page(response).find("html") is None) == htmx
    assert page(response).find(id="new-token-value") is None
    assert tokens_in_db() == []


def test_a_post_without_fields_is_explained_and_creates_nothing(client, team, sign_in):
    """Found by fuzzing: a post without a name compared the missing name (a 500)."""
    sign_in(team.developer)
    response = client.post("/projects/shop/tokens", data={})
    assert response.status_code == 422
    assert field_errors(response) == ["Name is required.", "Choose at least one ability."]
    assert tokens_in_db() == []


def test_the_form_keeps_what_was_typed_after_an_error(client, team, sign_in):
    sign_in(team.developer)
    response = client.post(
        "/projects/shop/tokens",
        data={
            "name": "Keep me",
            "abilities": ["metrics"],
            "expiration": "custom",
            "custom_date": "",
        },
        headers=HTMX,
    )
    form = page(response).find("form")
    assert form.find(id="name")["value"] == "Keep me"
    assert form.find("input", value="metrics").has_attr("checked")
    assert form.find("input", value="custom").has_attr("checked")
    assert form.find(id="custom_date")["aria-invalid"] == "true"


def test_name_must_be_unique_among_active_tokens(client, team, sign_in):
    issue_token(team.project, "Shop backend")
    sign_in(team.developer)
    response = client.post("/projects/shop/tokens", data=GOOD | {"name": "shop BACKEND"})
    assert response.status_code == 422
    assert field_errors(response) == [
        'An active token is already named "shop BACKEND". Choose another name, '
        "or revoke the old token first."
    ]
    assert len(tokens_in_db()) == 1


def test_names_of_revoked_expired_and_other_projects_tokens_are_free(client, team, sign_in):
    issue_token(team.project, "Revoked one", revoked_at=datetime(2026, 1, 1, tzinfo=UTC))
    issue_token(team.project, "Expired one", expires_at=datetime(2026, 1, 1, tzinfo=UTC))
    issue_token(team.other_project, "Other project's")
    sign_in(team.developer)
    for name in ["Revoked one", "Expired one", "Other project's"]:
        assert client.post("/projects/shop/tokens", data=GOOD | {"name": name}).status_code == 201


def test_html_in_a_name_is_escaped_in_the_reveal_and_the_list(client, team, sign_in):
    sign_in(team.developer)
    name = "<img src=x onerror=alert(1)>"
    response = client.post("/projects/shop/tokens", data=GOOD | {"name": name}, headers=HTMX)
    assert response.status_code == 201
    assert page(response).find("img") is None
    assert page(response).select_one("#token-list .token-name").get_text() == name


def test_an_oversized_form_is_refused_with_413(client, team, sign_in):
    sign_in(team.developer)
    response = client.post("/projects/shop/tokens", data=GOOD | {"name": "x" * 100_000})
    assert response.status_code == 413
    assert "Shorten what you typed" in text_of(
        page(response).find(attrs={"data-error-message": True})
    )
    assert tokens_in_db() == []


def sign_in_with_csrf(client, user) -> None:
    response = client.post(
        "/sign-in",
        data={
            "email": user.email,
            "password": PASSWORD,
            "csrf_token": csrf_from(client.get("/sign-in")),
        },
    )
    assert response.status_code == 302


def test_with_csrf_on_the_htmx_header_path_creates_a_token(csrf_client, team):
    client = csrf_client
    sign_in_with_csrf(client, team.developer)
    list_page = client.get("/projects/shop/tokens")
    header = json.loads(page(list_page).body["hx-headers"])

    response = client.post("/projects/shop/tokens", data=GOOD, headers=HTMX | header)
    assert response.status_code == 201
    assert token_format.is_well_formed(created_value(response))


@pytest.mark.parametrize("csrf", [None, "forged-token"])
def test_a_missing_or_wrong_csrf_token_is_a_clear_400_and_changes_nothing(csrf_client, team, csrf):
    client = csrf_client
    sign_in_with_csrf(client, team.developer)
    headers = {"X-CSRFToken": csrf} if csrf else {}
    response = client.post("/projects/shop/tokens", data=GOOD, headers=headers)
    assert response.status_code == 400
    message = text_of(page(response).find(attrs={"data-error-message": True}))
    assert message.startswith(
        "This form has expired or did not come from this site, so nothing was changed."
    )
    assert "Traceback" not in response.text
    assert tokens_in_db() == []


def csrf_from(response) -> str:
    return page(response).find("input", attrs={"name": "csrf_token"})["value"]


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_a_pasted_long_name_is_not_cut_short_silently(client, team, sign_in, htmx):
    sign_in(team.developer)
    form = page(client.get("/projects/shop/tokens/new", headers=HTMX)).find("form")
    name_input = form.find(id="name")
    assert not name_input.has_attr("maxlength"), "a maxlength cuts a paste without a word"
    description = text_of(form.find(id=name_input["aria-describedby"]))
    assert description.endswith("At most 100 characters."), "said before it is typed"

    pasted = "Shop backend " + "x" * 487
    response = client.post(
        "/projects/shop/tokens", data=GOOD | {"name": pasted}, headers=HTMX if htmx else {}
    )
    assert response.status_code == 422
    assert field_errors(response) == ["Name must be at most 100 characters (it has 500)."]
    shown = page(response).select_one("form.token-form").find(id="name")
    assert shown["value"] == pasted, "kept whole, to shorten"
    assert tokens_in_db() == []
