"""Password sign-in beside single sign-on (FLAGPAL_PASSWORD_SIGN_IN on, admins, off),
the way back in when the provider is down, and the single sign-on settings' checks.
"""

import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from flagpal_dash import config, sign_in_settings
from flagpal_dash.extensions import db
from flagpal_dash.models import AuditKind, PasswordReset

from .oidc_provider import (
    MockProvider,
    events,
    is_signed_in,
)
from .serving import instance_environment
from .support import PASSWORD, add_user, page, text_of

# Password sign-in: on, admins only, off.


def test_password_sign_in_off_hides_and_refuses_the_form(app, sso_apps, provider):
    add_user("root@example.com", "Root", admin=True)
    db.session.commit()
    client = sso_apps(provider, PASSWORD_SIGN_IN="off").test_client()

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


def test_password_sign_in_for_admins_only(app, sso_apps, provider):
    add_user("root@example.com", "Root", admin=True)
    add_user("vic@example.com", "Vic")
    db.session.commit()
    client = sso_apps(provider, PASSWORD_SIGN_IN="admins").test_client()
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


def test_an_admin_gets_back_in_with_a_password_while_the_provider_is_down(app, sso_apps):
    add_user("root@example.com", "Root", admin=True)
    db.session.commit()
    provider = MockProvider()
    provider.stop()
    client = sso_apps(provider, PASSWORD_SIGN_IN="admins").test_client()
    assert client.get("/sign-in/sso").status_code == 502

    response = client.post("/sign-in", data={"email": "root@example.com", "password": PASSWORD})

    assert response.status_code == 302
    assert client.get("/admin/users").status_code == 200


def test_with_passwords_off_the_command_lines_reset_link_gets_an_admin_back_in(app, sso_apps):
    add_user("root@example.com", "Root", admin=True)
    db.session.commit()
    provider = MockProvider()
    provider.stop()
    down = sso_apps(provider, PASSWORD_SIGN_IN="off")
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


def test_with_passwords_for_admins_only_admins_are_mailed_a_reset_link(
    app, sso_apps, provider, mail_server
):
    add_user("root@example.com", "Root", admin=True)
    add_user("vic@example.com", "Vic")
    db.session.commit()
    client = sso_apps(provider, PASSWORD_SIGN_IN="admins", **mail_server.settings()).test_client()

    answers = [
        client.post("/forgot-password", data={"email": email})
        for email in ("vic@example.com", "root@example.com")
    ]

    assert [answer.status_code for answer in answers] == [302, 302]  # the same answer
    db.session.expire_all()
    asked_for = db.session.scalars(select(PasswordReset)).all()
    assert [reset.user.email for reset in asked_for] == ["root@example.com"]


# What a worker carries.

SSO_LIBRARIES = ("authlib", "joserfc", "requests")
LOADED = (
    "import sys; from flagpal_dash import create_app; create_app(); "
    f"print(' '.join(name for name in {SSO_LIBRARIES!r} if name in sys.modules))"
)


@pytest.mark.parametrize(
    ("settings", "loaded"),
    [
        ({}, ""),
        (
            {
                "OIDC_ISSUER": "http://127.0.0.1:9",
                "OIDC_CLIENT_ID": "dash",
                "OIDC_CLIENT_SECRET": "secret",
            },
            "authlib joserfc requests",
        ),
    ],
    ids=["not set up", "set up"],
)
def test_single_sign_on_libraries_load_only_where_it_is_set_up(tmp_path, settings, loaded):
    """Authlib and what it brings weigh megabytes in every worker: a dashboard without
    single sign-on must not carry them (the bench's memory target)."""
    environment = instance_environment(f"sqlite:///{tmp_path / 'dash.db'}", tmp_path, **settings)
    result = subprocess.run(
        [sys.executable, "-c", LOADED],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == loaded
