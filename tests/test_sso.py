"""Single sign-on with OpenID Connect (issue 19), driven over HTTP against real providers
on loopback (tests/oidc_provider.py): the dashboard's client discovers the provider,
sends the browser there, and exchanges the code for an ID token it checks.

Identity is (issuer, subject); an existing account is joined only by a verified
address; new accounts only for the allowed domains (or an invited address); every
refusal is a page that says what to do, and is in the audit log.
"""

import logging
from urllib.parse import urlsplit

import pytest
import requests
from flask import session
from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from flagpal_dash import config, redaction, sign_in_settings
from flagpal_dash.auth.sso import NEXT_KEY
from flagpal_dash.core import accounts, invitations
from flagpal_dash.core.projects import add_member, membership_of
from flagpal_dash.extensions import db
from flagpal_dash.models import AuditEvent, AuditKind, SsoIdentity, User, utcnow
from flagpal_dash.permissions import Role

from .conftest import make_app
from .oidc_provider import (
    CLIENT_ID,
    EXPIRED,
    IssuingProvider,
    MockProvider,
    callback_path,
    query_of,
)
from .support import PASSWORD, add_user, page, snapshot, text_of

ADA = {"email": "ada@example.com", "email_verified": True, "name": "Ada Lovelace"}


@pytest.fixture
def provider():
    server = MockProvider()
    yield server
    server.stop()


@pytest.fixture
def apps(app, database_url):
    """Apps on the test database with single sign-on set up as a test says (the
    ``app`` fixture empties the tables after)."""
    made = []

    def make(server, **overrides):
        new = make_app(database_url, **server.settings(**overrides))
        made.append(new)
        return new

    yield make
    for made_app in made:
        with made_app.app_context():
            db.engine.dispose()


@pytest.fixture
def sso(apps, provider):
    """A client of an app that signs in with the mock provider."""
    return apps(provider).test_client()


def start(client, next_page: str | None = None):
    """The sign-in page's button: a redirect to the provider's authorization page."""
    response = client.get("/sign-in/sso", query_string={"next": next_page} if next_page else {})
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def sso_sign_in(client, provider, subject: str, next_page: str | None = None):
    """The whole flow: the button, the provider's page, the answer; the callback's
    response."""
    back = provider.approve(start(client, next_page), subject)
    return client.get(callback_path(back))


def refusal(response) -> tuple[str, str]:
    """The refusal page's heading and message."""
    html = page(response)
    return text_of(html.find("h1")), text_of(html.find(attrs={"data-error-message": True}))


def is_signed_in(client) -> bool:
    """Whether the projects page opens (or sends the browser to sign in)."""
    response = client.get("/")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def events(kind: AuditKind) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.kind == kind.value)))


def refusals() -> list[dict]:
    return [
        {"target": event.target, **event.details} for event in events(AuditKind.SSO_SIGN_IN_REFUSED)
    ]


def identities() -> list[tuple[str, str, str]]:
    db.session.expire_all()
    return [
        (identity.user.email, identity.issuer, identity.subject)
        for identity in db.session.scalars(select(SsoIdentity).order_by(SsoIdentity.id))
    ]


def test_the_button_sends_the_browser_to_the_provider_with_pkce_state_and_nonce(sso, provider):
    sign_in_page = sso.get("/sign-in")
    assert sign_in_page.status_code == 200
    button = page(sign_in_page).find("a", string="Sign in with Acme SSO")
    assert button["href"] == "/sign-in/sso"

    location = start(sso)

    assert location.startswith(f"{provider.issuer}/oauth2/authorize?")
    asked = query_of(location)
    assert asked["client_id"] == CLIENT_ID
    assert asked["response_type"] == "code"
    assert asked["scope"] == "openid email profile"
    assert asked["redirect_uri"] == "http://localhost/sign-in/sso/callback"
    assert asked["code_challenge_method"] == "S256"
    assert len(asked["code_challenge"]) >= 43
    assert len(asked["state"]) >= 20 and len(asked["nonce"]) >= 20


def test_first_sign_in_makes_an_account_for_an_allowed_domain(sso, provider):
    provider.add_user("ada-1", **ADA)

    response = sso_sign_in(sso, provider, "ada-1")

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    user = User.by_email("ada@example.com")
    assert (user.name, user.is_admin, accounts.is_proven(user)) == ("Ada Lovelace", False, True)
    assert identities() == [("ada@example.com", provider.issuer, "ada-1")]
    assert sso.get("/").status_code == 200  # signed in
    [created] = events(AuditKind.USER_CREATED)
    assert created.details["how"] == "single sign-on"
    assert [event.target for event in events(AuditKind.USER_SSO_LINKED)] == [user.label]
    [succeeded] = events(AuditKind.SSO_SIGN_IN_SUCCEEDED)
    assert (succeeded.actor, succeeded.details["provider"]) == (user.label, provider.issuer)


