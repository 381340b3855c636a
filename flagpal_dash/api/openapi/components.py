"""What the OpenAPI document's operations share: JSON:API error documents and the
responses made of them, and the token API's schemas."""

from ... import abilities as ability
from .. import leak_reports, self_rotation
from ..errors import MEDIA_TYPE

TOKEN_ERRORS = [
    "token_missing",
    "token_malformed",
    "token_invalid",
    "token_expired",
    "token_revoked",
]

# Schemas.


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable_time() -> dict:
    return {"type": ["string", "null"], "format": "date-time"}


SCHEMAS = {
    "Error": {
        "type": "object",
        "description": "One refusal: its HTTP status, a stable `code` for programs, and "
        "words for people; `source` names the member of the request body or the query "
        "parameter at fault.",
        "required": ["status", "code", "title", "detail"],
        "properties": {
            "status": {"type": "string", "pattern": "^[45][0-9]{2}$"},
            "code": {"type": "string"},
            "title": {"type": "string"},
            "detail": {"type": "string"},
            "source": {
                "type": "object",
                "description": "`pointer`: the member of the request body at fault; "
                "`parameter`: the query parameter at fault.",
                "minProperties": 1,
                "maxProperties": 1,
                "properties": {"pointer": {"type": "string"}, "parameter": {"type": "string"}},
                "additionalProperties": False,
            },
        },
        "additionalProperties": False,
    },
    "ApiToken": {
        "type": "object",
        "description": "A project API token, never its value.",
        "required": ["type", "id", "attributes", "relationships"],
        "properties": {
            "type": {"const": self_rotation.RESOURCE_TYPE},
            "id": {"type": "string", "pattern": "^[0-9]+$"},
            "attributes": {
                "type": "object",
                "required": ["name", "abilities", "created_at", "expires_at", "last_used_at"],
                "properties": {
                    "name": {"type": "string"},
                    "abilities": {
                        "type": "array",
                        "minItems": 1,
                        "uniqueItems": True,
                        "items": {"enum": list(ability.LABELS)},
                    },
                    "created_at": {"type": "string", "format": "date-time"},
                    "expires_at": nullable_time(),
                    "last_used_at": nullable_time(),
                },
                "additionalProperties": False,
            },
            "relationships": {
                "type": "object",
                "required": ["project"],
                "properties": {
                    "project": {
                        "type": "object",
                        "required": ["data"],
                        "properties": {
                            "data": {
                                "type": "object",
                                "required": ["type", "id"],
                                "properties": {
                                    "type": {"const": "projects"},
                                    "id": {"type": "string", "description": "The project's slug."},
                                },
                            }
                        },
                    }
                },
            },
        },
        "additionalProperties": False,
    },
    "RotationRequest": {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "object",
                "required": ["type"],
                "properties": {
                    "type": {"const": self_rotation.RESOURCE_TYPE},
                    "attributes": {
                        "type": "object",
                        "properties": {
                            "grace": {
                                "type": "string",
                                "pattern": self_rotation.ACCEPTED_GRACE,
                                "description": "How long the old value keeps working: "
                                f"{self_rotation.GRACE_FORMS}; at most 24 hours, and never "
                                "longer than the old token had left. "
                                "1 hour when not given.",
                            }
                        },
                        "additionalProperties": False,
                    },
                },
            }
        },
    },
    "LeakReport": {
        "type": "array",
        "description": "GitHub's secret scanning format, a plain list of token strings, "
        "or both mixed.",
        "maxItems": leak_reports.MAX_ENTRIES,
        "items": {
            "anyOf": [
                {"type": "string", "maxLength": leak_reports.MAX_VALUE_LENGTH},
                {
                    "type": "object",
                    "required": ["token"],
                    "properties": {
                        name: {"type": "string", "maxLength": leak_reports.MAX_VALUE_LENGTH}
                        for name in ("token", "type", "url", "source")
                    },
                },
            ]
        },
    },
}


def errors_document(status: int, codes: list[str]) -> dict:
    """A JSON:API error document with one error of ``status`` and one of ``codes``."""
    return {
        "type": "object",
        "required": ["errors"],
        "properties": {
            "errors": {
                "type": "array",
                "minItems": 1,
                "maxItems": 1,
                "items": {
                    "allOf": [
                        ref("Error"),
                        {"properties": {"status": {"const": str(status)}, "code": {"enum": codes}}},
                    ]
                },
            }
        },
        "additionalProperties": False,
    }


# Responses.

HEADER_TEXT = {"schema": {"type": "string"}, "required": True}


def refusal(status: int, description: str, codes: list[str], headers: dict | None = None) -> dict:
    response = {
        "description": description + " Codes: " + ", ".join(f"`{code}`" for code in codes) + ".",
        "content": {MEDIA_TYPE: {"schema": errors_document(status, codes)}},
    }
    if headers:
        response["headers"] = headers
    return response


def www_authenticate(description: str) -> dict:
    return {"WWW-Authenticate": HEADER_TEXT | {"description": description}}


RETRY_AFTER = {"Retry-After": HEADER_TEXT | {"description": "Seconds to wait."}}


def token_refused() -> dict:
    """401: no token, or one that is no good (a token in the URL is malformed)."""
    return refusal(
        401,
        "No good token: none sent, not a FlagPal token (or one in the URL), unknown, "
        "expired or revoked.",
        TOKEN_ERRORS,
        www_authenticate(
            'Bearer realm="flagpal", with error="invalid_token" when a token was sent.'
        ),
    )


UNAVAILABLE = refusal(
    503, "The database cannot be reached: retry (never a pass).", ["unavailable"], RETRY_AFTER
)


def insufficient(extra_codes: list[str] | None = None, description: str = "") -> dict:
    codes = ["insufficient_ability", *(extra_codes or [])]
    headers = None
    if not extra_codes:
        headers = www_authenticate('Bearer realm="flagpal", error="insufficient_scope", scope="…"')
    return refusal(403, "The token lacks the ability needed." + description, codes, headers)


def json_api(schema: dict, description: str, headers: dict | None = None) -> dict:
    response = {"description": description, "content": {MEDIA_TYPE: {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


BEARER = [{"bearer": []}]
