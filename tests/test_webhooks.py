"""Webhooks end to end: owners add one on the Webhooks page and copy its secret; every
token and member event then reaches a real HTTP receiver on loopback, once, signed so
the receiver can check it with that secret; Slack's format; the page's other buttons.

The receiver is on loopback, which webhooks refuse unless the operator allows private
addresses: these tests allow them (``private``); tests/test_webhook_addresses.py
proves the refusals with the setting off."""

import hashlib
import hmac
import json
import secrets
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from flagpal_dash.core import automatic_revocations, jobs, projects, tokens, webhooks
from flagpal_dash.deliverer import webhook_settings
from flagpal_dash.extensions import db
from flagpal_dash.models import AuditEvent, Webhook, WebhookDelivery, utcnow
from flagpal_dash.permissions import Role

from .support import add_user, issue_token, page, snapshot, text_of

PAGE = "/projects/shop/settings/webhooks"


@pytest.fixture
def private(app):
    """The operator allows webhooks to private addresses (the receiver is on loopback)."""
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    return app


def deliver_due(app, now=None) -> int:
    return webhooks.deliver_due(now or utcnow(), webhook_settings(app.config))


def add_webhook(client, url: str, events=None, format: str = "json") -> tuple[int, str]:
    """Add a webhook through the page, as an owner does; its id and the secret shown."""
    data = {"url": url, "format": format, "submission": secrets.token_urlsafe(16)}
    if events is None:
        data["all_events"] = "y"
    else:
        data["events"] = events
    response = client.post(PAGE, data=data)
    assert response.status_code == 201, response.text[:1000]
    assert response.headers["Cache-Control"] == "no-store"
    secret = page(response).find("input", id="webhook-secret")["value"]
    webhook_id = db.session.scalar(select(Webhook.id).order_by(Webhook.id.desc()))
    return webhook_id, secret


def verified(request, secret: str) -> dict:
    """The body of a delivery whose signature checks out with ``secret``, as a receiver
    checks it."""
    timestamp = request.headers["x-flagpal-timestamp"]
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(request.headers["x-flagpal-signature"], f"sha256={expected}")
    return json.loads(request.body)


def test_every_event_reaches_the_webhook_once_signed_with_the_secret_shown(
    app, private, client, team, sign_in, receiver
):
    sign_in(team.owner)
    _, secret = add_webhook(client, receiver.url)
    now = utcnow()
    owner = team.owner
    token, value = tokens.issue(team.project, "Shop backend", {"read"}, None, actor=owner, now=now)
    new, new_value = tokens.rotate(token, timedelta(hours=1), None, actor=owner, now=now)
    tokens.revoke(new, actor=owner, now=now)
    leaked, leaked_value = tokens.issue(team.project, "Leaky", {"read"}, None, actor=owner, now=now)
    automatic_revocations.revoke_as_leaked(
        leaked, "https://github.com/x/y", "github", "flagpal_token", now
    )
    unused, unused_value = tokens.issue(
        team.project, "Unused", {"read"}, None, actor=owner, now=now
    )
    automatic_revocations.revoke_as_unused(unused, 30, now, actor_label="job prune-tokens")
    expiring, expiring_value = tokens.issue(
        team.project, "Expiring", {"read"}, now + timedelta(days=3), actor=owner, now=now
    )
    newcomer = add_user("new@example.com", "Nina Newcomer")
    membership = projects.add_member(team.project, newcomer, Role.VIEWER, actor=owner)
    db.session.commit()
    jobs.warn_of_expiring_tokens(now, jobs.JobSettings(), None)
    projects.change_role(membership, Role.DEVELOPER, actor=owner)
    projects.remove_member(membership, actor=owner)
    db.session.commit()

    attempted = deliver_due(app)

    arrived = receiver.wait_for(13)
    bodies = [verified(request, secret) for request in arrived]
    assert [body["type"] for body in bodies] == [
        "token.created",
        "token.created",  # the rotation's new token
        "token.rotated",
        "token.revoked",
        "token.created",
        "token.revoked_as_leaked",
        "token.created",
        "token.pruned",
        "token.created",
        "member.added",
        "token.expiring",
        "member.role_changed",
        "member.removed",
    ]
    assert attempted == len(arrived) == 13
    assert deliver_due(app) == 0  # each once
    values = [value, new_value, leaked_value, unused_value, expiring_value]
    for request in arrived:
        assert not any(secret_value.encode() in request.body for secret_value in values)
        assert request.headers["x-flagpal-event"] == json.loads(request.body)["type"]
        assert request.headers["user-agent"].startswith("FlagPal-Dash/")
        assert request.headers["content-type"] == "application/json"
    created = bodies[0]
    assert created["project"] == {"slug": "shop", "name": "Shop"}
    assert created["actor"] == owner.label
    assert created["time"].endswith("Z")
    assert created["token"] == {
        "id": token.id,
        "name": "Shop backend",
        "hint": f"flagpal_…{value[-4:]}",
    }
    assert created["data"]["abilities"] == ["read"]
    assert bodies[2]["token"]["id"] == token.id
    assert bodies[2]["data"]["replaced_by"] == tokens.label(new)
    assert bodies[5]["data"]["url"] == "https://github.com/x/y"
    assert bodies[5]["actor"] == "leak report"
    assert bodies[10]["token"]["id"] == expiring.id
    assert bodies[10]["data"]["expires_at"] == expiring.expires_at.isoformat()
    assert bodies[9]["member"] == {
        "name": "Nina Newcomer",
        "email": "new@example.com",
        "role": "viewer",
    }
    assert bodies[11]["member"]["role"] == "developer"
    assert bodies[11]["data"]["previous_role"] == "viewer"
    assert "token" not in bodies[9]
    assert len({body["id"] for body in bodies}) == 13