def test_the_subject_is_the_identity_not_the_address(sso, apps, provider):
    provider.add_user("ada-1", **ADA)
    assert sso_sign_in(sso, provider, "ada-1").status_code == 302
    # The provider changes her address: still her account. Another subject with her old
    # address is not her.
    provider.add_user("ada-1", **{**ADA, "email": "ada.lovelace@example.com"})
    provider.add_user("impostor", **ADA)

    again = apps(provider).test_client()
    assert sso_sign_in(again, provider, "ada-1").status_code == 302
    assert User.by_email("ada.lovelace@example.com") is None
    assert len(events(AuditKind.SSO_SIGN_IN_SUCCEEDED)) == 2

    impostor = apps(provider).test_client()
    # The address has an account, whose identity is another subject: a verified address
    # joins a second identity to it (one person, two logins at one provider is the
    # provider's business); what never happens is a join by an unverified address.
    assert sso_sign_in(impostor, provider, "impostor").status_code == 302
    assert [row[2] for row in identities()] == ["ada-1", "impostor"]


def test_a_verified_address_joins_the_existing_account(app, sso, provider):
    existing = add_user("pat@partner.org", "Pat Partner")  # not an allowed domain
    db.session.commit()
    provider.add_user("pat", email="Pat@Partner.org", email_verified=True, name="P.")

    response = sso_sign_in(sso, provider, "pat", next_page="/account")

    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    assert identities() == [("pat@partner.org", provider.issuer, "pat")]
    db.session.refresh(existing)
    assert existing.name == "Pat Partner"  # the account is as it was
    assert [event.target for event in events(AuditKind.USER_SSO_LINKED)] == [existing.label]
    assert events(AuditKind.USER_CREATED) == []


def test_an_unverified_address_joins_nothing(app, sso, provider):
    add_user("pat@partner.org", "Pat Partner")
    db.session.commit()
    provider.add_user("pat", email="pat@partner.org", email_verified=False)

    response = sso_sign_in(sso, provider, "pat")

    assert response.status_code == 403
    assert refusal(response) == (
        "Your email address is not verified",
        "Acme SSO has not verified pat@partner.org, so it cannot stand for an account "
        "here. Verify it at Acme SSO, then start again, or ask an admin.",
    )
    assert identities() == []
    assert not is_signed_in(sso)
    assert refusals() == [
        {
            "target": "pat@partner.org",
            "reason": "the provider has not verified the email address",
            "provider": provider.issuer,
        }
    ]


def test_an_unverified_address_in_an_allowed_domain_makes_no_account(sso, provider):
    provider.add_user("eve", email="eve@example.com")  # no email_verified claim at all

    assert sso_sign_in(sso, provider, "eve").status_code == 403
    assert User.by_email("eve@example.com") is None


def test_a_domain_not_allowed_is_told_to_ask_for_an_invitation(sso, provider):
    provider.add_user("sam", email="sam@elsewhere.org", email_verified=True)

    response = sso_sign_in(sso, provider, "sam")

    assert response.status_code == 403
    title, message = refusal(response)
    assert title == "You don't have an account here yet"
    assert message == (
        "No account uses sam@elsewhere.org, and new accounts are made only for addresses "
        "at example.com. Ask an admin to invite you."
    )
    assert User.by_email("sam@elsewhere.org") is None
    assert [r["reason"] for r in refusals()] == [
        "no account, and the address's domain is not allowed"
    ]


def test_an_invited_address_gets_its_account_and_joins_by_the_providers_proof(
    app, team, sso, provider
):
    _, secret = invitations.create_invitation(
        team.project, "sam@elsewhere.org", Role.DEVELOPER, by=team.owner, now=utcnow()
    )
    db.session.commit()
    provider.add_user("sam", email="sam@elsewhere.org", email_verified=True, name="Sam")

    signed_in = sso_sign_in(sso, provider, "sam", next_page=f"/invitations/{secret}")
    assert signed_in.headers["Location"] == f"/invitations/{secret}"
    joined = sso.post(f"/invitations/{secret}")

    assert joined.status_code == 302, joined.text
    user = User.by_email("sam@elsewhere.org")
    assert membership_of(user, team.project).role is Role.DEVELOPER


