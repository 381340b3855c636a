"""Real OpenID Connect providers on loopback for the single sign-on tests.

``MockProvider`` serves the ``oidc-provider-mock`` package: discovery, RS256-signed ID
tokens, users with whatever claims a test gives them (``email_verified``, ``groups``),
an authorization page whose form approves or cancels, and options such as the tokens'
lifetime. ``IssuingProvider`` is a small provider of our own with a key the test holds,
for the ID tokens the mock will not make (another audience, issuer or nonce, a
signature by a key it does not publish): the client under test checks them exactly as
it checks any provider's, over HTTP.
"""

import secrets
import threading
import time
import warnings
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from flask import Flask, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import select
from werkzeug.serving import make_server

from flagpal_dash.extensions import db
from flagpal_dash.models import AuditEvent, AuditKind, SsoIdentity

from .support import page, text_of

with warnings.catch_warnings():
    # The package imports deprecated modules of Authlib's (authlib.jose, its httpx
    # client) itself. (Authlib shows its own deprecations "always", by a filter it adds
    # when first imported: this one goes in front of it.)
    from authlib.deprecate import AuthlibDeprecationWarning

    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    import oidc_provider_mock

CLIENT_ID = "flagpal-dash"
CLIENT_SECRET = "the client secret the provider gave"


class LoopbackServer:
    """A WSGI app served on 127.0.0.1 on a free port, in a thread, until ``stop``."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop serving (once: a test may stop it before its fixture does)."""
        if not self.thread.is_alive():
            return
        self.server.shutdown()
        self.thread.join()
        self.server.server_close()

    def settings(self, **overrides) -> dict:
        """The app's settings for this provider."""
        return {
            "OIDC_ISSUER": self.issuer,
            "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_NAME": "Acme SSO",
            "OIDC_ALLOWED_DOMAINS": ("example.com",),
            "OIDC_ADMIN_GROUP": "flagpal-admins",
            **overrides,
        }


class MockProvider(LoopbackServer):
    def __init__(self, **options):
        options.setdefault("require_nonce", True)
        super().__init__(oidc_provider_mock.app(**options))

    def add_user(self, subject: str, **claims) -> None:
        """The person ``subject`` with ``claims`` (email, email_verified, name, groups)."""
        response = requests.put(f"{self.issuer}/users/{subject}", json=claims, timeout=5)
        assert response.status_code == 204, response.text

    def approve(self, authorize_url: str, subject: str) -> str:
        """Sign in at the provider as ``subject``; the address it sends the browser back
        to (the dashboard's callback, with code and state)."""
        response = requests.post(
            authorize_url, data={"sub": subject}, allow_redirects=False, timeout=5
        )
        assert response.status_code == 302, response.text
        return response.headers["Location"]

    def cancel(self, authorize_url: str) -> str:
        response = requests.post(
            authorize_url, data={"action": "deny"}, allow_redirects=False, timeout=5
        )
        assert response.status_code == 302, response.text
        return response.headers["Location"]


class IssuingProvider(LoopbackServer):
    """Signs in whoever comes, as ``claims``, with an ID token whose fields a test may
    change through ``token_overrides`` (``aud``, ``iss``, ``exp``, ``nonce``), sign with
    a key it does not publish (``sign_with_other_key``), or name another issuer in its
    discovery document (``discovery_issuer``)."""

    def __init__(self, claims: dict):
        self.claims = claims
        self.token_overrides: dict = {}
        self.sign_with_other_key = False
        # What its discovery document calls its issuer (None: its own address).
        self.discovery_issuer = None
        self.key = RSAKey.generate_key(2048, parameters={"kid": "published"})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "published"})
        self.codes: dict[str, dict] = {}
        super().__init__(self.make_app())

    def make_app(self) -> Flask:
        app = Flask(__name__)

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return jsonify(
                issuer=self.discovery_issuer or self.issuer,
                authorization_endpoint=f"{self.issuer}/authorize",
                token_endpoint=f"{self.issuer}/token",
                jwks_uri=f"{self.issuer}/jwks",
                response_types_supported=["code"],
                subject_types_supported=["public"],
                id_token_signing_alg_values_supported=["RS256"],
            )

        @app.get("/jwks")
        def jwks():
            return jsonify(KeySet([self.key]).as_dict(private=False))

        @app.get("/authorize")
        def authorize():
            code = secrets.token_urlsafe(16)
            self.codes[code] = dict(request.args)
            query = urlencode({"code": code, "state": request.args["state"]})
            return redirect(f"{request.args['redirect_uri']}?{query}")

        @app.post("/token")
        def token():
            asked = self.codes.pop(request.form["code"], None)
            if asked is None:
                return jsonify(error="invalid_grant"), 400
            now = int(time.time())
            claims = {
                "iss": self.issuer,
                "aud": asked["client_id"],
                "iat": now,
                "exp": now + 300,
                "nonce": asked.get("nonce"),
                **self.claims,
                **self.token_overrides,
            }
            key = self.other_key if self.sign_with_other_key else self.key
            id_token = jwt.encode({"alg": "RS256", "kid": "published"}, claims, key)
            return jsonify(
                access_token=secrets.token_urlsafe(16),
                token_type="Bearer",
                expires_in=300,
                id_token=id_token,
            )

        return app


def callback_path(location: str) -> str:
    """The dashboard's callback address as a path and query, for the test client."""
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}"


def query_of(location: str) -> dict:
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


EXPIRED = timedelta(minutes=-10)


# What the single sign-on tests share.

ADA = {"email": "ada@example.com", "email_verified": True, "name": "Ada Lovelace"}


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
