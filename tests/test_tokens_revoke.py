"""Revoking a token: a confirm that says what breaks, then at once, and only once."""

from datetime import UTC, datetime

import pytest
import time_machine

from flagpal_dash.extensions import db

from .support import HTMX, issue_token, page, text_of


def revoke_url(token) -> str:
    return f"/projects/shop/tokens/{token.id}/revoke"


def test_revoke_opens_a_confirm_that_names_the_token_and_what_breaks(client, team, sign_in):
    token, _ = issue_token(team.project, "Shop backend")
    sign_in(team.developer)
    row = page(client.get("/projects/shop/tokens")).select_one(f"#token-{token.id}")
    [link] = [a for a in row.find_all("a") if text_of(a) == "Revoke Shop backend"]
    assert link["hx-get"] == revoke_url(token) and link["hx-target"] == "#dialog-content"

    response = client.get(link["hx-get"], headers=HTMX)
    assert response.status_code == 200
    dialog = page(response)
    assert text_of(dialog.find(id="dialog-title")) == "Revoke “Shop backend”?"
    assert "Apps using this token stop working at once." in text_of(dialog.select_one(".warning"))
    form = dialog.find("form")
    assert form["hx-post"] == revoke_url(token)
    assert form["hx-target"] == f"#token-{token.id}" and form["hx-swap"] == "outerHTML"
    assert dialog.find("button", string="Cancel").has_attr("data-close-dialog")
    assert text_of(dialog.find("button", type="submit")) == "Revoke token"
    db.session.refresh(token)
    assert token.revoked_at is None, "opening the confirm revokes nothing"


def test_confirming_revokes_and_the_row_stays_as_revoked(client, team, sign_in):
    token, _ = issue_token(team.project, "Shop backend")
    with time_machine.travel(datetime(2026, 7, 1, 8, 0, tzinfo=UTC), tick=False):
        sign_in(team.owner)
        response = client.post(revoke_url(token), headers=HTMX)
        listed = page(client.get("/projects/shop/tokens")).select_one(f"#token-{token.id}")
    assert response.status_code == 200
    fragment = page(response)
    row = fragment.find("tr")
    assert row["id"] == f"token-{token.id}"
    assert text_of(row.select_one(".badge")) == "Revoked"
    assert "Revoked just now by Olivia Owner" in text_of(row)
    assert row.find("td").find("time")["title"] == "1 Jul 2026, 08:00 UTC"
    assert row.find("a") is None
    flash = fragment.find(id="flash")
    assert flash["hx-swap-oob"] == "true"
    assert text_of(flash) == '"Shop backend" is revoked. Apps using it can no longer call the API.'

    db.session.refresh(token)
    assert token.revoked_at == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    assert token.revoked_by == team.owner
    assert text_of(listed.select_one(".badge")) == "Revoked"


def test_revoking_again_changes_nothing_and_says_so(client, team, sign_in):
    first = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    token, _ = issue_token(team.project, "Shop backend", revoked_at=first, revoked_by=team.owner)
    sign_in(team.developer)
    response = client.post(revoke_url(token), headers=HTMX)
    assert response.status_code == 200
    assert (
        text_of(page(response).find(id="flash"))
        == '"Shop backend" was already revoked; nothing changed.'
    )
    db.session.refresh(token)
    assert token.revoked_at == first and token.revoked_by == team.owner

    confirm = page(client.get(revoke_url(token), headers=HTMX))
    assert text_of(confirm.find(id="dialog-title")) == "“Shop backend” is already revoked"
    assert confirm.find("form") is None


def test_without_javascript_revoke_is_a_page_a_post_and_a_redirect(client, team, sign_in):
    token, _ = issue_token(team.project, "Shop backend")
    sign_in(team.developer)
    confirm = client.get(revoke_url(token))
    assert confirm.status_code == 200
    form = page(confirm).find("form", action=revoke_url(token))
    assert form["method"] == "post" and not form.has_attr("hx-post")
    assert page(confirm).find("a", string="Cancel")["href"] == "/projects/shop/tokens"

    response = client.post(revoke_url(token))
    assert response.status_code == 302
    assert response.headers["Location"] == "/projects/shop/tokens"
    listed = page(client.get("/projects/shop/tokens"))
    assert (
        text_of(listed.find(id="flash"))
        == '"Shop backend" is revoked. Apps using it can no longer call the API.'
    )
    assert text_of(listed.select_one(f"#token-{token.id} .badge")) == "Revoked"


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_token_of_another_project_is_404_even_for_its_owner(client, team, sign_in, method):
    theirs, _ = issue_token(team.other_project, "Theirs")
    sign_in(team.owner)
    response = getattr(client, method)(f"/projects/shop/tokens/{theirs.id}/revoke")
    assert response.status_code == 404
    db.session.refresh(theirs)
    assert theirs.revoked_at is None


@pytest.mark.parametrize("token_id", ["999999", "abc", "-1", "1.5", "9" * 40])
def test_unknown_or_malformed_token_ids_are_404(client, team, sign_in, token_id):
    sign_in(team.owner)
    assert client.post(f"/projects/shop/tokens/{token_id}/revoke").status_code == 404
