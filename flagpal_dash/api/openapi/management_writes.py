"""The management API's writes (api/management/writing.py): creating, revoking and
rotating a project's tokens, their request documents and every answer they give.

What a request document may hold is stated as exactly as JSON Schema can: a name that
is not blank and has no control characters (what ``validation.token_name`` takes),
abilities from the list, the graces the rotate dialog offers. Two rules depend on the
moment and the project and cannot be: an ``expires_at`` must be after now and within
the ten years any token may last, and the project's maximum lifetime may ask for an
earlier expiry; both are 422 ``invalid_attribute``.
"""

from ... import abilities as ability
from ...core import tokens
from ...validation import MAX_LIFETIME_DAYS, MAX_TOKEN_NAME_LENGTH
from .. import bodies
from ..management import writing
from .components import UNAVAILABLE, json_api, nullable_time, ref, refusal
from .management_components import NOT_A_MEMBER, PERSONAL, links, personal_token_refused

# What ``validation.token_name`` takes: white space around it (dropped), and between,
# at least one character that is not white space and no control character (Cc).
CONTROL = r"\u0000-\u001f\u007f-\u009f"
NAME_PATTERN = rf"^\s*[^{CONTROL}]*[^\s{CONTROL}][^{CONTROL}]*\s*$"
EXPIRY_ATTRIBUTES = {
    "expires_at": nullable_time()
    | {
        "description": "When it stops working: a date and time with its offset, after now "
        f"and at most {MAX_LIFETIME_DAYS} days ahead; null for no expiry. Not with "
        "`expires_in_days`."
    },
    "expires_in_days": {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_LIFETIME_DAYS,
        "description": "Days from now until it stops working. Not with `expires_at`.",
    },
}
NOT_BOTH = {"not": {"required": list(EXPIRY_ATTRIBUTES)}}


def request_document(attributes: dict, required: list[str]) -> dict:
    """A JSON:API document of one ``api-tokens`` resource with these ``attributes``."""
    attributes_schema = {
        "type": "object",
        "required": required,
        "properties": attributes,
        "additionalProperties": False,
        **NOT_BOTH,
    }
    return {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "object",
                "required": ["type", *(["attributes"] if required else [])],
                "properties": {
                    "type": {"const": writing.RESOURCE_TYPE},
                    "attributes": attributes_schema,
                },
            }
        },
    }


MANAGEMENT_WRITE_SCHEMAS = {
    "NewTokenRequest": request_document(
        {
            "name": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_TOKEN_NAME_LENGTH,
                "pattern": NAME_PATTERN,
                "description": "Which app and environment uses it; not the name of another "
                "active token of the project (in any case). Spaces around it are dropped.",
            },
            "abilities": {
                "type": "array",
                "minItems": 1,
                "items": {"enum": list(ability.LABELS)},
                "description": "`*` is Full access (everything, including abilities added later).",
            },
            **EXPIRY_ATTRIBUTES,
        },
        ["name", "abilities"],
    ),
    "RotateRequest": request_document(
        {
            "grace": {
                "enum": [grace.value for grace in tokens.GRACE_PERIODS],
                "default": tokens.DEFAULT_GRACE,
                "description": "When the old token stops working (never later than it "
                "would have): `now` revokes it at once.",
            },
            **EXPIRY_ATTRIBUTES,
        },
        [],
    ),
}


def shown_once(description: str) -> dict:
    """201: the new token, its value this once."""
    return json_api(
        {
            "type": "object",
            "required": ["data", "meta", "links"],
            "properties": {
                "data": ref("ProjectToken"),
                "meta": {
                    "type": "object",
                    "required": ["value"],
                    "properties": {
                        "value": {
                            "type": "string",
                            "pattern": "^flagpal_[0-9A-Za-z]{46}$",
                            "description": "The token's value: shown this once, never again.",
                        }
                    },
                    "additionalProperties": False,
                },
                "links": links("self"),
            },
            "additionalProperties": False,
        },
        description,
        {
            "Location": {
                "schema": {"type": "string"},
                "required": True,
                "description": "The new token's URL.",
            },
            "Cache-Control": {"schema": {"const": "no-store"}, "required": True},
        },
    )


# After a create or a rotation, the new token is at hand by its id.
NEW_TOKEN_LINKS = {
    operation: {
        "operationId": operation,
        "parameters": {
            "slug": "$request.path.slug",
            "token_id": "$response.body#/data/id",
        },
    }
    for operation in ("showProjectToken", "revokeProjectToken", "rotateProjectToken")
}


