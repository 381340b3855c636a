"""The token API that FlagPal clients and reverse proxies call (JSON:API).

``GET /api/v1/token`` describes the presented token; ``GET /api/v1/auth`` answers a
reverse proxy's forward-auth subrequest; ``POST /api/v1/tokens/revoke`` takes reports of
leaked tokens (see leak_reports.py). Any future FlagPal API route is guarded with one
line: ``@token_required("read")``.
"""

from urllib.parse import parse_qsl, unquote, urlsplit

import orjson
from flask import Blueprint, Response, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from .. import abilities as ability
from .. import limits
from . import leak_reports
from .errors import MEDIA_TYPE, ApiError
from .verification import VerifiedToken, install, refuse_token_in_query, token_required

bp = Blueprint("api", __name__, url_prefix="/api/v1")
__all__ = ["bp", "install", "token_required"]

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# Times as RFC 3339 in UTC to the second: "2026-11-28T10:18:49Z".
JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS


@bp.get("/token")
@token_required()
def describe_token(token: VerifiedToken):
    """The presented token as a JSON:API ``api-tokens`` resource."""
    document = {
        "data": {
            "type": "api-tokens",
            "id": str(token.id),
            "attributes": {
                "name": token.name,
                "abilities": ability.ordered(token.abilities),
                "created_at": token.created_at,
                "expires_at": token.expires_at,
                "last_used_at": token.last_used_at,
            },
            "relationships": {"project": {"data": {"type": "projects", "id": token.project_slug}}},
        }
    }
    return Response(orjson.dumps(document, option=JSON_OPTIONS), mimetype=MEDIA_TYPE)


def needed_for_forward_auth() -> str:
    """The ability a forward-auth subrequest needs: ``?ability=``, or inferred from the
    original request the proxy is deciding on (its method and URI, sent as headers)."""
    headers = request.headers
    method = headers.get("X-Original-Method") or headers.get("X-Forwarded-Method")
    uri = urlsplit(headers.get("X-Original-URI") or headers.get("X-Forwarded-Uri") or "")
    if uri.query:
        refuse_token_in_query(MultiDict(parse_qsl(uri.query, keep_blank_values=True)))
    asked = request.args.get("ability")
    if asked is not None:
        if asked not in ability.ALL:
            raise ApiError(
                400,
                "ability_unknown",
                "Unknown ability",
                f"?ability= must be one of: {', '.join(sorted(ability.ALL))}.",
            )
        return asked
    if not method:
        raise ApiError(
            400,
            "method_unknown",
            "Original method unknown",
            "Forward-auth needs the original request's method: have the proxy send "
            "X-Original-Method (nginx) or X-Forwarded-Method, or call /api/v1/auth?ability=…",
        )
    method = method.upper()
    # The path decoded, without trailing slashes or case, as the upstream may route it,
    # so `/Metric-Time-Series/` or `%2Dseries` cannot pass as an ordinary write.
    path = unquote(uri.path).rstrip("/").lower()
    if method == "POST" and path.endswith("/metric-time-series"):
        return ability.METRICS
    return ability.READ if method in READ_METHODS else ability.WRITE


@bp.get("/auth")
@token_required(needed_for_forward_auth)
def forward_auth(token: VerifiedToken):
    """For nginx ``auth_request``, Traefik ForwardAuth and Caddy ``forward_auth``: 204
    when the token may make the original request, naming its project and token."""
    return Response(
        status=204,
        headers={"X-FlagPal-Project": token.project_slug, "X-FlagPal-Token-Id": str(token.id)},
    )


@bp.post("/tokens/revoke")
@limits.leak_reports_per_address
def revoke_leaked_tokens():
    """Secret scanners report FlagPal tokens found in public here, in GitHub's format or
    as a plain list; each one that still works is revoked before the answer is sent.
    No authentication, and one answer whatever matched: see leak_reports.py."""
    leak_reports.revoke_reported(leak_reports.read_reports())
    return leak_reports.accepted()


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
    """Routing errors under /api/ (404, 405, …) as JSON:API documents, not HTML pages."""
    return ApiError(
        error.code or 500,
        error.name.lower().replace(" ", "_"),
        error.name,
        error.description or error.name,
    ).response()
