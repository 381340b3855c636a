"""The management API's door and what its routes share: who is calling (``caller``,
``person_required``), their membership in the project a route names (``project_for``),
the query parameters the lists read, and the JSON:API documents the routes answer with.
"""

import functools
import math
import re
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import orjson
from flask import Blueprint, Response, current_app, request, url_for

from ... import abilities as ability
from ... import token_format
from ...access import membership_in
from ...core import personal_tokens, tokens
from ...core.personal_tokens import Refusal, Refused
from ...extensions import db
from ...models import ApiToken, Membership, PersonalToken, User, utcnow
from ...permissions import Permission
from ..errors import MEDIA_TYPE, ApiError, unauthorized
from ..verification import presented_token, query_pairs, refuse_token_in_query

bp = Blueprint("management", __name__, url_prefix="/api/v1")

# Times as RFC 3339 in UTC to the second, as the token API writes them.
JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100

WHERE_TO_MAKE_ONE = "Make one on your Account page in FlagPal Dash."
REFUSALS = {
    Refusal.MALFORMED: (
        "token_malformed",
        "Token malformed",
        "That is not a personal access token: it must be `flagpal_pat_` and 46 letters "
        "and digits with a valid checksum. Check it was copied whole.",
    ),
    Refusal.UNKNOWN: (
        "token_invalid",
        "Token invalid",
        "This personal access token is not known. It may have been mistyped.",
    ),
    Refusal.EXPIRED: (
        "token_expired",
        "Token expired",
        f"This personal access token has expired. {WHERE_TO_MAKE_ONE}",
    ),
    Refusal.REVOKED: (
        "token_revoked",
        "Token revoked",
        f"This personal access token was revoked. {WHERE_TO_MAKE_ONE}",
    ),
    Refusal.DEACTIVATED: (
        "account_deactivated",
        "Account deactivated",
        "The account this token belongs to is deactivated, and its tokens with it.",
    ),
}


class Caller(NamedTuple):
    """Who is asking: the person, and the personal token they sent."""

    person: User
    token: PersonalToken


def refused(why: Refusal) -> ApiError:
    return unauthorized(*REFUSALS[why])


def personal_token_needed() -> ApiError:
    return unauthorized(
        "personal_token_required",
        "Personal access token required",
        "This is a project API token, which only FlagPal's API takes. The management API "
        f"takes a personal access token (`flagpal_pat_…`). {WHERE_TO_MAKE_ONE}",
    )


def presented_personal_token() -> str:
    """The value in the request's ``Authorization: Bearer`` header (the token API's
    rules for the header, words of its own for what is missing)."""
    environ = request.environ
    if environ.get("QUERY_STRING"):
        refuse_token_in_query(query_pairs(environ))
    try:
        return presented_token(environ.get("HTTP_AUTHORIZATION"))
    except ApiError as error:
        if error.code != "token_missing":
            raise
        raise unauthorized(
            "token_missing",
            "Token missing",
            "Send a personal access token in the header `Authorization: Bearer <token>`. "
            + WHERE_TO_MAKE_ONE,
            token_sent=False,
        ) from None


def caller(now: datetime) -> Caller:
    """The person whose good personal token the request carries; otherwise an
    ``ApiError`` (401) saying why not. Its use is recorded (at most once a minute)."""
    value = presented_personal_token()
    if token_format.is_well_formed(value):
        raise personal_token_needed()
    try:
        token = personal_tokens.checked(value, now)
    except Refused as refusal:
        raise refused(refusal.why) from None
    interval = timedelta(seconds=current_app.config["LAST_USED_INTERVAL"])
    personal_tokens.record_use(token, now, interval)
    db.session.commit()
    return Caller(token.user, token)


def person_required(view):
    """Guard a management route: the view receives the ``Caller`` as its first argument."""

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        return view(caller(utcnow()), *args, **kwargs)

    return guarded


def project_for(
    person: User, slug: str, permission: Permission, *, lock: bool = False
) -> Membership:
    """``person``'s membership in project ``slug``, with the project, if their role has
    ``permission``: 404 when they are not a member (the same answer, in one query,
    whether the project exists or not), 403 when their role lacks it. With ``lock``
    (a route that changes the project's tokens), the project is held until the
    request is done, as the pages' role check holds it for a POST: what a write checks
    (a name not taken, a token not yet rotated) still holds when it commits."""
    membership = membership_in(person.id, slug, lock=lock)
    if membership is None:
        raise ApiError(
            404,
            "not_found",
            "Not found",
            "There is no project with this slug, or you are not a member of it.",
        )
    if not membership.can(permission):
        raise ApiError(
            403,
            "forbidden",
            "Forbidden",
            f"As a {membership.role.value} of this project you cannot {permission.value}.",
        )
    return membership


