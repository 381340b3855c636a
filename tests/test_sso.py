"""Single sign-on with OpenID Connect (issue 19), driven over HTTP against real providers
on loopback (tests/oidc_provider.py): the dashboard's client discovers the provider,
sends the browser there, and exchanges the code for an ID token it checks.

Here: who a sign-in is (issuer and subject), joining existing accounts by a verified
address, new accounts for the allowed domains or an invitation, the admin group,
deactivated accounts, signing out. Refusals of the protocol are in
test_sso_refusals.py, passwords and settings in test_sso_settings.py.
"""

import pytest
from flask import session
from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from flagpal_dash.auth.sso import NEXT_KEY
from flagpal_dash.core import accounts, invitations
from flagpal_dash.core import sso as sso_rules
from flagpal_dash.core.projects import add_member, membership_of
from flagpal_dash.extensions import db
from flagpal_dash.models import AuditKind, SsoIdentity, User, utcnow
from flagpal_dash.permissions import Role

from .oidc_provider import (
    ADA,
    CLIENT_ID,
    callback_path,
    events,
    identities,
    is_signed_in,
    query_of,
    refusal,
    refusals,
    sso_sign_in,
    start,
)
from .support import PASSWORD, add_user, page, text_of


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
    assert not user.password_known
    assert identities() == [("ada@example.com", provider.issuer, "ada-1")]
    assert sso.get("/").status_code == 200  # signed in
    [created] = events(AuditKind.USER_CREATED)
    assert created.details["how"] == "single sign-on"
    assert [event.target for event in events(AuditKind.USER_SSO_LINKED)] == [user.label]
    [succeeded] = events(AuditKind.SSO_SIGN_IN_SUCCEEDED)
    assert (succeeded.actor, succeeded.details["provider"]) == (user.label, provider.issuer)


def test_the_subject_is_the_identity_not_the_address(sso, sso_apps, provider):
    provider.add_user("ada-1", **ADA)
    assert sso_sign_in(sso, provider, "ada-1").status_code == 302
    # The provider changes her address: still her account. Another subject with her old
    # address is not her.
    provider.add_user("ada-1", **{**ADA, "email": "ada.lovelace@example.com"})
    provider.add_user("impostor", **ADA)

    again = sso_apps(provider).test_client()
    assert sso_sign_in(again, provider, "ada-1").status_code == 302
    assert User.by_email("ada.lovelace@example.com") is None
    assert len(events(AuditKind.SSO_SIGN_IN_SUCCEEDED)) == 2

    impostor = sso_apps(provider).test_client()
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
        "There is no account for sam@elsewhere.org here, and new accounts are made only "
        "for addresses at example.com. Ask an admin to invite you."
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
    assert not squatted.password_known  # the Account page says how to set one
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


def test_a_deactivated_account_is_refused(app, sso, sso_apps, provider):
    provider.add_user("ada-1", **ADA)
    assert sso_sign_in(sso, provider, "ada-1").status_code == 302
    add_user("root@example.com", "Root", admin=True)
    user = User.by_email("ada@example.com")
    accounts.set_active(user, False, actor=None)
    db.session.commit()
    assert sso.get("/").status_code == 302  # deactivating ended the session

    response = sso_sign_in(sso_apps(provider).test_client(), provider, "ada-1")

    assert response.status_code == 403
    assert refusal(response)[0] == "This account is deactivated"
    assert refusals()[-1]["reason"] == "account deactivated"


def test_the_admin_group_grants_and_removes_instance_admin(app, sso_apps, provider):
    add_user("root@example.com", "Root", admin=True)
    db.session.commit()
    provider.add_user("ada-1", **ADA, groups=["staff", "flagpal-admins"])
    assert sso_sign_in(sso_apps(provider).test_client(), provider, "ada-1").status_code == 302
    assert User.by_email("ada@example.com").is_admin
    [granted] = events(AuditKind.USER_ADMIN_GRANTED)
    assert (granted.actor, granted.details["group"]) == ("single sign-on", "flagpal-admins")

    provider.add_user("ada-1", **ADA, groups=["staff"])
    assert sso_sign_in(sso_apps(provider).test_client(), provider, "ada-1").status_code == 302

    db.session.expire_all()
    assert not User.by_email("ada@example.com").is_admin
    assert len(events(AuditKind.USER_ADMIN_REMOVED)) == 1