def test_an_unproven_account_in_the_persons_name_is_claimed(app, team, sso, provider):
    """The squatter of tests/test_proven_addresses.py: an owner made an account for an
    address from a link that was not mailed. The provider proves the address is Ada's:
    she gets the account, the squatter's password and sessions stop working."""
    squatted = add_user("ada@example.com", "Not Ada", proven=False)
    db.session.commit()
    squatter = app.test_client()
    assert (
        squatter.post(
            "/sign-in", data={"email": "ada@example.com", "password": PASSWORD}
        ).status_code
        == 302
    )
    provider.add_user("ada-1", **ADA)

    assert sso_sign_in(sso, provider, "ada-1").status_code == 302

    db.session.refresh(squatted)
    assert accounts.is_proven(squatted)
    assert squatter.get("/").status_code == 302  # signed out
    again = app.test_client().post(
        "/sign-in", data={"email": "ada@example.com", "password": PASSWORD}
    )
    assert again.status_code == 422
    [claimed] = events(AuditKind.USER_CLAIMED)
    assert claimed.details["how"] == "address proven by single sign-on; account claimed"
    # Proven now, so an owner's grant by address works (it is refused for unproven ones).
    add_member(team.other_project, squatted, Role.VIEWER, actor=team.outsider)
    accounts.require_proven(squatted)


def test_a_deactivated_account_is_refused(app, sso, apps, provider):
    provider.add_user("ada-1", **ADA)
    assert sso_sign_in(sso, provider, "ada-1").status_code == 302
    add_user("root@example.com", "Root", admin=True)
    user = User.by_email("ada@example.com")
    accounts.set_active(user, False, actor=None)
    db.session.commit()
    assert sso.get("/").status_code == 302  # deactivating ended the session

    response = sso_sign_in(apps(provider).test_client(), provider, "ada-1")

    assert response.status_code == 403
    assert refusal(response)[0] == "This account is deactivated"
    assert refusals()[-1]["reason"] == "account deactivated"


def test_the_admin_group_grants_and_removes_instance_admin(app, apps, provider):
    add_user("root@example.com", "Root", admin=True)
    db.session.commit()
    provider.add_user("ada-1", **ADA, groups=["staff", "flagpal-admins"])
    assert sso_sign_in(apps(provider).test_client(), provider, "ada-1").status_code == 302
    assert User.by_email("ada@example.com").is_admin
    [granted] = events(AuditKind.USER_ADMIN_GRANTED)
    assert (granted.actor, granted.details["group"]) == ("single sign-on", "flagpal-admins")

    provider.add_user("ada-1", **ADA, groups=["staff"])
    assert sso_sign_in(apps(provider).test_client(), provider, "ada-1").status_code == 302

    db.session.expire_all()
    assert not User.by_email("ada@example.com").is_admin
    assert len(events(AuditKind.USER_ADMIN_REMOVED)) == 1


def test_the_last_active_admin_keeps_admin_without_the_group(app, apps, provider):
    provider.add_user("ada-1", **ADA, groups=["flagpal-admins"])
    assert sso_sign_in(apps(provider).test_client(), provider, "ada-1").status_code == 302
    provider.add_user("ada-1", **ADA)  # no groups claim any more

    assert sso_sign_in(apps(provider).test_client(), provider, "ada-1").status_code == 302

    db.session.expire_all()
    assert User.by_email("ada@example.com").is_admin
    assert events(AuditKind.USER_ADMIN_REMOVED) == []


def test_without_an_admin_group_the_provider_makes_no_admins(app, apps, provider):
    provider.add_user("ada-1", **ADA, groups=["flagpal-admins"])
    client = apps(provider, OIDC_ADMIN_GROUP="").test_client()
    assert sso_sign_in(client, provider, "ada-1").status_code == 302
    assert not User.by_email("ada@example.com").is_admin


# Refusals of the protocol: each a page saying what to do, nobody signed in, audited.


def test_a_tampered_state_is_refused(sso, provider):
    provider.add_user("ada-1", **ADA)
    back = provider.approve(start(sso), "ada-1")
    parts = urlsplit(back)
    forged = parts.query.replace("state=", "state=x")

    response = sso.get(f"{parts.path}?{forged}")

    assert response.status_code == 400
    assert refusal(response)[0] == "This sign-in did not start here"
    assert not is_signed_in(sso)
    assert User.by_email("ada@example.com") is None
    assert [r["reason"] for r in refusals()] == [
        "the sign-in did not start in this browser (state mismatch)"
    ]


