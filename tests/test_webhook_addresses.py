"""No SSRF: with FLAGPAL_WEBHOOK_ALLOW_PRIVATE off (the default), a webhook URL leading
to a private, loopback, link-local, metadata or unspecified address is refused when an
owner saves it (a form error) and again when a delivery is sent (DNS can change), and
the connection goes to the address that was checked, never to a second DNS answer."""

import pytest
from sqlalchemy import func, select

from flagpal_dash import addresses
from flagpal_dash.core import webhooks
from flagpal_dash.deliverer import webhook_settings
from flagpal_dash.extensions import db
from flagpal_dash.models import Webhook, WebhookDelivery, utcnow

from .support import issue_token, page, text_of

PAGE = "/projects/shop/settings/webhooks"

REFUSED = [
    ("https://10.1.2.3/hook", "a private network address"),
    ("https://172.16.0.1/hook", "a private network address"),
    ("https://192.168.1.20/hook", "a private network address"),
    ("https://127.0.0.1/hook", "a loopback address"),
    ("https://127.8.9.10:8443/hook", "a loopback address"),
    ("https://[::1]/hook", "a loopback address"),
    ("https://169.254.169.254/latest/meta-data/", "a link-local address"),
    ("https://[fd00::1]/hook", "a private network address"),
    ("https://[fc00::1]/hook", "a private network address"),
    ("https://[fd00:ec2::254]/hook", "a private network address"),
    ("https://0.0.0.0/hook", "an unspecified address"),
    ("https://[::ffff:127.0.0.1]/hook", "a loopback address"),
    ("https://[::ffff:169.254.169.254]/hook", "a link-local address"),
    ("https://100.64.0.1/hook", "a private network address"),
    ("https://localhost/hook", "a loopback address"),
]


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_a_private_address_is_refused_when_saved(client, team, sign_in, url, why):
    sign_in(team.owner)
    response = client.post(PAGE, data={"url": url, "format": "json", "all_events": "y"})
    assert response.status_code == 422
    error = text_of(page(response).select_one(".field-errors"))
    assert why in error
    assert "FLAGPAL_WEBHOOK_ALLOW_PRIVATE" in error
    assert db.session.scalar(select(func.count(Webhook.id))) == 0


@pytest.mark.parametrize(
    "url", ["https://93.184.215.14/hook", "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/x"]
)
def test_a_public_address_is_accepted(url):
    target = addresses.resolve(url, allow_private=False)
    assert target.address == url.split("//")[1].split("/")[0].strip("[]")


def test_plain_http_is_refused_unless_private_addresses_are_allowed():
    with pytest.raises(addresses.AddressRefused, match="must start with https://"):
        addresses.resolve("http://93.184.215.14/hook", allow_private=False)
    assert addresses.resolve("http://127.0.0.1:8080/x", allow_private=True).port == 8080


def test_a_name_with_any_private_address_is_refused(monkeypatch):
    monkeypatch.setattr(
        addresses, "system_resolver", lambda host, port: ["93.184.215.14", "10.0.0.5"]
    )
    with pytest.raises(addresses.AddressRefused, match=r"hooks.example.com \(10.0.0.5\)"):
        addresses.resolve("https://hooks.example.com/x", allow_private=False)


def test_a_name_that_does_not_resolve_is_refused(monkeypatch):
    def no_answer(host, port):
        raise OSError("Name or service not known")

    monkeypatch.setattr(addresses, "system_resolver", no_answer)
    with pytest.raises(addresses.AddressRefused, match="could not be found"):
        addresses.resolve("https://nowhere.example/x", allow_private=False)


def test_dns_rebinding_between_save_and_send_is_refused_at_send(
    app, client, team, sign_in, receiver, monkeypatch
):
    """Saved while the name pointed to a public address; by the time of sending it
    points to this machine, where the receiver listens: nothing reaches it."""
    port = receiver.server_address[1]
    answers = {"hooks.example.com": ["93.184.215.14"]}
    monkeypatch.setattr(addresses, "system_resolver", lambda host, port: answers[host])
    sign_in(team.owner)
    saved = client.post(
        PAGE,
        data={"url": f"https://hooks.example.com:{port}/x", "format": "json", "all_events": "y"},
    )
    assert saved.status_code == 201
    answers["hooks.example.com"] = ["127.0.0.1"]
    issue_token(team.project, "App")

    webhooks.deliver_due(utcnow(), webhook_settings(app.config))

    assert receiver.requests == []
    delivery = db.session.scalars(select(WebhookDelivery)).one()
    assert delivery.status == "pending"
    assert delivery.error.startswith(
        "not sent: hooks.example.com (127.0.0.1) is a loopback address"
    )


def test_the_connection_goes_to_the_address_checked_with_the_name_as_host(
    app, team, receiver, monkeypatch
):
    """A name only the stand-in resolver knows: the request still arrives, so it was sent
    to the checked address, not looked up again; the Host header keeps the name."""
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    port = receiver.server_address[1]
    monkeypatch.setattr(addresses, "system_resolver", lambda host, port: ["127.0.0.1"])
    webhooks.create(
        team.project,
        f"http://hooks.invalid:{port}/x?a=1",
        None,
        "json",
        actor=None,
        now=utcnow(),
        settings=webhook_settings(app.config),
    )
    db.session.commit()
    issue_token(team.project, "App")
    webhooks.deliver_due(utcnow(), webhook_settings(app.config))
    [request] = receiver.requests
    assert request.headers["host"] == f"hooks.invalid:{port}"
    assert request.path == "/x?a=1"
