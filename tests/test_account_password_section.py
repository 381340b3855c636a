"""The Account page's Password section beside single sign-on: nothing to change when
FLAGPAL_PASSWORD_SIGN_IN leaves this person no password (and the form's POST refused),
and, for an account single sign-on made, how to get a password it never had."""

from flagpal_dash.core import password_resets
from flagpal_dash.extensions import db
from flagpal_dash.models import User, utcnow

from .oidc_provider import ADA, is_signed_in, sso_sign_in
from .support import PASSWORD, add_user, page, text_of

NEW_PASSWORD = "a brand new passphrase"
OFF_FOR_YOU = (
    "You sign in with Acme SSO. Signing in with a password is turned off for you on this server."
)


def password_section(client):
    response = client.get("/account")
    assert response.status_code == 200, response.text
    return page(response).find("section", attrs={"aria-labelledby": "password-heading"})


def change_form(section):
    return section.find("form", action="/account/password")


def change_password(client):
    return client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    )


def stored_hash(email: str) -> str:
    db.session.expire_all()
    return User.by_email(email).password_hash


def signed_in_by_the_provider(app, provider, subject="ada-1", **claims):
    client = app.test_client()
    provider.add_user(subject, **(ADA | claims))
    assert sso_sign_in(client, provider, subject).status_code == 302
    assert is_signed_in(client)
    return client


def test_with_passwords_off_the_section_says_so_and_the_form_is_refused(app, sso_apps, provider):
    add_user("ada@example.com", "Ada Lovelace")  # her password account, joined by the provider
    db.session.commit()
    client = signed_in_by_the_provider(sso_apps(provider, PASSWORD_SIGN_IN="off"), provider)

    section = password_section(client)
    assert change_form(section) is None
    assert section.find("input", attrs={"type": "password"}) is None
    assert text_of(section.find("p", attrs={"data-passwords-off": True})) == OFF_FOR_YOU

    hash_before = stored_hash("ada@example.com")
    refused = change_password(client)
    assert refused.status_code == 403
    assert text_of(page(refused).find(attrs={"data-error-message": True})) == OFF_FOR_YOU
    assert stored_hash("ada@example.com") == hash_before
    assert is_signed_in(client), "nothing changed: this browser stays signed in"


def test_with_passwords_for_admins_only_a_member_is_refused_and_an_admin_is_not(
    app, sso_apps, provider
):
    add_user("ada@example.com", "Ada Lovelace")
    add_user("root@example.com", "Root", admin=True)
    db.session.commit()
    admins_only = sso_apps(provider, PASSWORD_SIGN_IN="admins")
    member = signed_in_by_the_provider(admins_only, provider)

    section = password_section(member)
    assert change_form(section) is None
    assert text_of(section.find("p", attrs={"data-passwords-off": True})) == OFF_FOR_YOU
    assert change_password(member).status_code == 403

    admin = admins_only.test_client()
    assert (
        admin.post("/sign-in", data={"email": "root@example.com", "password": PASSWORD}).status_code
        == 302
    )
    section = password_section(admin)
    assert change_form(section) is not None
    assert section.find(attrs={"data-passwords-off": True}) is None
    hash_before = stored_hash("root@example.com")
    assert change_password(admin).status_code == 302
    assert stored_hash("root@example.com") != hash_before


def test_an_account_made_by_single_sign_on_is_told_to_ask_an_admin_without_mail(sso_apps, provider):
    client = signed_in_by_the_provider(sso_apps(provider), provider)

    section = password_section(client)
    notice = section.find(attrs={"data-no-password-yet": True})
    assert [text_of(p) for p in notice.find_all("p")] == [
        "You sign in with Acme SSO, so you have no password here yet.",
        "To also sign in with a password, ask an instance admin for a password reset link "
        "to set one.",
    ]
    # Above the form, which is still there for when they have one.
    form = change_form(section)
    assert form is not None
    assert notice in form.find_all_previous()


def test_an_account_made_by_single_sign_on_is_pointed_to_forgot_password_with_mail(
    sso_apps, provider, mail_server
):
    client = signed_in_by_the_provider(sso_apps(provider, **mail_server.settings()), provider)

    notice = password_section(client).find(attrs={"data-no-password-yet": True})
    assert [text_of(p) for p in notice.find_all("p")] == [
        "You sign in with Acme SSO, so you have no password here yet.",
        "To also sign in with a password, use “Forgot your password?” on the sign-in page "
        "to set one.",
    ]


def test_once_a_reset_link_sets_a_password_the_notice_is_gone(sso_apps, provider):
    client = signed_in_by_the_provider(sso_apps(provider), provider)
    ada = User.by_email("ada@example.com")
    assert not ada.password_known
    _, secret = password_resets.create_reset(ada, by=None, now=utcnow(), how="an admin's link")
    db.session.commit()
    client.post("/sign-out")
    chosen = client.post(
        f"/password-reset/{secret}",
        data={"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert chosen.status_code == 302, chosen.text

    section = password_section(client)
    assert section.find(attrs={"data-no-password-yet": True}) is None
    assert change_form(section) is not None


def test_an_existing_account_joined_by_single_sign_on_keeps_its_known_password(
    app, sso_apps, provider
):
    add_user("ada@example.com", "Ada Lovelace")
    db.session.commit()
    client = signed_in_by_the_provider(sso_apps(provider), provider)

    section = password_section(client)
    assert section.find(attrs={"data-no-password-yet": True}) is None
    assert section.find(attrs={"data-passwords-off": True}) is None
    assert change_form(section) is not None