def test_an_answer_for_another_browser_is_refused(sso, apps, provider):
    """Login CSRF: an attacker's own code and state, sent to a victim's browser."""
    provider.add_user("mallory", email="mallory@example.com", email_verified=True)
    attacker = apps(provider).test_client()
    back = provider.approve(start(attacker), "mallory")

    response = sso.get(callback_path(back))

    assert response.status_code == 400
    assert not is_signed_in(sso)


def test_a_replayed_code_is_refused(sso, apps, provider):
    provider.add_user("ada-1", **ADA)
    back = provider.approve(start(sso), "ada-1")
    assert sso.get(callback_path(back)).status_code == 302
    assert sso.post("/sign-out").status_code == 302

    # The same answer again: its state was used up.
    replayed = sso.get(callback_path(back))
    assert replayed.status_code == 400
    assert refusal(replayed)[0] == "This sign-in did not start here"

    # The used code with a state this browser does hold: the provider refuses it.
    fresh_state = query_of(start(sso))["state"]
    code = query_of(back)["code"]
    response = sso.get(f"/sign-in/sso/callback?code={code}&state={fresh_state}")
    assert response.status_code == 400
    assert refusal(response)[0] == "Acme SSO's answer could not be trusted"
    assert not is_signed_in(sso)
    assert refusals()[-1]["reason"] == "the provider's ID token failed its checks"
    assert refusals()[-1]["error"] == "invalid_grant"


def test_an_expired_id_token_is_refused(apps):
    provider = MockProvider(access_token_max_age=EXPIRED)
    try:
        provider.add_user("ada-1", **ADA)
        client = apps(provider).test_client()
        response = sso_sign_in(client, provider, "ada-1")
    finally:
        provider.stop()

    assert response.status_code == 400
    assert refusal(response)[0] == "Acme SSO's answer could not be trusted"
    assert User.by_email("ada@example.com") is None
    assert refusals()[-1]["reason"] == "the provider's ID token failed its checks"


@pytest.fixture
def issuing():
    server = IssuingProvider(
        {"sub": "ada-1", "email": "ada@example.com", "email_verified": True, "name": "Ada"}
    )
    yield server
    server.stop()


