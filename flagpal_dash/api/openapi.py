"""The token API's OpenAPI 3.1 document (``GET /api/v1/openapi.json``), built here from
Python structures that take their facts from the code: the media type, the abilities,
the resource type, the grace's forms, the leak report's limits, the forward-auth
headers and abilities. Each operation lists every status and error ``code`` its route
can answer with.

Nothing here is trusted to stay right by itself: tests/test_openapi.py checks that the
document has exactly the URL map's routes under /api/v1 (with their methods) and every
error code the API's modules raise, and tests/test_openapi_schemathesis.py runs
generated requests against the app and checks every answer against the document.

HEAD is answered for every GET, as GET is without a body; Flask answers OPTIONS
itself (``Allow``) on every route but forward-auth's, which checks it like GET. Neither
is listed.
"""

from functools import cache

from .. import abilities as ability
from ..version import app_version
from . import forward_auth, leak_reports, self_rotation
from .errors import MEDIA_TYPE

OPENAPI_VERSION = "3.1.0"
TOKEN_ERRORS = [
    "token_missing",
    "token_malformed",
    "token_invalid",
    "token_expired",
    "token_revoked",
]
FORWARD_AUTH_HEADERS = {
    "X-Original-Method": "The original request's method (nginx).",
    "X-Original-URI": "The original request's path and query (nginx).",
    "X-Forwarded-Method": "The original request's method (Caddy, Traefik).",
    "X-Forwarded-Uri": "The original request's path and query (Caddy, Traefik).",
    **{
        name: "Naming another method here is refused (`method_override_refused`)."
        for name in forward_auth.METHOD_OVERRIDE_HEADERS
    },
}

# An original request as a proxy describes it: reading FlagPal's features.
ORIGINAL_EXAMPLES = {
    "X-Original-Method": "GET",
    "X-Original-URI": "/api/v1/features",
    "X-Forwarded-Method": "GET",
    "X-Forwarded-Uri": "/api/v1/features",
}

# Schemas.


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable_time() -> dict:
    return {"type": ["string", "null"], "format": "date-time"}