def write_operation(
    operation_id: str,
    summary: str,
    description: str,
    parameters: list[dict],
    answers: dict,
    body: str | None,
    body_required: bool = True,
) -> dict:
    """A write for developers and owners: ``answers`` (its successes and conflicts)
    beside the refusals every write shares, and those of a request document."""
    bad_request = ["invalid_parameter", *(["invalid_json"] if body else [])]
    responses = {
        **answers,
        "400": refusal(
            400,
            "A query parameter (this route reads none; `source.parameter` names it)"
            + (", or a body that is not JSON." if body else "."),
            bad_request,
        ),
        "401": personal_token_refused(),
        "403": refusal(403, "A viewer cannot create, rotate or revoke tokens.", ["forbidden"]),
        "404": refusal(
            404, NOT_A_MEMBER + " Or the project has no token with this id.", ["not_found"]
        ),
    }
    operation = {
        "operationId": operation_id,
        "summary": summary,
        "description": description,
        "tags": ["Management"],
        "security": PERSONAL,
        "parameters": parameters,
    }
    if body:
        responses["413"] = refusal(
            413, f"A body over {bodies.MAX_BYTES} bytes.", ["body_too_large"]
        )
        responses["415"] = refusal(415, "A body not sent as JSON.", ["unsupported_media_type"])
        responses["422"] = refusal(
            422,
            "JSON, but not the request document (`invalid_document`), or a value a rule "
            "refuses, in the API Tokens page's words (`invalid_attribute`, `name_taken`); "
            "`source.pointer` says where.",
            ["invalid_document", "invalid_attribute", *(["name_taken"] if "New" in body else [])],
        )
        operation["requestBody"] = {
            "required": body_required,
            "content": {
                media_type: {"schema": ref(body)} for media_type in sorted(bodies.JSON_MEDIA_TYPES)
            },
        }
    responses["503"] = UNAVAILABLE
    operation["responses"] = dict(sorted(responses.items()))
    return operation


def create_token(slug: dict) -> dict:
    answer = shown_once("The new token, with its value this once.")
    answer["links"] = NEW_TOKEN_LINKS
    return write_operation(
        "createProjectToken",
        "Create an API token",
        "As the API Tokens page's Create: a name, abilities, and when it expires "
        "(`expires_at` or `expires_in_days`; neither: never, unless the project's policy "
        "sets a maximum lifetime). Its value is in `meta.value`, this once.",
        [slug],
        {"201": answer},
        "NewTokenRequest",
    )


def revoke_token(slug: dict, token_id: dict) -> dict:
    return write_operation(
        "revokeProjectToken",
        "Revoke an API token",
        "At once: the very next request with it fails. The token stays in the list, "
        "revoked. Revoking a revoked token changes nothing (`meta.changed` is false).",
        [slug, token_id],
        {
            "200": json_api(
                {
                    "type": "object",
                    "required": ["data", "meta", "links"],
                    "properties": {
                        "data": ref("ProjectToken"),
                        "meta": {
                            "type": "object",
                            "required": ["changed"],
                            "properties": {
                                "changed": {
                                    "type": "boolean",
                                    "description": "False when it was revoked already.",
                                }
                            },
                            "additionalProperties": False,
                        },
                        "links": links("self"),
                    },
                    "additionalProperties": False,
                },
                "The token, revoked.",
            )
        },
        None,
    )


def rotate_token(slug: dict, token_id: dict) -> dict:
    answer = shown_once("The replacement, with its value this once.")
    answer["links"] = NEW_TOKEN_LINKS
    return write_operation(
        "rotateProjectToken",
        "Rotate an API token",
        "As the API Tokens page's Rotate: a replacement with the same name and abilities, "
        "its value in `meta.value` this once; the old token keeps working for the `grace` "
        f"chosen ({tokens.DEFAULT_GRACE} when not given). The replacement lasts as long as "
        "the old one was made to (within the project's maximum lifetime) unless "
        "`expires_at` or `expires_in_days` says otherwise. The body is optional.",
        [slug, token_id],
        {
            "201": answer,
            "409": refusal(
                409,
                "The token was rotated already (rotate its replacement), or is revoked or "
                "expired (create a new one).",
                list(tokens.CannotRotate.CODES),
            ),
        },
        "RotateRequest",
        body_required=False,
    )