def issued_sign_in(client):
    """The flow with the issuing provider, whose authorization page answers at once."""
    answer = requests.get(start(client), allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    return client.get(callback_path(answer.headers["Location"]))


def test_the_issuing_provider_signs_in_when_its_token_is_right(apps, issuing):
    client = apps(issuing).test_client()
    assert issued_sign_in(client).status_code == 302
    assert User.by_email("ada@example.com") is not None


@pytest.mark.parametrize(
    "flaw",
    ["wrong audience", "wrong issuer", "wrong nonce", "expired", "unpublished key"],
)
def test_an_id_token_that_fails_a_check_is_refused(apps, issuing, flaw):
    match flaw:
        case "wrong audience":
            issuing.token_overrides = {"aud": "another-app"}
        case "wrong issuer":
            issuing.token_overrides = {"iss": "https://sso.example.net"}
        case "wrong nonce":
            issuing.token_overrides = {"nonce": "not the one sent"}
        case "expired":
            issuing.token_overrides = {"exp": 1_000_000_000, "iat": 999_999_000}
        case "unpublished key":
            issuing.sign_with_other_key = True
    client = apps(issuing).test_client()

    response = issued_sign_in(client)

    assert response.status_code == 400
    assert refusal(response)[0] == "Acme SSO's answer could not be trusted"
    assert "Traceback" not in response.text
    assert User.by_email("ada@example.com") is None
    assert not is_signed_in(client)
    assert refusals()[-1]["reason"] == "the provider's ID token failed its checks"


def test_cancelling_at_the_provider_says_so(sso, provider):
    back = provider.cancel(start(sso))
    assert query_of(back)["error"] == "access_denied"

    response = sso.get(callback_path(back))

    assert response.status_code == 403
    assert refusal(response) == (
        "Sign-in cancelled",
        "Signing in with Acme SSO was cancelled, so you are not signed in. To sign in, "
        "start again.",
    )
    assert refusals()[-1]["reason"] == "cancelled at the provider"


def test_a_provider_error_shows_its_code_only(sso):
    response = sso.get("/sign-in/sso/callback?error=server_error&error_description=<b>x</b>")
    assert response.status_code == 502
    assert refusal(response)[1].startswith("Acme SSO answered with an error (server_error).")
    assert "<b>x</b>" not in response.text


def test_an_unreachable_provider_is_a_page_not_a_traceback(apps):
    provider = MockProvider()
    provider.stop()
    client = apps(provider, OIDC_NAME="Acme SSO").test_client()

    response = client.get("/sign-in/sso")

    assert response.status_code == 502
    title, message = refusal(response)
    assert title == "Acme SSO cannot be reached"
    assert (
        message
        == "FlagPal Dash could not reach Acme SSO to sign you in. Try again in a few minutes."
    )
    assert "Traceback" not in response.text
    assert refusals()[-1]["reason"] == "the provider could not be reached"


def test_a_discovery_document_naming_another_issuer_is_refused(apps, issuing):
    """Its ID tokens would otherwise be checked against whatever issuer it names."""
    issuing.discovery_issuer = "https://sso.example.net"
    client = apps(issuing).test_client()

    response = client.get("/sign-in/sso")

    assert response.status_code == 502
    assert refusal(response)[0] == "Acme SSO cannot be reached"
    assert refusals()[-1]["detail"] == "IssuerMismatch"


# Password sign-in: on, admins only, off.


def test_password_sign_in_off_hides_and_refuses_the_form(app, apps, provider):
    add_user("root@example.com", "Root", admin=True)
    db.session.commit()
    client = apps(provider, PASSWORD_SIGN_IN="off").test_client()

    html = page(client.get("/sign-in"))
    assert html.find("input", attrs={"name": "password"}) is None
    assert html.find("a", string="Sign in with Acme SSO") is not None
    assert html.find("a", href="/forgot-password") is None

    response = client.post("/sign-in", data={"email": "root@example.com", "password": PASSWORD})
    assert response.status_code == 403
    assert text_of(page(response).find(class_="form-errors")) == (
        "Signing in with a password is turned off here: sign in with Acme SSO."
    )
    assert not is_signed_in(client)
    assert client.get("/forgot-password").status_code == 404


def test_password_sign_in_for_admins_only(app, apps, provider):
    add_user("root@example.com", "Root", admin=True)
    add_user("vic@example.com", "Vic")
    db.session.commit()
    client = apps(provider, PASSWORD_SIGN_IN="admins").test_client()
    heading = page(client.get("/sign-in")).find("h2", id="password-sign-in")
    assert text_of(heading) == "Instance admins: sign in with a password"

    refused = client.post("/sign-in", data={"email": "vic@example.com", "password": PASSWORD})
    assert refused.status_code == 422
    assert text_of(page(refused).find(class_="form-errors")) == (
        "Only instance admins sign in with a password here: sign in with Acme SSO."
    )
    assert not is_signed_in(client)
    [failed] = events(AuditKind.SIGN_IN_FAILED)
    assert failed.details["reason"] == "password sign-in is for instance admins only"

    admin = client.post("/sign-in", data={"email": "root@example.com", "password": PASSWORD})
    assert admin.status_code == 302
    assert client.get("/").status_code == 200


def test_an_admin_gets_back_in_with_a_password_while_the_provider_is_down(app, apps):
    add_user("root@example.com", "Root", admin=True)
    db.session.commit()
    provider = MockProvider()
    provider.stop()
    client = apps(provider, PASSWORD_SIGN_IN="admins").test_client()
    assert client.get("/sign-in/sso").status_code == 502

    response = client.post("/sign-in", data={"email": "root@example.com", "password": PASSWORD})

    assert response.status_code == 302
    assert client.get("/admin/users").status_code == 200


def test_with_passwords_off_the_command_lines_reset_link_gets_an_admin_back_in(app, apps):
    add_user("root@example.com", "Root", admin=True)
    db.session.commit()
    provider = MockProvider()
    provider.stop()
    down = apps(provider, PASSWORD_SIGN_IN="off")
    client = down.test_client()
    assert client.get("/sign-in/sso").status_code == 502

    result = down.test_cli_runner().invoke(args=["users", "reset-link", "root@example.com"])
    assert result.exit_code == 0, result.output
    [link] = [word for word in result.output.split() if "/password-reset/" in word]
    path = urlsplit(link).path
    new_password = "back in through the command line"
    response = client.post(path, data={"password": new_password, "confirm_password": new_password})

    assert response.status_code == 302
    assert client.get("/admin/users").status_code == 200


# Signing out.


def test_signing_out_offers_the_providers_end_session(sso, provider):
    provider.add_user("ada-1", **ADA)
    assert sso_sign_in(sso, provider, "ada-1").status_code == 302

    out = sso.post("/sign-out")

    assert out.status_code == 302
    assert sso.get("/").status_code == 302  # the session ended
    html = page(sso.get("/sign-in"))
    link = html.find(attrs={"data-provider-sign-out": True}).find("a")
    assert text_of(link) == "Sign out of Acme SSO too"
    assert link["href"].startswith(f"{provider.issuer}/oauth2/end_session?")
    assert query_of(link["href"])["client_id"] == CLIENT_ID
    # Offered once, not on every later visit.
    assert page(sso.get("/sign-in")).find(attrs={"data-provider-sign-out": True}) is None


def test_signing_out_after_a_password_sign_in_offers_no_provider_link(app, apps, provider):
    add_user("vic@example.com", "Vic")
    db.session.commit()
    client = apps(provider).test_client()
    assert (
        client.post("/sign-in", data={"email": "vic@example.com", "password": PASSWORD}).status_code
        == 302
    )
    assert client.post("/sign-out").status_code == 302
    assert page(client.get("/sign-in")).find(attrs={"data-provider-sign-out": True}) is None


# Not set up: no button, no routes.


def test_without_single_sign_on_there_is_no_button_and_no_route(client):
    html = page(client.get("/sign-in"))
    assert html.find("a", href="/sign-in/sso") is None
    assert client.get("/sign-in/sso").status_code == 404
    assert client.get("/sign-in/sso/callback?code=x&state=y").status_code == 404


def test_a_signed_in_person_is_sent_on(sso, provider):
    provider.add_user("ada-1", **ADA)
    assert sso_sign_in(sso, provider, "ada-1").status_code == 302
    response = sso.get("/sign-in/sso")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_next_must_stay_on_this_site(sso, provider):
    with sso:
        sso.get("/sign-in/sso?next=//evil.example/")
        assert session[NEXT_KEY] is None


# Who may use the two steps with single sign-on set up (test_route_matrix.py has them
# without it): anyone may start and answer; a signed-in person is sent on; an answer
# this browser did not start changes nothing but the audit log.


@pytest.mark.parametrize("who", ["anonymous", "member", "admin"])
def test_the_two_steps_for_everyone(app, team, apps, provider, who):
    add_user("root@example.com", "Root", admin=True)
    db.session.commit()
    client = apps(provider).test_client()
    email = {"member": "vic@example.com", "admin": "root@example.com"}.get(who)
    if email:
        assert (
            client.post("/sign-in", data={"email": email, "password": PASSWORD}).status_code == 302
        )
    before = snapshot_without_audit()

    started = client.get("/sign-in/sso")
    answered = client.get("/sign-in/sso/callback?code=made-up&state=made-up")

    assert started.status_code == 302
    if email:
        assert started.headers["Location"] == "/"
    else:
        assert started.headers["Location"].startswith(f"{provider.issuer}/oauth2/authorize?")
    assert answered.status_code == 400
    assert snapshot_without_audit() == before
    assert refusals()[-1]["reason"] == (
        "the sign-in did not start in this browser (state mismatch)"
    )


def snapshot_without_audit() -> dict:
    rows = snapshot()
    del rows["audit_events"]
    # A session's last-seen time is bookkeeping, not a change.
    rows["user_sessions"] = [row[:3] for row in rows["user_sessions"]]
    return rows


# The settings, checked at start.

ISSUER = {
    "FLAGPAL_OIDC_ISSUER": "https://sso.example.com/realms/acme",
    "FLAGPAL_OIDC_CLIENT_ID": "flagpal-dash",
    "FLAGPAL_OIDC_CLIENT_SECRET": "s3cret",
}


def test_the_settings_read(tmp_path):
    settings = config.from_environment(
        {
            **ISSUER,
            "FLAGPAL_OIDC_ISSUER": "https://sso.example.com/realms/acme/",
            "FLAGPAL_OIDC_NAME": "Acme SSO",
            "FLAGPAL_OIDC_ALLOWED_DOMAINS": " Example.com, @example.org ,",
            "FLAGPAL_OIDC_ADMIN_GROUP": "flagpal-admins",
            "FLAGPAL_PASSWORD_SIGN_IN": "Admins",
        },
        str(tmp_path),
    )
    assert {key: settings[key] for key in sign_in_settings.DEFAULTS} == {
        "OIDC_ISSUER": "https://sso.example.com/realms/acme",
        "OIDC_CLIENT_ID": "flagpal-dash",
        "OIDC_CLIENT_SECRET": "s3cret",
        "OIDC_NAME": "Acme SSO",
        "OIDC_ALLOWED_DOMAINS": ("example.com", "example.org"),
        "OIDC_ADMIN_GROUP": "flagpal-admins",
        "PASSWORD_SIGN_IN": "admins",
    }
    defaults = config.from_environment({}, str(tmp_path))
    assert {key: defaults[key] for key in sign_in_settings.DEFAULTS} == sign_in_settings.DEFAULTS


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {**ISSUER, "FLAGPAL_OIDC_ISSUER": "http://sso.example.com"},
            "FLAGPAL_OIDC_ISSUER must be an https address, not 'http://sso.example.com': "
            "plain http is allowed only for a provider on this machine (localhost, "
            "127.0.0.1, ::1)",
        ),
        (
            {**ISSUER, "FLAGPAL_OIDC_ISSUER": "sso.example.com"},
            "FLAGPAL_OIDC_ISSUER must be the provider's issuer address, like "
            "https://sso.example.com/realms/acme, not 'sso.example.com'",
        ),
        (
            {**ISSUER, "FLAGPAL_OIDC_CLIENT_SECRET": ""},
            "FLAGPAL_OIDC_ISSUER is set, so FLAGPAL_OIDC_CLIENT_SECRET must be too: the "
            "client id and secret the provider gave this dashboard when it was registered "
            "there",
        ),
        (
            {"FLAGPAL_OIDC_CLIENT_ID": "flagpal-dash"},
            "FLAGPAL_OIDC_CLIENT_ID is set but FLAGPAL_OIDC_ISSUER is not: set it to the "
            "provider's issuer address, like https://sso.example.com/realms/acme",
        ),
        (
            {"FLAGPAL_PASSWORD_SIGN_IN": "off"},
            "FLAGPAL_PASSWORD_SIGN_IN is off, but single sign-on is not set up "
            "(FLAGPAL_OIDC_ISSUER): nobody could sign in. Set up single sign-on first, or "
            "remove FLAGPAL_PASSWORD_SIGN_IN",
        ),
        (
            {**ISSUER, "FLAGPAL_PASSWORD_SIGN_IN": "no # admins only"},
            "FLAGPAL_PASSWORD_SIGN_IN must be on (everyone), admins (instance admins only) "
            "or off (single sign-on only), not 'no # admins only': put comments on their "
            "own line",
        ),
        (
            {**ISSUER, "FLAGPAL_OIDC_ALLOWED_DOMAINS": "example.com, *.example.org"},
            "FLAGPAL_OIDC_ALLOWED_DOMAINS must list email domains, comma-separated, like "
            "example.com,example.org, not '*.example.org'",
        ),
    ],
)
def test_settings_that_cannot_work_stop_the_app(tmp_path, environ, message):
    with pytest.raises(config.ConfigError) as error:
        config.from_environment(environ, str(tmp_path))
    assert str(error.value) == message


