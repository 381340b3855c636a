"""Self-rotation's door: ``POST /api/v1/token/rotate`` reads what the token asks for
(the old value's grace) from an optional JSON:API body. The rule is
``core.tokens.rotate_itself``.

The grace is written ``now``, ``<n>m`` (minutes) or ``<n>h`` (hours), at most 24 hours:
short words a shell script or a CI variable can carry, with no ISO 8601 durations to
get wrong. Anything else is refused with where it is in the body (``source.pointer``).
"""

import re
from datetime import timedelta

import orjson
from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from ..core.tokens import SELF_ROTATION_GRACE_DEFAULT, SELF_ROTATION_GRACE_LONGEST
from .errors import MEDIA_TYPE, ApiError

RESOURCE_TYPE = "api-tokens"
# Far more than the one attribute needs.
MAX_BYTES = 4096
JSON_MEDIA_TYPES = frozenset({"application/json", MEDIA_TYPE})
GRACE_PATTERN = re.compile(r"(?P<count>[1-9][0-9]{0,3})(?P<unit>[mh])")
# Exactly the graces accepted (at most 24 hours), for the OpenAPI document: a client
# can check its value before sending it. tests/test_openapi.py proves both agree.
ACCEPTED_GRACE = (
    r"^(now|([1-9]|1[0-9]|2[0-4])h|([1-9][0-9]{0,2}|1[0-3][0-9]{2}|14[0-3][0-9]|1440)m)$"
)
UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1)}
# The forms a grace may take, as the OpenAPI document and the errors state them.
GRACE_FORMS = "`now`, minutes like `30m`, or hours like `1h` or `24h` (no leading zeros)"
ATTRIBUTES = frozenset({"grace"})


def requested_grace() -> timedelta:
    """The grace the request's body asks for (``SELF_ROTATION_GRACE_DEFAULT`` with no
    body); an ``ApiError`` (4xx) for a body that is not a rotation request."""
    request.max_content_length = MAX_BYTES
    try:
        body = request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise ApiError(
            413,
            "body_too_large",
            "Body too large",
            f"A rotation request is at most {MAX_BYTES} bytes: send only the grace.",
        ) from None
    if not body.strip():
        return SELF_ROTATION_GRACE_DEFAULT
    if request.mimetype not in JSON_MEDIA_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            "Unsupported media type",
            f"Send the body as JSON:API, with `Content-Type: {MEDIA_TYPE}`, or no body at all.",
        )
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError(
            400, "invalid_json", "Invalid JSON", "The body is not valid JSON in UTF-8."
        ) from None
    data = member(document, "data", "", required=True)
    if data.get("type") != RESOURCE_TYPE:
        raise invalid(f'The resource type must be "{RESOURCE_TYPE}".', "/data/type")
    attributes = member(data, "attributes", "/data", required=False)
    for name in sorted(set(attributes) - ATTRIBUTES):
        raise invalid(
            "A rotation takes only the attribute `grace`; the replacement keeps the "
            "token's name, abilities and lifetime.",
            f"/data/attributes/{escaped(name)}",
        )
    if "grace" not in attributes:
        return SELF_ROTATION_GRACE_DEFAULT
    return grace_of(attributes["grace"])


def member(parent, name: str, pointer: str, *, required: bool) -> dict:
    """``parent[name]``, which must be a JSON object (an empty one when optional and absent)."""
    if not isinstance(parent, dict):
        raise invalid("This must be a JSON object.", pointer)
    if name not in parent and not required:
        return {}
    value = parent.get(name)
    if not isinstance(value, dict):
        raise invalid(
            f"`{name}` must be a JSON object"
            + (': {"data": {"type": "api-tokens", …}}.' if name == "data" else "."),
            f"{pointer}/{name}",
        )
    return value


def grace_of(value) -> timedelta:
    """A grace written as the module's docstring says, at most 24 hours."""
    pointer = "/data/attributes/grace"
    if value == "now":
        return timedelta(0)
    match = GRACE_PATTERN.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise invalid(f"Write the grace as {GRACE_FORMS}.", pointer)
    grace = int(match["count"]) * UNITS[match["unit"]]
    if grace > SELF_ROTATION_GRACE_LONGEST:
        raise invalid(
            "A token rotating itself keeps its old value for at most 24 hours. "
            "A person can give more on the dashboard.",
            pointer,
        )
    return grace


def invalid(detail: str, pointer: str) -> ApiError:
    return ApiError(422, "invalid_rotation", "Invalid rotation request", detail, pointer=pointer)


def escaped(name: str) -> str:
    """A JSON Pointer's reference token (RFC 6901): ``~`` and ``/`` escaped."""
    return name.replace("~", "~0").replace("/", "~1")
