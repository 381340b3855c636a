"""Rotating a token: a replacement with the same name and abilities, shown once, while
the old token keeps working for the chosen grace period, and not a moment longer."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from flagpal_dash.core import tokens
from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, AuditEvent

from .support import HTMX, flush_usage, issue_token, page, text_of
from .test_api_token import bearer

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def rotate_url(token) -> str:
    return f"/projects/shop/tokens/{token.id}/rotate"


def api_status(client, value: str) -> tuple[int, str | None]:
    response = client.get("/api/v1/token", headers=bearer(value))
    errors = response.get_json().get("errors") if response.status_code != 200 else None
    return response.status_code, errors[0]["code"] if errors else None


def tokens_named(name: str) -> list[ApiToken]:
    db.session.expire_all()
    return list(
        db.session.scalars(db.select(ApiToken).where(ApiToken.name == name).order_by(ApiToken.id))
    )


def checked(form_page, name: str) -> str:
    return form_page.find("input", attrs={"name": name}, checked=True)["value"]


def test_the_dialog_offers_the_same_period_and_a_grace_period(client, team, sign_in):
    with time_machine.travel(NOW, tick=False):
        token, _ = issue_token(team.project, "Shop backend", abilities=frozenset({"read", "write"}))
        token.expires_at = NOW + timedelta(days=90)
        db.session.commit()
        sign_in(team.developer)
        row = page(client.get("/projects/shop/tokens")).select_one(f"#token-{token.id}")
        [link] = [a for a in row.find_all("a") if text_of(a) == "Rotate Shop backend"]
        assert link["hx-get"] == rotate_url(token)
        response = client.get(link["hx-get"], headers=HTMX)
    assert response.status_code == 200
    dialog = page(response)
    assert text_of(dialog.find(id="dialog-title")) == "Rotate “Shop backend”"
    assert "same name and abilities (Read, Write)" in text_of(dialog)
    graces = [text_of(label) for label in dialog.select("fieldset")[0].find_all("label")]
    assert graces == ["Immediately", "In 1 hour", "In 24 hours", "In 7 days"]
    assert checked(dialog, "grace") == "24h"
    assert checked(dialog, "expiration") == "90", "the old token's period"
    assert dialog.find("form")["hx-post"] == rotate_url(token)
    assert text_of(dialog.select_one(".usage-warning")) == "Never used."


@pytest.mark.parametrize(
    ("lifetime", "expected", "custom_date"),
    [(None, "never", None), (timedelta(days=7), "7", None), (timedelta(days=45), "custom", "")],
)
def test_the_default_expiry_is_the_old_token_s_period(
    client, team, sign_in, lifetime, expected, custom_date
):
    with time_machine.travel(NOW, tick=False):
        token, _ = issue_token(team.project)
        token.expires_at = NOW + lifetime if lifetime else None
        db.session.commit()
        sign_in(team.owner)
        dialog = page(client.get(rotate_url(token), headers=HTMX))
    assert checked(dialog, "expiration") == expected
    if custom_date is not None:
        assert dialog.find("input", attrs={"name": "custom_date"})["value"] == "2026-07-16"


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_rotating_shows_the_new_value_once_and_the_old_keeps_working_for_the_grace(
    client, team, sign_in, htmx
):
    with time_machine.travel(NOW, tick=False):
        old, old_value = issue_token(team.project, "Shop backend", abilities=frozenset({"read"}))
        sign_in(team.developer)
        response = client.post(
            rotate_url(old),
            data={"grace": "24h", "expiration": "30"},
            headers=HTMX if htmx else {},
        )
        assert response.status_code == 201
        assert response.headers["Cache-Control"] == "no-store"
        shown = page(response)
        assert text_of(shown.find(id="dialog-title")) == "Token rotated"
        new_value = shown.find(id="new-token-value")["value"]
        stops = shown.select_one(".warning time")
        assert (text_of(stops), stops["title"]) == ("in 24 hours", "2 Jun 2026, 12:00 UTC")
        if htmx:
            rows = shown.select("#token-list tbody tr")
            assert [text_of(row.select_one(".badge")) for row in rows] == ["Active", "Rotated"]

        listed = page(client.get("/projects/shop/tokens"))
        assert new_value not in listed.decode()
        old_row = listed.select_one(f"#token-{old.id}")
        assert "Rotated stops working in 24 hours" in text_of(old_row.find_all("td")[0])
        assert not [a for a in old_row.find_all("a") if "Rotate" in text_of(a)]

    old, new = tokens_named("Shop backend")
    assert (new.abilities, new.created_by) == (frozenset({"read"}), team.developer)
    assert new.expires_at == NOW + timedelta(days=30)
    assert old.replaced_by == new and old.rotated_at == NOW
    assert old.expires_at == NOW + timedelta(hours=24) and old.revoked_at is None

    with time_machine.travel(NOW + timedelta(hours=24) - timedelta(seconds=1), tick=False):
        assert api_status(client, old_value) == (200, None), "inside the grace period"
        assert api_status(client, new_value) == (200, None)
    with time_machine.travel(NOW + timedelta(hours=24), tick=False):
        assert api_status(client, old_value) == (401, "token_expired"), "and not a moment more"
        assert api_status(client, new_value) == (200, None)


def test_rotating_immediately_revokes_the_old_token_at_once(client, team, sign_in):
    old, old_value = issue_token(team.project, "Shop backend")
    sign_in(team.owner)
    response = client.post(rotate_url(old), data={"grace": "now", "expiration": "never"})
    assert response.status_code == 201
    assert "has stopped working" in text_of(page(response).select_one(".warning"))
    assert api_status(client, old_value) == (401, "token_revoked")
    old, new = tokens_named("Shop backend")
    assert old.revoked_by == team.owner and new.expires_at is None


def test_the_grace_never_extends_the_old_token(client, team, sign_in):
    with time_machine.travel(NOW, tick=False):
        old, _ = issue_token(team.project, "Shop backend", expires_at=NOW + timedelta(hours=2))
        sign_in(team.owner)
        client.post(rotate_url(old), data={"grace": "7d", "expiration": "7"})
    old, _ = tokens_named("Shop backend")
    assert old.expires_at == NOW + timedelta(hours=2)


def test_the_audit_trail_links_old_and_new(client, team, sign_in):
    with time_machine.travel(NOW, tick=False):
        old, _ = issue_token(team.project, "Shop backend")
        sign_in(team.developer)
        client.post(rotate_url(old), data={"grace": "1h", "expiration": "30"})
    old, new = tokens_named("Shop backend")
    events = {
        event.kind: event
        for event in db.session.scalars(
            # In order, so the later token.created (the replacement's) is the one kept.
            db.select(AuditEvent).where(AuditEvent.project_id.isnot(None)).order_by(AuditEvent.id)
        )
    }
    rotated, created = events["token.rotated"], events["token.created"]
    assert rotated.target == tokens.label(old) and created.target == tokens.label(new)
    assert rotated.details == {
        "replaced_by": tokens.label(new),
        "stops_working_at": (NOW + timedelta(hours=1)).isoformat(),
    }
    assert created.details["replaces"] == tokens.label(old)
    assert rotated.actor == created.actor == team.developer.label


@pytest.mark.parametrize("state", ["revoked", "expired", "rotated"])
def test_only_an_active_token_that_was_not_rotated_can_be_rotated(client, team, sign_in, state):
    token, _ = issue_token(team.project, "Shop backend")
    if state == "revoked":
        token.revoked_at = datetime(2026, 1, 1, tzinfo=UTC)
    elif state == "expired":
        token.expires_at = datetime(2026, 1, 1, tzinfo=UTC)
    db.session.commit()
    sign_in(team.owner)
    if state == "rotated":
        client.post(rotate_url(token), data={"grace": "7d", "expiration": "30"})
    before = len(tokens_named("Shop backend"))

    response = client.post(
        rotate_url(token), data={"grace": "24h", "expiration": "30"}, headers=HTMX
    )

    assert response.status_code == 409
    message = text_of(page(response).select_one(".form-errors"))
    expected = {
        "revoked": '"Shop backend" is revoked, so there is nothing to rotate.',
        "expired": '"Shop backend" is expired, so there is nothing to rotate.',
        "rotated": '"Shop backend" was already rotated; its replacement is',
    }[state]
    assert expected in message
    assert page(response).find(id="new-token-value") is None
    assert len(tokens_named("Shop backend")) == before, "nothing created"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"grace": "2h"}, "Choose when the old token stops working from the list."),
        ({"grace": ""}, "Choose when the old token stops working from the list."),
        ({"expiration": "365"}, "Choose one of the expiration options."),
        (
            {"expiration": "custom", "custom_date": "2020-01-01"},
            "Choose 2 Jun 2026 or later (a date after today, UTC).",
        ),
    ],
)
def test_bad_choices_are_refused_and_change_nothing(client, team, sign_in, data, message):
    with time_machine.travel(NOW, tick=False):
        token, value = issue_token(team.project, "Shop backend")
        sign_in(team.developer)
        response = client.post(
            rotate_url(token), data={"grace": "24h", "expiration": "30"} | data, headers=HTMX
        )
    assert response.status_code == 422
    assert [text_of(li) for li in page(response).select(".field-errors li")] == [message]
    assert len(tokens_named("Shop backend")) == 1
    assert api_status(client, value) == (200, None)


def test_the_project_s_maximum_lifetime_holds_for_the_replacement(client, team, sign_in):
    token, _ = issue_token(team.project, "Shop backend")  # no expiry, made before the policy
    team.project.max_token_lifetime_days = 30
    db.session.commit()
    sign_in(team.developer)
    dialog = page(client.get(rotate_url(token), headers=HTMX))
    offered = [option["value"] for option in dialog.find_all("input", attrs={"name": "expiration"})]
    assert "never" not in offered and "60" not in offered
    assert checked(dialog, "expiration") == "30", "the longest allowed, not the old 'never'"

    forged = client.post(rotate_url(token), data={"grace": "24h", "expiration": "never"})
    assert forged.status_code == 422
    assert len(tokens_named("Shop backend")) == 1
    allowed = client.post(rotate_url(token), data={"grace": "24h", "expiration": "30"})
    assert allowed.status_code == 201


def test_the_dialog_says_how_much_the_token_is_used_and_what_to_do(client, team, sign_in):
    token, value = issue_token(team.project, "Shop backend")
    for _ in range(3):
        assert api_status(client, value) == (200, None)
    flush_usage(client.application)
    sign_in(team.developer)
    dialog = page(client.get(rotate_url(token), headers=HTMX))
    assert text_of(dialog.select_one(".usage-warning")) == (
        "Used 3 times in the last 24 hours, last used just now — update those apps before "
        "the old token stops working."
    )


def test_another_project_s_token_cannot_be_rotated_by_id(client, team, sign_in):
    theirs, value = issue_token(team.other_project, "Their backend")
    sign_in(team.owner)
    assert client.get(rotate_url(theirs)).status_code == 404
    response = client.post(rotate_url(theirs), data={"grace": "now", "expiration": "30"})
    assert response.status_code == 404
    assert len(tokens_named("Their backend")) == 1
    assert api_status(client, value) == (200, None)