@pytest.mark.parametrize(
    "issuer", ["http://127.0.0.1:8080", "http://localhost:9000/x", "http://[::1]:1"]
)
def test_plain_http_is_allowed_on_this_machine(tmp_path, issuer):
    settings = config.from_environment({**ISSUER, "FLAGPAL_OIDC_ISSUER": issuer}, str(tmp_path))
    assert settings["OIDC_ISSUER"] == issuer


# The invitation page follows FLAGPAL_PASSWORD_SIGN_IN too: it signs people in.


def invitation_for(team, email: str) -> str:
    _, secret = invitations.create_invitation(
        team.project, email, Role.VIEWER, by=team.owner, now=utcnow()
    )
    db.session.commit()
    return f"/invitations/{secret}"


def test_with_passwords_off_an_invitation_is_accepted_through_single_sign_on(
    app, team, apps, provider
):
    path = invitation_for(team, "vic.new@example.com")
    client = apps(provider, PASSWORD_SIGN_IN="off").test_client()

    html = page(client.get(path))
    assert html.find("input", attrs={"type": "password"}) is None
    button = html.find("a", string="Sign in with Acme SSO to join")
    assert button["href"] == f"/sign-in/sso?next={path}"
    for data in (
        {"password": PASSWORD},
        {"name": "Vic", "password": PASSWORD, "confirm_password": PASSWORD},
    ):
        assert client.post(path, data=data).status_code == 403
    assert User.by_email("vic.new@example.com") is None

    provider.add_user("vic", email="vic.new@example.com", email_verified=True)
    assert sso_sign_in(client, provider, "vic", next_page=path).headers["Location"] == path
    assert client.post(path).status_code == 302
    assert membership_of(User.by_email("vic.new@example.com"), team.project).role is Role.VIEWER


