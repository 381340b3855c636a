"""The htmx/no-JS double path: the response helpers, the dialog page that wraps every
dialog fragment without JavaScript, and errors answered where the person acted."""

import json

import pytest
from flask import render_template_string

from flagpal_dash import htmx
from flagpal_dash.core.projects import membership_of
from flagpal_dash.extensions import db
from flagpal_dash.permissions import Role

from .support import HTMX, issue_token, page, soup, text_of


def test_a_client_redirect_tells_htmx_to_load_a_page(app):
    with app.test_request_context(headers=HTMX):
        response = htmx.client_redirect("/sign-in", 401)
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/sign-in"
    assert "HX-Request" in response.vary


@pytest.mark.parametrize(
    ("headers", "status", "header"), [(HTMX, 204, "HX-Redirect"), ({}, 302, "Location")]
)
def test_redirect_page_redirects_htmx_and_plain_requests_alike(app, headers, status, header):
    with app.test_request_context(headers=headers):
        response = htmx.redirect_page("/")
    assert response.status_code == status
    assert response.headers[header] == "/"
    assert "HX-Request" in response.vary, "the two answers differ: caches keep them apart"


def test_trigger_names_when_the_event_fires_and_keeps_earlier_ones(app):
    with app.test_request_context(headers=HTMX):
        response = htmx.trigger(app.make_response(""), "first")
        htmx.trigger(response, "second")
        htmx.trigger(response, "close-dialog", after="swap")
    assert response.headers["HX-Trigger"] == "first, second"
    assert response.headers["HX-Trigger-After-Swap"] == "close-dialog"
    assert "HX-Trigger-After-Settle" not in response.headers


def test_retarget_sets_the_target_and_the_swap(app):
    with app.test_request_context(headers=HTMX):
        response = htmx.retarget(app.make_response(""), "#flash", "outerHTML")
    assert response.headers["HX-Retarget"] == "#flash"
    assert response.headers["HX-Reswap"] == "outerHTML"


@pytest.mark.parametrize(("headers", "shown"), [(HTMX, "fragment"), ({}, "page")])
def test_page_or_fragment_varies_on_hx_request(app, headers, shown, monkeypatch):
    monkeypatch.setattr(htmx, "render_template", lambda name, **context: name)
    with app.test_request_context(headers=headers):
        response = htmx.page_or_fragment("page", "fragment", 201)
    assert response.status_code == 201
    assert response.get_data(as_text=True) == shown
    assert "HX-Request" in response.vary


def test_one_url_answering_page_and_fragment_says_vary(client, team, sign_in):
    sign_in(team.developer)
    for headers in [HTMX, {}]:
        response = client.get("/projects/shop/tokens/new", headers=headers)
        assert response.status_code == 200
        assert "HX-Request" in response.vary


def test_a_page_that_is_the_same_for_htmx_does_not_vary(client, team, sign_in):
    sign_in(team.owner)
    response = client.get("/projects/shop/members")
    assert response.status_code == 200
    assert "HX-Request" not in response.vary


def test_dialog_actions_close_with_javascript_and_link_back_without(app):
    template = """{% from "_dialog.html" import dialog_actions %}
        {% call dialog_actions("/back", "Done", "Done, back", primary=true) -%}
          <button type="submit">Go</button>
        {%- endcall %}"""
    with app.test_request_context(headers=HTMX):
        shown = soup(render_template_string(template))
    [button] = shown.find_all("button", attrs={"data-close-dialog": True})
    assert text_of(button) == "Done" and button["class"] == ["button", "primary"]
    assert shown.find("a") is None
    assert text_of(shown.find("button", type="submit")) == "Go"
    with app.test_request_context():
        shown = soup(render_template_string(template))
    assert shown.find(attrs={"data-close-dialog": True}) is None
    assert shown.find("a")["href"] == "/back" and text_of(shown.find("a")) == "Done, back"
    assert text_of(shown.find("button", type="submit")) == "Go"


def dialog_pages(team, token):
    owner_row = membership_of(team.owner, team.project)
    tokens, members = "API Tokens", "Members"
    return [
        ("/projects/shop/tokens/new", "New API Token", tokens, "Cancel"),
        (f"/projects/shop/tokens/{token.id}/revoke", "Revoke Shop backend", tokens, "Cancel"),
        (f"/projects/shop/tokens/{token.id}/rotate", "Rotate Shop backend", tokens, "Cancel"),
        ("/projects/shop/invitations/new", "Invite", members, "Cancel"),
        (f"/projects/shop/members/{owner_row.id}/remove", "Remove Olivia Owner", members, "Cancel"),
    ]


