"""The token API's two hot routes, answered before Flask sees the request.

``GET /api/v1/token`` (an app asking about its own token) and ``/api/v1/auth`` (a reverse
proxy asking, for every request it forwards, whether to let it through) are what
FlagPal Dash answers most. Through Flask each would pay for a request context, an app
context, URL routing and the session and sign-in hooks, none of which a bearer token
needs: ``make bench`` shows that cost beside the check itself. ``HotPath`` is WSGI
middleware that answers exactly these requests and hands every other one to Flask.

- The same rules decide: ``verification.admitted``, which ``token_required`` runs for
  every other token route (header, token, abilities; the use counted, ``last_used_at``,
  metrics when on), and ``forward_auth.abilities_needed``.
- The same answers: the Flask routes stay registered (405 with ``Allow``, ``OPTIONS`` on
  /token, ``url_for``, the OpenAPI document) and their views call ``answer`` below, so
  the two doors cannot drift (tests/test_hot_path.py compares them).
- It sits below the security headers and ProxyFix (security.py): its answers carry the
  headers every answer has, and the access log sees the client the app believes.
"""

from collections.abc import Callable
from typing import NamedTuple

import orjson
from flask import Flask, Response
from werkzeug.http import HTTP_STATUS_CODES

from .. import abilities as ability
from . import forward_auth, self_rotation
from .errors import MEDIA_TYPE, ApiError, internal_error
from .verification import (
    EXTENSION_KEY,
    TokenAuthority,
    VerifiedToken,
    admitted,
    malformed,
    query_pairs,
)

PREFIX = "/api/v1"
EXTENSION_KEY_HOT_PATH = "flagpal_dash.hot_path"
# Times as RFC 3339 in UTC to the second: "2026-11-28T10:18:49Z".
JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS


class Answer(NamedTuple):
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class Route(NamedTuple):
    endpoint: str  # the Flask view's name: what metrics count responses by
    methods: frozenset[str]
    answer: Callable[[VerifiedToken], Answer]
    needs: Callable[[dict], str | tuple[str, ...]] | None


def token_resource(token, project_slug: str) -> dict:
    """A token (a ``VerifiedToken`` or an ``ApiToken``) as a JSON:API ``api-tokens``
    resource: what ``GET /api/v1/token`` and a self-rotation answer."""
    return {
        "type": self_rotation.RESOURCE_TYPE,
        "id": str(token.id),
        "attributes": {
            "name": token.name,
            "abilities": ability.ordered(token.abilities),
            "created_at": token.created_at,
            "expires_at": token.expires_at,
            "last_used_at": token.last_used_at,
        },
        "relationships": {"project": {"data": {"type": "projects", "id": project_slug}}},
    }


def describe(token: VerifiedToken) -> Answer:
    """``GET /api/v1/token``: the presented token as a JSON:API resource."""
    body = orjson.dumps({"data": token_resource(token, token.project_slug)}, option=JSON_OPTIONS)
    return Answer(200, [("Content-Type", MEDIA_TYPE), ("Content-Length", str(len(body)))], body)


def let_through(token: VerifiedToken) -> Answer:
    """``/api/v1/auth``: 204, naming the token's project and the token for the upstream."""
    headers = [("X-FlagPal-Project", token.project_slug), ("X-FlagPal-Token-Id", str(token.id))]
    return Answer(204, headers, b"")