def test_with_passwords_for_admins_an_invitation_takes_no_new_password_account(
    app, team, apps, provider
):
    path = invitation_for(team, "vic.new@example.com")
    client = apps(provider, PASSWORD_SIGN_IN="admins").test_client()
    html = page(client.get(path))
    assert html.find("input", attrs={"name": "confirm_password"}) is None
    new = {"name": "Vic", "password": PASSWORD, "confirm_password": PASSWORD}
    assert client.post(path, data=new).status_code == 403
    assert User.by_email("vic.new@example.com") is None

    # An existing non-admin account's password does not sign in here either.
    member_path = invitation_for(team, "otto@example.com")
    refused = client.post(member_path, data={"password": PASSWORD})
    assert refused.status_code == 422
    assert not is_signed_in(client)


@pytest.mark.parametrize(
    "line",
    [
        '127.0.0.1 - - "GET /sign-in/sso/callback?code=SECRETCODE123&state=abc HTTP/1.1" 302',
        '127.0.0.1 - - "GET /sign-in/sso/callback?state=abc&code=SECRETCODE123 HTTP/1.1" 302',
        "GET /sign-in/sso/callback?state=abc&code=SECRETCODE123&session_state=x",
    ],
)
def test_the_authorization_code_is_kept_out_of_logs(line):
    cleaned = redaction.redact(line)
    assert "SECRETCODE123" not in cleaned
    assert "code=[redacted]" in cleaned
    assert "state=abc" in cleaned


