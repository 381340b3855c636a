"""Reading a JSON:API request document (``{"data": {"type": …, "attributes": {…}}}``),
for every route that takes one: self-rotation and the management API's writes. One
reading, so each refuses a body the same way: too large (413), not JSON (415 for
another media type, 400 for bytes that are not JSON), or JSON that is not the document
the route takes (422, with ``source.pointer`` saying where).

What the attributes' values may be is each route's own business; this only gives them.
"""

from collections.abc import Callable
from dataclasses import dataclass

import orjson
from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from .errors import MEDIA_TYPE, ApiError

# Far more than any of the documents needs (a token's name is 100 characters at most).
MAX_BYTES = 4096
JSON_MEDIA_TYPES = frozenset({"application/json", MEDIA_TYPE})
ATTRIBUTES = "/data/attributes"


@dataclass(frozen=True)
class ResourceBody:
    """The request document a route takes: a resource of ``resource_type`` with at most
    ``attributes``. ``optional``: no body at all is fine (``read`` gives None).
    ``too_large`` and ``unknown`` are the words for a body over ``MAX_BYTES`` and for an
    attribute the route does not take; ``invalid`` makes the 422 for a detail and its
    pointer."""

    resource_type: str
    attributes: frozenset[str]
    too_large: str
    unknown: str
    invalid: Callable[[str, str], ApiError]
    optional: bool = False

    def read(self) -> dict | None:
        """The request's attributes (an empty dict when it sends none); None when it
        sends no body and may not; an ``ApiError`` (4xx) for a body that is not the
        document."""
        request.max_content_length = MAX_BYTES
        try:
            body = request.get_data(cache=False)
        except RequestEntityTooLarge:
            raise ApiError(413, "body_too_large", "Body too large", self.too_large) from None
        if self.optional and not body.strip():
            return None
        if request.mimetype not in JSON_MEDIA_TYPES:
            raise ApiError(
                415,
                "unsupported_media_type",
                "Unsupported media type",
                f"Send the body as JSON:API, with `Content-Type: {MEDIA_TYPE}`"
                + (", or no body at all." if self.optional else "."),
            )
        try:
            # No body where one is needed: a document without the resource.
            document = orjson.loads(body) if body.strip() else {}
        except orjson.JSONDecodeError:
            raise ApiError(
                400, "invalid_json", "Invalid JSON", "The body is not valid JSON in UTF-8."
            ) from None
        data = self.member(document, "data", "", required=True)
        if data.get("type") != self.resource_type:
            raise self.invalid(f'The resource type must be "{self.resource_type}".', "/data/type")
        attributes = self.member(data, "attributes", "/data", required=False)
        for name in sorted(set(attributes) - self.attributes):
            raise self.invalid(self.unknown, pointer_to(name))
        return attributes

    def member(self, parent, name: str, pointer: str, *, required: bool) -> dict:
        """``parent[name]``, which must be a JSON object (an empty one when optional
        and absent)."""
        if not isinstance(parent, dict):
            raise self.invalid("This must be a JSON object.", pointer)
        if name not in parent and not required:
            return {}
        value = parent.get(name)
        if not isinstance(value, dict):
            example = f': {{"data": {{"type": "{self.resource_type}", …}}}}.'
            raise self.invalid(
                f"`{name}` must be a JSON object" + (example if name == "data" else "."),
                f"{pointer}/{name}",
            )
        return value


def pointer_to(attribute: str) -> str:
    """The JSON Pointer (RFC 6901) to an attribute: ``~`` and ``/`` in its name escaped."""
    return f"{ATTRIBUTES}/{attribute.replace('~', '~0').replace('/', '~1')}"