def test_only_the_chosen_events_and_only_enabled_webhooks_get_them(
    app, private, client, team, sign_in, receiver
):
    sign_in(team.owner)
    add_webhook(client, receiver.url, events=["token.revoked"])
    token, _ = issue_token(team.project, "App")
    tokens.revoke(token, actor=team.owner, now=utcnow())
    db.session.commit()
    deliver_due(app)
    [request] = receiver.wait_for(1)
    assert json.loads(request.body)["type"] == "token.revoked"

    [webhook] = db.session.scalars(select(Webhook))
    webhooks.change(webhook, None, "json", False, actor=team.owner, now=utcnow())
    db.session.commit()
    issue_token(team.project, "Another")
    assert db.session.scalar(select(db.func.count(WebhookDelivery.id))) == 1


def test_an_action_rolled_back_sends_nothing(app, private, client, team, sign_in, receiver):
    sign_in(team.owner)
    add_webhook(client, receiver.url)
    tokens.issue(team.project, "Never", {"read"}, None, actor=team.owner, now=utcnow())
    db.session.flush()
    db.session.rollback()
    assert deliver_due(app) == 0
    assert receiver.requests == []


def test_slack_format_is_one_sentence_and_still_signed(
    app, private, client, team, sign_in, receiver
):
    sign_in(team.owner)
    _, secret = add_webhook(client, receiver.url, format="slack")
    token, value = tokens.issue(
        team.project, "Shop <app>", {"read"}, None, actor=team.owner, now=utcnow()
    )
    db.session.commit()
    deliver_due(app)
    [request] = receiver.wait_for(1)
    assert verified(request, secret) == {
        "text": "Olivia Owner &lt;olivia@example.com&gt; created the token “Shop &lt;app&gt;” "
        f"(flagpal_…{value[-4:]}) in Shop."
    }


def test_the_secret_is_shown_once_and_kept_nowhere(
    app, private, client, team, sign_in, caplog, receiver
):
    sign_in(team.owner)
    data = {"url": receiver.url, "format": "json", "all_events": "y", "submission": "s" * 22}
    first = client.post(PAGE, data=data)
    assert first.status_code == 201
    secret = page(first).find("input", id="webhook-secret")["value"]
    assert secret.startswith("whsec_") and len(secret) == 70

    again = client.post(PAGE, data=data)  # a reload of the answer

    assert again.status_code == 303
    landing = client.get(again.headers["Location"])
    assert landing.status_code == 200
    assert secret not in landing.text
    assert "cannot be shown again" in text_of(page(landing).find("main") or page(landing))
    assert db.session.scalar(select(db.func.count(Webhook.id))) == 1
    webhook_page = client.get(f"{PAGE}/{db.session.scalar(select(Webhook.id))}")
    assert secret not in webhook_page.text
    issue_token(team.project, "App")
    deliver_due(app)
    assert secret not in repr(snapshot())
    assert secret not in caplog.text


def test_make_a_new_secret_signs_with_the_new_one(app, private, client, team, sign_in, receiver):
    sign_in(team.owner)
    webhook_id, old = add_webhook(client, receiver.url)
    response = client.post(f"{PAGE}/{webhook_id}/secret", data={"submission": "n" * 22})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    new = page(response).find("input", id="webhook-secret")["value"]
    assert new != old
    issue_token(team.project, "App")
    deliver_due(app)
    [request] = receiver.wait_for(1)
    verified(request, new)
    kinds = db.session.scalars(
        select(AuditEvent.kind).where(AuditEvent.kind.like("webhook.%")).order_by(AuditEvent.id)
    )
    assert list(kinds) == ["webhook.created", "webhook.changed"]