def project_token(membership: Membership, token_id: int) -> ApiToken:
    """The project's token ``token_id``; 404 for an unknown id or another project's."""
    token = tokens.token_by_id(membership.project, token_id)
    if token is None:
        raise ApiError(404, "not_found", "Not found", "This project has no token with this id.")
    return token


# Query parameters.


def check_parameters(allowed: frozenset[str]) -> None:
    """400 for a query parameter this route does not read (JSON:API: a server must not
    ignore one it does not support), or one sent twice."""
    for name in request.args:
        if name not in allowed:
            raise bad_parameter(name, f"This route does not read `{name}`.")
        if len(request.args.getlist(name)) > 1:
            raise bad_parameter(name, f"Send `{name}` once.")


def bad_parameter(name: str, detail: str) -> ApiError:
    return ApiError(400, "invalid_parameter", "Invalid query parameter", detail, parameter=name)


def whole_number(name: str, default: int, highest: int) -> int:
    value = request.args.get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= highest:
        raise bad_parameter(name, f"`{name}` must be a whole number from 1 to {highest:,}.")
    return int(value)


def moment(name: str) -> datetime | None:
    """An RFC 3339 date and time with its offset, like ``2026-12-01T00:00:00Z``: its
    ``T`` and ``Z`` in either case, and a leap second (``23:59:60``, which Python cannot
    hold) as the second before it, as RFC 3339 allows both."""
    value = request.args.get(name)
    if value is None:
        return None
    parsed = rfc3339(value)
    if parsed is None:
        raise bad_parameter(
            name,
            f"`{name}` must be a date and time with its offset, like 2026-12-01T00:00:00Z.",
        )
    return parsed


def rfc3339(value: str) -> datetime | None:
    """``value`` read as an RFC 3339 date and time with its offset, in UTC; None when it
    is not one. (A query parameter's and a request body's, the same way.)"""
    written = LEAP_SECOND.sub(r"\g<1>59", value.upper())
    try:
        parsed = datetime.fromisoformat(written)
    except ValueError:
        return None
    if parsed.tzinfo is None or "T" not in written:
        return None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        # Within an offset of year 1's start or year 9999's end: before or after
        # every moment UTC can write.
        return datetime.min.replace(tzinfo=UTC) if parsed.year == 1 else END_OF_TIME


LEAP_SECOND = re.compile(r"^([0-9-]+T[0-9]{2}:[0-9]{2}:)60(?=[.+Z-]|$)")
END_OF_TIME = datetime.max.replace(tzinfo=UTC)


# Documents.


def document(data, **more) -> Response:
    body = {"data": data, **more}
    return Response(orjson.dumps(body, option=JSON_OPTIONS), mimetype=MEDIA_TYPE)


def project_resource(membership: Membership) -> dict:
    project = membership.project
    attributes = {"name": project.name, "slug": project.slug, "role": membership.role.value}
    return {
        "type": "projects",
        "id": project.slug,
        "attributes": attributes,
        "links": {"self": url_for("management.show_project", slug=project.slug)},
    }


def paged_links(endpoint: str, number: int, size: int, total: int, **values) -> dict:
    """``self``, ``first``, ``last``, and ``prev``/``next`` where there is one."""
    last = max(1, math.ceil(total / size))
    args = {key: value for key, value in request.args.items() if not key.startswith("page[")}

    def link(page: int) -> str:
        return url_for(endpoint, **values, **args, **{"page[number]": page, "page[size]": size})

    links = {"self": link(number), "first": link(1), "last": link(last)}
    if number > 1:
        links["prev"] = link(min(number - 1, last))
    if number < last:
        links["next"] = link(number + 1)
    return links


def token_resource(token: ApiToken, slug: str, details: bool) -> dict:
    """A project token as ``api-tokens``: its name, status and creation for every
    member; the rest only for those who see tokens' details (as on the page)."""
    now = utcnow()
    attributes = {
        "name": token.name,
        "status": tokens.status(token, now).value,
        "created_at": token.created_at,
    }
    resource = {"type": "api-tokens", "id": str(token.id), "attributes": attributes}
    if details:
        attributes |= {
            "state": tokens.state(token, now).value,
            "hint": token_format.display_hint(token.hint),
            "abilities": ability.ordered(token.abilities),
            "expires_at": token.expires_at,
            "last_used_at": token.last_used_at,
            "created_by": token.created_by.name if token.created_by else None,
            "revoked_at": token.revoked_at,
            "revoked_by": token.revoked_by.name if token.revoked_by else None,
            "revoked_reason": token.revoked_reason,
            "rotated_at": token.rotated_at,
        }
        replaced_by = (
            {"type": "api-tokens", "id": str(token.replaced_by_id)}
            if token.replaced_by_id
            else None
        )
        resource["relationships"] = {"replaced_by": {"data": replaced_by}}
    resource["links"] = {"self": url_for("management.show_token", slug=slug, token_id=token.id)}
    return resource


@bp.errorhandler(ApiError)
def api_error(error: ApiError):
    return error.response()
