"""The OpenID Connect provider's client (Authlib), shared by the single sign-on door
(auth/sso.py) and signing out (auth/__init__.py).

Authlib speaks the protocol: discovery from the issuer, the authorization code flow
with PKCE, ``state`` and ``nonce`` kept in this browser's session, and the ID token's
checks (signature against the provider's published keys, issuer, audience, expiry,
nonce).

Authlib and what it brings (requests, cryptography) are imported only where single
sign-on is set up and used: they would add megabytes to every worker of a dashboard
that does not use it, whose memory the bench holds under its target.
"""

from flask import Flask, abort, current_app

EXTENSION_KEY = "flagpal_sso"
CLIENT_NAME = "sso"
# Every provider knows these; a groups claim comes from the provider's own setting
# (README, Single sign-on), since a "groups" scope is refused by most.
SCOPES = "openid email profile"
# Seconds to wait for the provider's server (discovery, keys, the code's exchange).
PROVIDER_TIMEOUT = 10
# Whether this browser's session was started by single sign-on (for signing out).
SIGNED_IN_KEY = "sso_signed_in"


def install(app: Flask) -> None:
    """Register the provider's client when single sign-on is set up. Its metadata and
    keys are fetched when first needed, not at start: a provider that is down must not
    stop the dashboard, whose admins may still sign in with a password."""
    if not app.config["OIDC_ISSUER"]:
        return
    from authlib.integrations.flask_client import OAuth

    oauth = OAuth(app)
    app.extensions[EXTENSION_KEY] = oauth.register(
        CLIENT_NAME,
        client_id=app.config["OIDC_CLIENT_ID"],
        client_secret=app.config["OIDC_CLIENT_SECRET"],
        server_metadata_url=app.config["OIDC_ISSUER"] + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": SCOPES,
            "code_challenge_method": "S256",
            "default_timeout": PROVIDER_TIMEOUT,
        },
    )


def configured() -> bool:
    return EXTENSION_KEY in current_app.extensions


def client():
    """The provider's client; 404 when single sign-on is not set up."""
    if not configured():
        abort(404)
    return current_app.extensions[EXTENSION_KEY]


def provider_metadata(provider) -> dict:
    """The provider's discovery document, fetched once per process. Its issuer must be
    the one configured (OpenID Connect Discovery): otherwise ID tokens would be checked
    against whatever issuer the document names."""
    metadata = provider.load_server_metadata()
    if metadata.get("issuer", "").rstrip("/") != current_app.config["OIDC_ISSUER"]:
        provider.server_metadata.clear()  # read again next time, once it is fixed
        raise IssuerMismatch(metadata.get("issuer"))
    return metadata


class IssuerMismatch(Exception):
    """The discovery document names another issuer than FLAGPAL_OIDC_ISSUER."""


def end_session_url() -> str | None:
    """Where to sign out at the provider too (its ``end_session_endpoint``), when it
    has one. Its document is read if this process has not read it yet (another server
    process may have signed the person in); if that fails, no link: signing out of the
    dashboard is done either way."""
    if not configured():
        return None
    import requests

    provider = current_app.extensions[EXTENSION_KEY]
    try:
        endpoint = provider_metadata(provider).get("end_session_endpoint")
    except (requests.RequestException, ValueError, IssuerMismatch):
        return None
    if not endpoint:
        return None
    return provider.create_logout_url(client_id=current_app.config["OIDC_CLIENT_ID"])["url"]
