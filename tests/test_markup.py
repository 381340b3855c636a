"""Markup every page and fragment must keep: no inline scripts or styles (so a strict
Content-Security-Policy fits), labelled inputs, and no attribute left saying "None"."""

from datetime import timedelta

import pytest

from flagpal_dash.core import personal_tokens
from flagpal_dash.models import utcnow

from .support import HTMX, issue_token, soup


def every_page(client, team, sign_in) -> dict[str, str]:
    token, _ = issue_token(team.project, "Shop backend")
    pages = {
        "sign-in": client.get("/sign-in").text,
        "setup-404": client.get("/setup/nope").text,
    }
    sign_in(team.owner)
    for path in [
        "/",
        "/projects/shop",
        "/projects/shop/tokens",
        "/projects/shop/tokens/new",
        f"/projects/shop/tokens/{token.id}/revoke",
        "/projects/shop/settings",
        "/projects/nope",
    ]:
        pages[path] = client.get(path).text
        pages[path + " (htmx)"] = client.get(path, headers=HTMX).text
    pages["created"] = client.post(
        "/projects/shop/tokens", data={"name": "x", "abilities": ["read"], "expiration": "7"}
    ).text
    pages["create error (htmx)"] = client.post(
        "/projects/shop/tokens", data={"name": ""}, headers=HTMX
    ).text
    # The Account page's personal access tokens: the list, the one reveal, the confirm.
    created = client.post(
        "/account/tokens",
        data={"name": "Script", "expires_on": (utcnow() + timedelta(days=9)).date().isoformat()},
    )
    assert created.status_code == 201
    pages["personal token created"] = created.text
    pages["/account"] = client.get("/account").text
    [personal] = personal_tokens.list_of(team.owner)
    pages["personal token revoke"] = client.get(f"/account/tokens/{personal.id}/revoke").text
    pages["personal token shown once"] = client.get(f"/account/tokens/{personal.id}/created").text
    return pages


@pytest.fixture
def pages(client, team, sign_in):
    return every_page(client, team, sign_in)


def test_no_inline_scripts_styles_or_event_handlers(pages):
    for name, html in pages.items():
        markup = soup(html)
        assert [s for s in markup.find_all("script") if not s.get("src")] == [], name
        assert markup.find_all("style") == [], name
        for element in markup.find_all(True):
            inline = [a for a in element.attrs if a == "style" or a.startswith("on")]
            assert inline == [], f"{name}: <{element.name} {inline}>"


def test_every_input_has_a_label_and_no_attribute_says_none(pages):
    for name, html in pages.items():
        markup = soup(html)
        for field in markup.find_all(["input", "select", "textarea"]):
            if field.get("type") == "hidden":
                continue
            assert field.get("id") and markup.find("label", attrs={"for": field["id"]}), (
                f"{name}: unlabelled {field}"
            )
        for element in markup.find_all(True):
            assert "None" not in element.attrs.values(), f"{name}: {element}"