def forward_auth_needs(metrics_path: str, fixed: str | None):
    """What a forward-auth subrequest to /api/v1/auth[/``fixed``] needs, read from its
    environ: the ability the auth URL's path names, and the one the original request
    needs (forward_auth.py). The query is never read for it: Caddy passes the client's
    query string through to this URL."""

    def needs(environ: dict) -> str | tuple[str, ...]:
        if environ.get("QUERY_STRING") and "ability" in query_names(environ):
            raise ApiError(
                400,
                "ability_in_query",
                "Ability in the query",
                "Name the ability in the auth URL's path, like /api/v1/auth/read (or /write, "
                "/metrics), or use /api/v1/auth to infer it from the original request. "
                "?ability= is not read: some proxies pass the client's query string on.",
            )
        try:
            return forward_auth.abilities_needed(
                fixed,
                (environ.get("HTTP_X_ORIGINAL_METHOD"), environ.get("HTTP_X_FORWARDED_METHOD")),
                (environ.get("HTTP_X_ORIGINAL_URI"), environ.get("HTTP_X_FORWARDED_URI")),
                metrics_path,
                environ.get("HTTP_X_HTTP_METHOD_OVERRIDE")
                or environ.get("HTTP_X_HTTP_METHOD")
                or environ.get("HTTP_X_METHOD_OVERRIDE"),
            )
        except forward_auth.Refused as refused:
            if refused.status == 401:
                raise malformed(refused.detail) from None
            raise ApiError(refused.status, refused.code, refused.title, refused.detail) from None

    return needs


def query_names(environ: dict) -> set[str]:
    return {name for name, _ in query_pairs(environ)}


def routes(metrics_path: str) -> dict[str, Route]:
    """The hot routes by path. Proxies send GET (HEAD comes with it, as in Flask);
    OPTIONS on /auth goes through the same check rather than a free 200, so that no
    method is answered there without a token."""
    table = {
        PREFIX + "/token": Route("api.describe_token", frozenset({"GET", "HEAD"}), describe, None)
    }
    for fixed in (None, *forward_auth.FIXED_ABILITIES):
        path = PREFIX + "/auth" + (f"/{fixed}" if fixed else "")
        table[path] = Route(
            "api.forward_auth",
            frozenset({"GET", "HEAD", "OPTIONS"}),
            let_through,
            forward_auth_needs(metrics_path, fixed),
        )
    return table


def answer(authority: TokenAuthority, route: Route, environ: dict) -> Answer:
    """The answer to a request for ``route``: the check, then the route's answer, or
    the JSON:API document saying why not. Never raises."""
    try:
        return route.answer(admitted(authority, route.needs, environ))
    except ApiError as error:
        return refusal(error)
    except Exception:
        authority.logger.exception("Unhandled error")
        return refusal(internal_error())


def refusal(error: ApiError) -> Answer:
    body = error.body()
    headers = [("Content-Type", MEDIA_TYPE), ("Content-Length", str(len(body)))]
    return Answer(error.status, headers + list(error.headers.items()), body)


def flask_response(app: Flask, route_path: str, environ: dict) -> Response:
    """The same answer as a Flask response, for the routes' Flask views."""
    middleware = app.extensions[EXTENSION_KEY_HOT_PATH]
    status, headers, body = answer(middleware.authority, middleware.routes[route_path], environ)
    return Response(body, status, headers)


class HotPath:
    """WSGI middleware: answers the hot routes itself, passes the rest to ``wsgi_app``."""

    def __init__(self, app: Flask, wsgi_app):
        self.wsgi_app = wsgi_app
        self.authority: TokenAuthority = app.extensions[EXTENSION_KEY]
        self.routes = routes(app.config["METRICS_PATH"])
        # Status lines as Werkzeug writes them ("401 UNAUTHORIZED"), made once.
        self.status_lines = {
            code: f"{code} {HTTP_STATUS_CODES[code].upper()}" for code in HTTP_STATUS_CODES
        }
        app.extensions[EXTENSION_KEY_HOT_PATH] = self

    def __call__(self, environ, start_response):
        route = self.routes.get(environ.get("PATH_INFO"))
        method = environ.get("REQUEST_METHOD")
        if route is None or method not in route.methods:
            return self.wsgi_app(environ, start_response)
        status, headers, body = answer(self.authority, route, environ)
        metrics = self.authority.metrics
        if metrics is not None:
            metrics.count(route.endpoint, status)
        start_response(self.status_lines[status], headers)
        return [] if method == "HEAD" else [body]


def install(app: Flask) -> None:
    """Put the hot path in front of the app's own WSGI application. Before
    ``security.init_app``, which wraps both in the headers and ProxyFix."""
    app.wsgi_app = HotPath(app, app.wsgi_app)
