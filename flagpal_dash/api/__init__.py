"""The token API that FlagPal clients and reverse proxies call (JSON:API).

``GET /api/v1/token`` describes the presented token; ``GET /api/v1/auth`` (and
``/api/v1/auth/<ability>``) answers a reverse proxy's forward-auth subrequest (the rule
is in forward_auth.py); ``POST /api/v1/tokens/revoke`` takes reports of leaked tokens
(see leak_reports.py); ``POST /api/v1/token/rotate`` lets a token with the ``rotate``
ability replace itself (self_rotation.py). Any future FlagPal API route is guarded with
one line: ``@token_required("read")``.
"""

import orjson
from flask import Blueprint, Response, current_app, render_template, request
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException

from .. import abilities as ability
from .. import limits
from ..core import self_rotation as self_rotation_rules
from ..extensions import db
from ..models import utcnow
from . import forward_auth, hot_path, leak_reports, openapi, self_rotation
from .errors import MEDIA_TYPE, ApiError, unauthorized
from .hot_path import JSON_OPTIONS, token_resource
from .verification import REFUSALS, VerifiedToken, install, token_required

bp = Blueprint("api", __name__, url_prefix="/api/v1")
__all__ = ["bp", "install", "token_required"]


@bp.get("/token")
def describe_token():
    """The presented token as a JSON:API ``api-tokens`` resource (hot_path.describe).

    Answered by the hot path before Flask sees it; this view gives the route its place
    in Flask (405, OPTIONS, the OpenAPI document) and the same answer when called."""
    return hot_path.flask_response(current_app, request.path, request.environ)


@bp.post("/token/rotate")
@token_required(ability.ROTATE)
def rotate_token(token: VerifiedToken):
    """The presented token replaces itself (``core.self_rotation.rotate_itself``): ``201`` with
    the replacement, its value in ``meta.value`` this once. The old value keeps working
    for the grace asked (``grace``: see self_rotation.py; 1 hour when not given)."""
    grace = self_rotation.requested_grace()
    try:
        new, value = self_rotation_rules.rotate_itself(token.id, grace, now=utcnow())
    except self_rotation_rules.AlreadyRotated as error:
        db.session.rollback()
        raise ApiError(409, error.code, "Token already rotated", str(error)) from None
    except self_rotation_rules.StoppedWorking as error:
        # Revoked or expired between its check and now: answered as the check would.
        db.session.rollback()
        raise unauthorized(*REFUSALS[error.state]) from None
    db.session.commit()
    document = {"data": token_resource(new, token.project_slug), "meta": {"value": value}}
    return Response(
        orjson.dumps(document, option=JSON_OPTIONS),
        201,
        mimetype=MEDIA_TYPE,
        # The value is in this answer only: no cache may keep it.
        headers={"Cache-Control": "no-store"},
    )


# Proxies send GET (Flask adds HEAD). OPTIONS goes through the same check instead of
# Flask's automatic 200, so that no method is answered without a token.
@bp.route(
    "/auth",
    methods=["GET", "OPTIONS"],
    endpoint="forward_auth",
    provide_automatic_options=False,
)
@bp.route(
    f"/auth/<any({', '.join(forward_auth.FIXED_ABILITIES)}):fixed>",
    methods=["GET", "OPTIONS"],
    endpoint="forward_auth",
    provide_automatic_options=False,
)
def answer_forward_auth(fixed: str | None = None):
    """For nginx ``auth_request``, Traefik ForwardAuth and Caddy ``forward_auth``: 204
    when the token may make the original request, naming its project and token
    (hot_path.let_through; answered by the hot path, as ``describe_token`` is)."""
    return hot_path.flask_response(current_app, request.path, request.environ)


@bp.post("/tokens/revoke")
@limits.leak_reports_per_address
def revoke_leaked_tokens():
    """Secret scanners report FlagPal tokens found in public here, in GitHub's format or
    as a plain list; each one that still works is revoked before the answer is sent.
    No authentication, and one answer whatever matched: see leak_reports.py."""
    leak_reports.revoke_reported(leak_reports.read_reports())
    return leak_reports.accepted()


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 document of this API (openapi.py), for clients and tools."""
    return Response(orjson.dumps(openapi.document()), mimetype="application/json")


@bp.get("/docs")
def api_docs():
    """The same document as a page people read: each operation, its parameters, body
    and answers, rendered here (no script from elsewhere)."""
    return render_template(
        "api/docs.html", document=openapi.document(), operations=openapi.operations()
    )


@bp.app_template_filter()
def inline_code(text: str) -> Markup:
    """The document's `backticked` words as <code>, the rest escaped (api/docs.html)."""
    parts = escape(text).split("`")
    return Markup("").join(
        Markup("<code>{}</code>").format(part) if index % 2 else part
        for index, part in enumerate(parts)
    )


@bp.errorhandler(ApiError)
def api_error(error: ApiError):
    return error.response()


@bp.errorhandler(429)
def too_many_requests(error: HTTPException):
    """Past a limit (leaked-token reports), a JSON:API document instead of the page."""
    return ApiError(
        429,
        "too_many_requests",
        "Too many requests",
        f"Too many requests from this address. Wait {limits.retry_in()}, then try again.",
        {"Retry-After": str(limits.retry_after())},
    ).response()


def http_error_document(error: HTTPException) -> Response:
    """Routing errors under /api/ (404, 405, …) as JSON:API documents, not HTML pages.
    A 405 keeps the ``Allow`` header the HTTP standard requires (what a client may
    send instead)."""
    allowed = getattr(error, "valid_methods", None)
    return ApiError(
        error.code or 500,
        error.name.lower().replace(" ", "_"),
        error.name,
        error.description or error.name,
        {"Allow": ", ".join(sorted(allowed))} if allowed else None,
    ).response()