def test_the_last_active_admin_keeps_admin_without_the_group(app, sso_apps, provider):
    provider.add_user("ada-1", **ADA, groups=["flagpal-admins"])
    assert sso_sign_in(sso_apps(provider).test_client(), provider, "ada-1").status_code == 302
    provider.add_user("ada-1", **ADA)  # no groups claim any more

    assert sso_sign_in(sso_apps(provider).test_client(), provider, "ada-1").status_code == 302

    db.session.expire_all()
    assert User.by_email("ada@example.com").is_admin
    assert events(AuditKind.USER_ADMIN_REMOVED) == []


def test_without_an_admin_group_the_provider_makes_no_admins(app, sso_apps, provider):
    provider.add_user("ada-1", **ADA, groups=["flagpal-admins"])
    client = sso_apps(provider, OIDC_ADMIN_GROUP="").test_client()
    assert sso_sign_in(client, provider, "ada-1").status_code == 302
    assert not User.by_email("ada@example.com").is_admin


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


def test_signing_out_after_a_password_sign_in_offers_no_provider_link(app, sso_apps, provider):
    add_user("vic@example.com", "Vic")
    db.session.commit()
    client = sso_apps(provider).test_client()
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


# The invitation page follows FLAGPAL_PASSWORD_SIGN_IN too: it signs people in.


def invitation_for(team, email: str) -> str:
    _, secret = invitations.create_invitation(
        team.project, email, Role.VIEWER, by=team.owner, now=utcnow()
    )
    db.session.commit()
    return f"/invitations/{secret}"


def test_with_passwords_off_an_invitation_is_accepted_through_single_sign_on(
    app, team, sso_apps, provider
):
    path = invitation_for(team, "vic.new@example.com")
    client = sso_apps(provider, PASSWORD_SIGN_IN="off").test_client()

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
    app, team, sso_apps, provider
):
    path = invitation_for(team, "vic.new@example.com")
    client = sso_apps(provider, PASSWORD_SIGN_IN="admins").test_client()
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


def test_signing_out_in_another_server_process_offers_the_providers_end_session_too(
    sso_apps, provider
):
    """A process that has not read the provider's document yet (the sign-in was served
    by another one) reads it to offer the link; with the provider down, no link."""
    provider.add_user("ada-1", **ADA)
    first, second = sso_apps(provider), sso_apps(provider)
    browser = first.test_client()
    assert sso_sign_in(browser, provider, "ada-1").status_code == 302
    # The same browser's cookie, sent to the second process.
    other = second.test_client()
    other.set_cookie("session", browser.get_cookie("session").value)

    assert other.post("/sign-out").status_code == 302

    link = page(other.get("/sign-in")).find(attrs={"data-provider-sign-out": True})
    assert link.find("a")["href"].startswith(f"{provider.issuer}/oauth2/end_session?")


def test_signing_out_while_the_provider_is_down_offers_no_link(sso_apps, provider):
    provider.add_user("ada-1", **ADA)
    first, second = sso_apps(provider), sso_apps(provider)
    browser = first.test_client()
    assert sso_sign_in(browser, provider, "ada-1").status_code == 302
    other = second.test_client()
    other.set_cookie("session", browser.get_cookie("session").value)
    provider.stop()

    assert other.post("/sign-out").status_code == 302

    assert other.get("/").status_code == 302  # signed out all the same
    assert page(other.get("/sign-in")).find(attrs={"data-provider-sign-out": True}) is None


@pytest.mark.parametrize(
    ("claims", "verified", "groups"),
    [
        ({"email_verified": True, "groups": ["a", "b"]}, True, ("a", "b")),
        ({"email_verified": "true", "groups": "a"}, True, ("a",)),
        ({"email_verified": False}, False, None),
        ({"email_verified": "yes"}, False, None),
        ({}, False, None),
        # Entra ID: no email_verified; its optional claim xms_edov stands in.
        ({"xms_edov": True}, True, None),
        ({"xms_edov": True, "email_verified": False}, False, None),
    ],
)
def test_what_the_id_tokens_claims_are_read_as(claims, verified, groups):
    read = sso_rules.Claims.from_id_token(
        {"iss": "https://sso.example.com", "sub": "ada-1", "email": "ada@example.com", **claims}
    )
    assert (read.email_verified, read.groups) == (verified, groups)
