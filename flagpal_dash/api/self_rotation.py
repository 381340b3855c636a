"""Self-rotation's door: ``POST /api/v1/token/rotate`` reads what the token asks for
(the old value's grace) from an optional JSON:API body. The rule is
``core.self_rotation.rotate_itself``.

The grace is written ``now``, ``<n>m`` (minutes) or ``<n>h`` (hours), at most 24 hours:
short words a shell script or a CI variable can carry, with no ISO 8601 durations to
get wrong. Anything else is refused with where it is in the body (``source.pointer``).
"""

import re
from datetime import timedelta

from ..core.self_rotation import SELF_ROTATION_GRACE_DEFAULT, SELF_ROTATION_GRACE_LONGEST
from .bodies import MAX_BYTES, ResourceBody
from .errors import ApiError

RESOURCE_TYPE = "api-tokens"
GRACE_PATTERN = re.compile(r"(?P<count>[1-9][0-9]{0,3})(?P<unit>[mh])")
# Exactly the graces accepted (at most 24 hours), for the OpenAPI document: a client
# can check its value before sending it. tests/test_openapi.py proves both agree.
ACCEPTED_GRACE = (
    r"^(now|([1-9]|1[0-9]|2[0-4])h|([1-9][0-9]{0,2}|1[0-3][0-9]{2}|14[0-3][0-9]|1440)m)$"
)
UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1)}
# The forms a grace may take, as the OpenAPI document and the errors state them.
GRACE_FORMS = "`now`, minutes like `30m`, or hours like `1h` or `24h` (no leading zeros)"


def invalid(detail: str, pointer: str) -> ApiError:
    return ApiError(422, "invalid_rotation", "Invalid rotation request", detail, pointer=pointer)


BODY = ResourceBody(
    RESOURCE_TYPE,
    frozenset({"grace"}),
    too_large=f"A rotation request is at most {MAX_BYTES} bytes: send only the grace.",
    unknown="A rotation takes only the attribute `grace`; the replacement keeps the "
    "token's name, abilities and lifetime.",
    invalid=invalid,
    optional=True,
)


def requested_grace() -> timedelta:
    """The grace the request's body asks for (``SELF_ROTATION_GRACE_DEFAULT`` with no
    body); an ``ApiError`` (4xx) for a body that is not a rotation request."""
    attributes = BODY.read()
    if not attributes or "grace" not in attributes:
        return SELF_ROTATION_GRACE_DEFAULT
    return grace_of(attributes["grace"])


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