SCHEMAS = {
    "Error": {
        "type": "object",
        "description": "One refusal: its HTTP status, a stable `code` for programs, and "
        "words for people; `source.pointer` names the member of the request body at fault.",
        "required": ["status", "code", "title", "detail"],
        "properties": {
            "status": {"type": "string", "pattern": "^[45][0-9]{2}$"},
            "code": {"type": "string"},
            "title": {"type": "string"},
            "detail": {"type": "string"},
            "source": {
                "type": "object",
                "required": ["pointer"],
                "properties": {"pointer": {"type": "string"}},
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


def describe_token() -> dict:
    return {
        "operationId": "describeToken",
        "summary": "Describe the presented token",
        "description": "Any good token gets a description of itself.",
        "security": BEARER,
        "responses": {
            "200": json_api(
                {
                    "type": "object",
                    "required": ["data"],
                    "properties": {"data": ref("ApiToken")},
                    "additionalProperties": False,
                },
                "The token.",
            ),
            "401": token_refused(),
            "503": UNAVAILABLE,
        },
    }


def forward_auth_operation(method: str, fixed: bool) -> dict:
    parameters = [
        {
            "name": name,
            "in": "header",
            "required": False,
            "description": text,
            "schema": {"type": "string"},
            **({"example": ORIGINAL_EXAMPLES[name]} if name in ORIGINAL_EXAMPLES else {}),
        }
        for name, text in FORWARD_AUTH_HEADERS.items()
    ]
    if fixed:
        parameters.insert(
            0,
            {
                "name": "ability",
                "in": "path",
                "required": True,
                "description": "The ability needed besides what the original request needs.",
                "schema": {"enum": list(forward_auth.FIXED_ABILITIES)},
            },
        )
    return {
        "operationId": f"forwardAuth{'Fixed' if fixed else ''}{method.capitalize()}",
        "summary": "Forward-auth for a reverse proxy"
        + (" (ability named)" if fixed else " (ability inferred)"),
        "description": "nginx `auth_request`, Traefik ForwardAuth, Caddy `forward_auth`: "
        "204 when the token may make the original request the proxy describes. "
        "`POST` to the metric endpoint needs `metrics`, `GET`/`HEAD`/`OPTIONS` need "
        "`read`, anything else `write`." + (" The path names one more ability." if fixed else ""),
        "security": BEARER,
        "parameters": parameters,
        "responses": {
            "204": {
                "description": "The token may make the original request.",
                "headers": {
                    "X-FlagPal-Project": HEADER_TEXT | {"description": "The project's slug."},
                    "X-FlagPal-Token-Id": {
                        "schema": {"type": "string", "pattern": "^[0-9]+$"},
                        "required": True,
                        "description": "The token's id.",
                    },
                },
            },
            "400": refusal(
                400,
                "The proxy is configured wrongly: it did not describe the original request, "
                "or named the ability in the query.",
                ["ability_in_query", "method_unknown", "uri_unknown", "method_invalid"],
            ),
            "401": token_refused(),
            "403": insufficient(
                [
                    "original_request_conflict",
                    "original_request_repeated",
                    "original_uri_ambiguous",
                    "method_override_refused",
                ],
                " Or the original request cannot be read one way only, or names another "
                "method to use.",
            ),
            **(
                {"404": refusal(404, "The path names no forward-auth ability.", ["not_found"])}
                if fixed
                else {}
            ),
            "503": UNAVAILABLE,
        },
    }


def revoke_leaked_tokens() -> dict:
    body_types = sorted(leak_reports.JSON_MEDIA_TYPES)
    return {
        "operationId": "reportLeakedTokens",
        "summary": "Report leaked tokens",
        "description": "Secret scanners report FlagPal tokens found in public; each one "
        "that still works is revoked. No authentication, and one answer whatever matched.",
        "security": [],
        "requestBody": {
            "required": True,
            "content": {media_type: {"schema": ref("LeakReport")} for media_type in body_types},
        },
        "responses": {
            "202": json_api(
                {
                    "type": "object",
                    "required": ["meta"],
                    "properties": {
                        "meta": {
                            "type": "object",
                            "required": ["status", "detail"],
                            "properties": {
                                "status": {"const": "accepted"},
                                "detail": {"type": "string"},
                            },
                        }
                    },
                    "additionalProperties": False,
                },
                "Accepted: the same answer whether or not any token matched.",
            ),
            "400": refusal(400, "Not JSON.", ["invalid_json"]),
            "413": refusal(
                413, f"More than {leak_reports.MAX_BYTES // 1024} KB.", ["report_too_large"]
            ),
            "415": refusal(415, "Not sent as JSON.", ["unsupported_media_type"]),
            "422": refusal(
                422,
                "JSON, but not a report.",
                ["report_not_a_list", "report_too_long", "entry_invalid", "value_too_long"],
            ),
            "429": refusal(
                429, "Too many reports from this address.", ["too_many_requests"], RETRY_AFTER
            ),
            "503": UNAVAILABLE,
        },
    }


def rotate_token() -> dict:
    return {
        "operationId": "rotateToken",
        "summary": "Replace the presented token (self-rotation)",
        "description": "A token with the `rotate` ability (or Full access) replaces itself: "
        "the replacement keeps its name, abilities and lifetime (within the project's "
        "maximum), and its value is in `meta.value`, this once. The old value keeps "
        "working for the grace asked. The body is optional.",
        "security": BEARER,
        "requestBody": {
            "required": False,
            "content": {
                media_type: {"schema": ref("RotationRequest")}
                for media_type in sorted(self_rotation.JSON_MEDIA_TYPES)
            },
        },
        "responses": {
            "201": json_api(
                {
                    "type": "object",
                    "required": ["data", "meta"],
                    "properties": {
                        "data": ref("ApiToken"),
                        "meta": {
                            "type": "object",
                            "required": ["value"],
                            "properties": {
                                "value": {"type": "string", "pattern": "^flagpal_[0-9A-Za-z]{46}$"}
                            },
                            "additionalProperties": False,
                        },
                    },
                    "additionalProperties": False,
                },
                "The replacement, with its value this once.",
                {"Cache-Control": {"schema": {"const": "no-store"}, "required": True}},
            ),
            "400": refusal(400, "The body is not JSON.", ["invalid_json"]),
            "401": token_refused(),
            "403": insufficient(),
            "409": refusal(
                409,
                "This token was rotated already: rotate with its replacement.",
                ["token_already_rotated"],
            ),
            "413": refusal(
                413, f"A body over {self_rotation.MAX_BYTES} bytes.", ["body_too_large"]
            ),
            "415": refusal(415, "A body not sent as JSON.", ["unsupported_media_type"]),
            "422": refusal(
                422,
                "JSON, but not a rotation request; `source.pointer` says where.",
                ["invalid_rotation"],
            ),
            "503": UNAVAILABLE,
        },
    }


def openapi_operation() -> dict:
    return {
        "operationId": "openapiDocument",
        "summary": "This document",
        "security": [],
        "responses": {
            "200": {
                "description": "The OpenAPI 3.1 document.",
                "content": {
                    "application/json": {"schema": {"type": "object", "required": ["openapi"]}}
                },
            }
        },
    }


def docs_operation() -> dict:
    return {
        "operationId": "apiDocsPage",
        "summary": "This document as a page for people",
        "security": [],
        "responses": {
            "200": {
                "description": "An HTML page.",
                "content": {"text/html": {"schema": {"type": "string"}}},
            }
        },
    }


@cache
def document() -> dict:
    """The whole document (made once: it changes only with the code)."""
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "FlagPal Dash token API",
            "version": app_version(),
            "description": "What apps, reverse proxies and secret scanners call. Every "
            f"answer is JSON:API (`{MEDIA_TYPE}`); refusals are error documents with a "
            "stable `code`. Tokens are accepted only as `Authorization: Bearer <token>`, "
            "never in a URL. HEAD is answered for every GET, as GET without a body.",
        },
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A project API token: `flagpal_` and 46 letters and digits.",
                }
            },
            "schemas": SCHEMAS,
        },
        "paths": {
            "/api/v1/token": {"get": describe_token()},
            "/api/v1/token/rotate": {"post": rotate_token()},
            "/api/v1/auth": {
                method: forward_auth_operation(method, fixed=False) for method in ("get", "options")
            },
            "/api/v1/auth/{ability}": {
                method: forward_auth_operation(method, fixed=True) for method in ("get", "options")
            },
            "/api/v1/tokens/revoke": {"post": revoke_leaked_tokens()},
            "/api/v1/openapi.json": {"get": openapi_operation()},
            "/api/v1/docs": {"get": docs_operation()},
        },
    }


def operations() -> list[tuple[str, str, dict]]:
    """(method, path, operation) in the document's order: for the page people read."""
    return [
        (method.upper(), path, operation)
        for path, methods in document()["paths"].items()
        for method, operation in methods.items()
    ]