def test_send_test_delivers_at_once_and_the_page_lists_it(
    app, private, client, team, sign_in, receiver
):
    sign_in(team.owner)
    webhook_id, secret = add_webhook(client, receiver.url)

    response = client.post(f"{PAGE}/{webhook_id}/test")

    assert response.status_code == 302
    [request] = receiver.wait_for(1)
    body = verified(request, secret)
    assert body["type"] == "webhook.test"
    shown = page(client.get(response.headers["Location"]))
    assert "Test event delivered: the webhook answered 200." in text_of(shown.find(id="flash"))
    [row] = shown.select("tr.delivery")
    assert text_of(row.select_one(".delivery-status")) == "Delivered"
    assert text_of(row.select_one(".delivery-answer")) == "200"
    listed = page(client.get(PAGE))
    assert text_of(listed.select_one(f"#webhook-{webhook_id} .last-delivery")).startswith(
        "Delivered (200)"
    )


def test_edit_and_delete(app, private, client, team, sign_in, receiver):
    sign_in(team.owner)
    webhook_id, _ = add_webhook(client, receiver.url)
    saved = client.post(
        f"{PAGE}/{webhook_id}", data={"events": ["member.added"], "format": "slack"}
    )
    assert saved.status_code == 302
    webhook = db.session.get(Webhook, webhook_id)
    assert (webhook.events, webhook.format, webhook.enabled) == ("member.added", "slack", False)
    none = client.post(f"{PAGE}/{webhook_id}", data={"format": "json", "enabled": "y"})
    assert none.status_code == 422
    assert "Choose at least one event" in text_of(page(none).select_one(".field-errors"))
    assert client.get(f"{PAGE}/{webhook_id}/delete").status_code == 200
    assert client.post(f"{PAGE}/{webhook_id}/delete").status_code == 302
    assert db.session.scalar(select(db.func.count(Webhook.id))) == 0


def test_a_bad_url_is_a_form_error_not_a_500(app, client, team, sign_in):
    sign_in(team.owner)
    for url, words in [
        ("", "Enter the address"),
        ("ftp://example.com/x", "starts with https://"),
        ("https://user:pw@example.com/x", "user name or password"),
        ("https://example.com:99999/x", "port"),
        ("https://" + "a" * 2100, "at most 2000"),
    ]:
        response = client.post(PAGE, data={"url": url, "format": "json", "all_events": "y"})
        assert response.status_code == 422, url
        assert words in text_of(page(response).select_one(".field-errors")), url
    response = client.post(
        PAGE, data={"url": "https://93.184.215.14/", "format": "xml", "all_events": "y"}
    )
    assert response.status_code == 422
    [error] = page(response).select(".field-errors")
    assert error["id"] == "format-errors"
    assert text_of(error) == "Choose one of the listed formats."
    assert db.session.scalar(select(db.func.count(Webhook.id))) == 0


def readme_receiver() -> str:
    """The receiver example in the README's Webhooks section, as printed there."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("### Webhooks", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_receiver_accepts_a_real_delivery_and_refuses_a_forged_one(
    app, private, client, team, sign_in, receiver
):
    sign_in(team.owner)
    _, secret = add_webhook(client, receiver.url)
    issue_token(team.project, "App")
    deliver_due(app)
    [request] = receiver.wait_for(1)
    example: dict = {}
    exec(readme_receiver(), example)
    example["SECRET"] = secret.encode()
    headers = {
        "X-FlagPal-Timestamp": request.headers["x-flagpal-timestamp"],
        "X-FlagPal-Signature": request.headers["x-flagpal-signature"],
    }

    assert example["verify"](headers, request.body)["type"] == "token.created"
    with pytest.raises(ValueError, match="not signed"):
        example["verify"](headers, request.body.replace(b"App", b"Ape"))
    with pytest.raises(ValueError, match="not signed"):
        example["SECRET"] = b"whsec_" + b"0" * 64
        example["verify"](headers, request.body)
    example["SECRET"] = secret.encode()
    old = str(int(headers["X-FlagPal-Timestamp"]) - 600)
    replayed = {
        "X-FlagPal-Timestamp": old,
        "X-FlagPal-Signature": webhooks.signature(secret, int(old), request.body),
    }
    with pytest.raises(ValueError, match="too old"):
        example["verify"](replayed, request.body)


def test_every_box_ticked_is_a_list_and_only_all_events_takes_kinds_added_later(
    app, private, client, team, sign_in, receiver
):
    sign_in(team.owner)
    add_webhook(client, receiver.url, events=list(webhooks.EVENT_TYPES))
    add_webhook(client, receiver.url)
    listed, everything = db.session.scalars(select(Webhook.events).order_by(Webhook.id))
    assert listed.split() == list(webhooks.EVENT_TYPES)
    assert everything == webhooks.ALL_EVENTS