def test_the_callbacks_access_log_line_holds_no_real_code(sso, provider, caplog):
    """As the server logs the request (the record factory cleans every logger's)."""
    provider.add_user("ada-1", **ADA)
    back = provider.approve(start(sso), "ada-1")
    code = query_of(back)["code"]
    caplog.set_level("INFO")
    logging.getLogger("werkzeug").info('"GET %s HTTP/1.1" 302 -', callback_path(back))
    assert sso.get(callback_path(back)).status_code == 302
    assert code not in caplog.text
    assert "code=[redacted]" in caplog.text


def test_the_same_first_sign_in_finishing_in_another_tab_meanwhile_starts_again(app, sso, provider):
    """Two tabs finish Ada's first sign-in at once: the second's identity clashes with
    the first's when it is written. It starts again rather than fail. (Simulated on
    PostgreSQL, where the other tab's rows can be committed while this one's
    transaction is open, just before this one writes its identity; SQLite makes the
    second writer wait, which a hook in the same thread cannot.)"""
    if db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite lets one writer at a time: the other tab cannot commit here")
    provider.add_user("ada-1", **ADA)
    back = provider.approve(start(sso, "/account"), "ada-1")

    done = []

    def the_other_tab_finishes_first(session, flush_context, instances):
        if done or not any(isinstance(row, SsoIdentity) for row in session.new):
            return
        done.append(True)
        with db.engine.begin() as connection:
            user_id = connection.execute(
                insert(User).values(
                    email="ada.lovelace@example.com",
                    name="Ada Lovelace",
                    password_hash="x" * 60,
                    is_admin=False,
                    active=True,
                    created_at=utcnow(),
                    email_proven_at=utcnow(),
                    expiry_mail=True,
                )
            ).inserted_primary_key[0]
            connection.execute(
                insert(SsoIdentity).values(
                    user_id=user_id,
                    issuer=provider.issuer,
                    subject="ada-1",
                    created_at=utcnow(),
                    last_sign_in_at=utcnow(),
                )
            )

    event.listen(Session, "before_flush", the_other_tab_finishes_first)
    try:
        response = sso.get(callback_path(back))
    finally:
        event.remove(Session, "before_flush", the_other_tab_finishes_first)

    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in/sso?next=/account"
    assert identities() == [("ada.lovelace@example.com", provider.issuer, "ada-1")]
    assert User.by_email("ada@example.com") is None  # this tab's work was rolled back
    # Starting again signs in to the identity the other tab made.
    again = provider.approve(start(sso, "/account"), "ada-1")
    assert sso.get(callback_path(again)).headers["Location"] == "/account"