def test_every_dialog_is_a_page_of_its_own_without_javascript(client, team, sign_in):
    token, _ = issue_token(team.project, "Shop backend")
    sign_in(team.owner)
    for url, title, section, back in dialog_pages(team, token):
        response = client.get(url)
        assert response.status_code == 200, url
        shown = page(response)
        assert text_of(shown.title) == f"{title} · Shop · FlagPal Dash"
        assert text_of(shown.h1) == section
        card = shown.select_one("main .card")
        assert card.find(id="dialog-title") is not None, url
        assert card.find(attrs={"hx-post": True}) is None, "a plain form on its own page"
        assert card.find(attrs={"data-close-dialog": True}) is None
        [link] = [a for a in card.find_all("a") if text_of(a) == back]
        assert link["href"] == (
            "/projects/shop/tokens" if section == "API Tokens" else "/projects/shop/members"
        )

        fragment = page(client.get(url, headers=HTMX))
        assert fragment.find("h1") is None and fragment.find(id="dialog-title") is not None
        assert fragment.find("button", attrs={"data-close-dialog": True}) is not None
        assert fragment.find("form")["hx-post"] == fragment.find("form")["action"]


def dialog_header(client) -> dict:
    """The header base.html's <dialog> adds to every request made from inside it."""
    shown = page(client.get("/projects/shop/tokens"))
    return json.loads(shown.find("dialog", id="dialog")["hx-headers"])


def test_an_error_from_the_dialog_is_shown_in_the_dialog(client, team, sign_in):
    token, _ = issue_token(team.project, "Shop backend")
    sign_in(team.developer)
    from_dialog = HTMX | dialog_header(client)
    confirm = page(client.get(f"/projects/shop/tokens/{token.id}/revoke", headers=HTMX))
    form = confirm.find("form")
    # Meanwhile an owner makes the developer a viewer.
    membership_of(team.developer, team.project).role = Role.VIEWER
    db.session.commit()

    response = client.post(form["hx-post"], headers=from_dialog)
    assert response.status_code == 403
    assert response.headers["HX-Retarget"] == "#dialog-content"
    assert response.headers["HX-Reswap"] == "innerHTML"
    shown = page(response)
    assert text_of(shown.find(id="dialog-title")) == "Not allowed"
    assert text_of(shown.find(attrs={"data-error-message": True})) == (
        "Your role in Shop is Viewer. Only developers or owners can create, rotate and "
        "revoke tokens. Nothing was changed. If you need to, ask the owner of Shop for "
        "another role: Olivia Owner."
    )
    assert text_of(shown.find("button", attrs={"data-close-dialog": True})) == "Close"
    assert shown.find(id="flash") is None and shown.find("h1") is None
    db.session.refresh(token)
    assert token.revoked_at is None


def test_an_error_from_the_page_is_shown_in_the_flash_region(client, team, sign_in):
    sign_in(team.owner)
    response = client.post(
        "/projects/shop/members/999999/role", data={"role": "viewer"}, headers=HTMX
    )
    assert response.status_code == 404
    assert response.headers["HX-Retarget"] == "#flash"
    assert response.headers["HX-Reswap"] == "outerHTML"
    flash = page(response).find(id="flash")
    assert not flash.has_attr("hx-swap-oob"), "the flash region is the target itself"
    assert text_of(flash.find(attrs={"data-error-message": True})).startswith(
        "There is nothing here, or it is not shared with you."
    )


def test_a_refused_role_change_puts_the_row_back_and_says_why(client, team, sign_in):
    sign_in(team.owner)
    mine = membership_of(team.owner, team.project)
    response = client.post(
        f"/projects/shop/members/{mine.id}/role", data={"role": "viewer"}, headers=HTMX
    )
    assert response.status_code == 409
    assert response.headers["HX-Retarget"] == f"#member-{mine.id}"
    assert response.headers["HX-Reswap"] == "outerHTML"
    shown = page(response)
    assert text_of(shown.find("tr", id=f"member-{mine.id}").select_one(".badge")) == "Owner"
    assert "always keeps at least one owner" in text_of(shown.find(id="flash"))


def test_a_refused_removal_from_the_dialog_is_answered_in_the_dialog(client, team, sign_in):
    sign_in(team.owner)
    mine = membership_of(team.owner, team.project)
    response = client.post(
        f"/projects/shop/members/{mine.id}/remove", headers=HTMX | dialog_header(client)
    )
    assert response.status_code == 409
    assert response.headers["HX-Retarget"] == "#dialog-content"
    message = text_of(page(response).find(attrs={"data-error-message": True}))
    assert "always keeps at least one owner" in message


def test_a_change_made_in_the_dialog_closes_it_once_swapped(client, team, sign_in):
    token, _ = issue_token(team.project, "Shop backend")
    sign_in(team.owner)
    response = client.post(
        f"/projects/shop/tokens/{token.id}/revoke", headers=HTMX | dialog_header(client)
    )
    assert response.status_code == 200
    assert response.headers["HX-Trigger-After-Swap"] == "close-dialog"
    # A plain form POST is redirected, with nothing for htmx.
    token, _ = issue_token(team.project, "Shop frontend")
    response = client.post(f"/projects/shop/tokens/{token.id}/revoke")
    assert response.status_code == 302
    assert "HX-Trigger-After-Swap" not in response.headers
