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
from ..core.tokens import STOPPED, TokenState
from ..models import AuditKind
from ..paging import MAX_PAGE
from ..permissions import Role
from ..tokens.listing import STATUSES
from ..version import app_version
from . import bodies, forward_auth, leak_reports, management, self_rotation
from .errors import MEDIA_TYPE

OPENAPI_VERSION = "3.1.0"
TOKEN_ERRORS = [
    "token_missing",
    "token_malformed",
    "token_invalid",
    "token_expired",
    "token_revoked",
]
# The management API's 401s: the token check's, and those of a personal token's own.
PERSONAL_TOKEN_ERRORS = [
    "token_missing",
    *(code for code, _, _ in management.REFUSALS.values()),
    "personal_token_required",
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
                for media_type in sorted(bodies.JSON_MEDIA_TYPES)
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
            "413": refusal(413, f"A body over {bodies.MAX_BYTES} bytes.", ["body_too_large"]),
            "415": refusal(415, "A body not sent as JSON.", ["unsupported_media_type"]),
            "422": refusal(
                422,
                "JSON, but not a rotation request; `source.pointer` says where.",
                ["invalid_rotation"],
            ),
            "503": UNAVAILABLE,
        },
    }


# The management API (management.py): people's scripts, with a personal access token.

PERSONAL = [{"personalToken": []}]
ROLES = [role.value for role in Role]
# What a token list shows: its status (works, or why not) for everyone, its state for
# those who see details.
TOKEN_STATUSES = [
    state.value for state in TokenState if state is TokenState.ACTIVE or state in STOPPED
]


def string_id() -> dict:
    return {"type": "string", "pattern": "^[0-9]+$"}


def links(*names: str, optional: tuple[str, ...] = ()) -> dict:
    return {
        "type": "object",
        "required": list(names),
        "properties": {name: {"type": "string"} for name in (*names, *optional)},
        "additionalProperties": False,
    }


def resource(
    kind: str,
    id_schema: dict,
    attributes: dict,
    required: list[str],
    for_some: tuple[str, ...] = (),
    **more,
) -> dict:
    """A JSON:API resource object of ``kind``: ``attributes`` (those in ``required``
    always there, the others for some roles only), and ``more`` members (all there
    but those named in ``for_some``)."""
    return {
        "type": "object",
        "required": ["type", "id", "attributes", *(name for name in more if name not in for_some)],
        "properties": {
            "type": {"const": kind},
            "id": id_schema,
            "attributes": {
                "type": "object",
                "required": required,
                "properties": attributes,
                "additionalProperties": False,
            },
            **more,
        },
        "additionalProperties": False,
    }


PROJECT_ATTRIBUTES = {
    "name": {"type": "string"},
    "slug": {"type": "string"},
    "role": {"enum": ROLES, "description": "The caller's role in the project."},
}
NULLABLE_DAYS = {"type": ["integer", "null"], "minimum": 1}
TOKEN_ATTRIBUTES = {
    "name": {"type": "string"},
    "status": {"enum": TOKEN_STATUSES},
    "created_at": {"type": "string", "format": "date-time"},
    # Developers and owners only (``VIEW_TOKEN_DETAILS``), as on the page:
    "state": {"enum": [state.value for state in TokenState]},
    "hint": {"type": "string", "description": "The value's last characters: `flagpal_…wxyz`."},
    "abilities": {"type": "array", "items": {"enum": list(ability.LABELS)}},
    "expires_at": nullable_time(),
    "last_used_at": nullable_time(),
    "created_by": {"type": ["string", "null"]},
    "revoked_at": nullable_time(),
    "revoked_by": {"type": ["string", "null"]},
    "revoked_reason": {"type": ["string", "null"]},
    "rotated_at": nullable_time(),
}

SCHEMAS |= {
    "Project": resource(
        "projects",
        {"type": "string", "description": "The project's slug."},
        PROJECT_ATTRIBUTES,
        list(PROJECT_ATTRIBUTES),
        links=links("self"),
    ),
    "ProjectDetails": resource(
        "projects",
        {"type": "string", "description": "The project's slug."},
        PROJECT_ATTRIBUTES
        | {
            "created_at": {"type": "string", "format": "date-time"},
            "max_token_lifetime_days": NULLABLE_DAYS
            | {"description": "Developers and owners only: the token policy."},
            "revoke_unused_after_days": NULLABLE_DAYS | {"description": "Owners only."},
        },
        [*PROJECT_ATTRIBUTES, "created_at"],
        links=links("self"),
        relationships={
            "type": "object",
            "required": ["members"],
            "properties": {
                "members": {
                    "type": "object",
                    "required": ["links"],
                    "properties": {"links": links("related")},
                }
            },
        },
    ),
    "Member": resource(
        "members",
        string_id(),
        {
            "name": {"type": "string"},
            "role": {"enum": ROLES},
            "joined_at": {"type": "string", "format": "date-time"},
            "email": {"type": "string", "description": "Owners only."},
        },
        ["name", "role", "joined_at"],
    ),
    "AuditEvent": resource(
        "audit-events",
        string_id(),
        {
            "at": {"type": "string", "format": "date-time"},
            "kind": {"enum": [kind.value for kind in AuditKind]},
            "actor": {"type": "string"},
            "target": {"type": ["string", "null"]},
            "address": {"type": ["string", "null"]},
            "details": {"type": "object"},
        },
        ["at", "kind", "actor", "target", "address", "details"],
    ),
    "ProjectToken": resource(
        "api-tokens",
        string_id(),
        TOKEN_ATTRIBUTES,
        ["name", "status", "created_at"],
        for_some=("relationships",),
        links=links("self"),
        relationships={
            "type": "object",
            "description": "Developers and owners only.",
            "required": ["replaced_by"],
            "properties": {
                "replaced_by": {
                    "type": "object",
                    "required": ["data"],
                    "properties": {
                        "data": {
                            "oneOf": [
                                {"type": "null"},
                                {
                                    "type": "object",
                                    "required": ["type", "id"],
                                    "properties": {
                                        "type": {"const": "api-tokens"},
                                        "id": string_id(),
                                    },
                                },
                            ]
                        }
                    },
                }
            },
        },
    ),
}


def personal_token_refused() -> dict:
    return refusal(
        401,
        "No good personal access token: none sent (or one in the URL), a project API "
        "token, unknown, expired, revoked, or its person's account is deactivated.",
        PERSONAL_TOKEN_ERRORS,
        www_authenticate(
            'Bearer realm="flagpal", with error="invalid_token" when a token was sent.'
        ),
    )


def page_parameters() -> list[dict]:
    return [
        query_parameter(
            "page[number]",
            "Which page, from 1.",
            {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
        ),
        query_parameter(
            "page[size]",
            "How many a page.",
            {
                "type": "integer",
                "minimum": 1,
                "maximum": management.MAX_PAGE_SIZE,
                "default": management.DEFAULT_PAGE_SIZE,
            },
        ),
    ]


def query_parameter(name: str, description: str, schema: dict) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


SLUG = {
    "name": "slug",
    "in": "path",
    "required": True,
    "description": "The project's slug.",
    "schema": {"type": "string", "minLength": 1},
}


def collection(item: str, paged: bool) -> dict:
    meta = {"count": {"type": "integer", "minimum": 0}}
    if paged:
        meta["pages"] = {"type": "integer", "minimum": 1}
    return {
        "type": "object",
        "required": ["data", "meta", "links"],
        "properties": {
            "data": {"type": "array", "items": ref(item)},
            "meta": {
                "type": "object",
                "required": list(meta),
                "properties": meta,
                "additionalProperties": False,
            },
            "links": links("self", "first", "last", optional=("prev", "next"))
            if paged
            else links("self"),
        },
        "additionalProperties": False,
    }


def single(item: str) -> dict:
    return {
        "type": "object",
        "required": ["data", "links"],
        "properties": {"data": ref(item), "links": links("self")},
        "additionalProperties": False,
    }


def management_operation(
    operation_id: str,
    summary: str,
    description: str,
    parameters: list[dict],
    answer: dict,
    not_found: str | None,
    forbidden: str | None = None,
) -> dict:
    responses = {
        "200": json_api(answer, summary + "."),
        "400": refusal(
            400,
            "A query parameter this route does not read, one sent twice, or a bad value; "
            "`source.parameter` names it.",
            ["invalid_parameter"],
        ),
        "401": personal_token_refused(),
    }
    if forbidden:
        responses["403"] = refusal(403, forbidden, ["forbidden"])
    if not_found:
        responses["404"] = refusal(404, not_found, ["not_found"])
    responses["503"] = UNAVAILABLE
    return {
        "operationId": operation_id,
        "summary": summary,
        "description": description,
        "tags": ["Management"],
        "security": PERSONAL,
        "parameters": parameters,
        "responses": responses,
    }


NOT_A_MEMBER = "No such project, or the caller is not a member of it (the same answer)."


def management_paths() -> dict:
    token_id = {
        "name": "token_id",
        "in": "path",
        "required": True,
        "description": "The token's id.",
        "schema": {"type": "integer", "minimum": 0},
    }
    return {
        "/api/v1/projects": {
            "get": management_operation(
                "listProjects",
                "The caller's projects",
                "The projects the token's person is a member of, by name, with their role.",
                [],
                collection("Project", paged=False),
                None,
            )
        },
        "/api/v1/projects/{slug}": {
            "get": management_operation(
                "showProject",
                "One project",
                "With the caller's role; the token policy for developers and owners.",
                [SLUG],
                single("ProjectDetails"),
                NOT_A_MEMBER,
            )
        },
        "/api/v1/projects/{slug}/members": {
            "get": management_operation(
                "listMembers",
                "The project's members",
                "Owners first, then by name; email addresses for owners only.",
                [SLUG],
                collection("Member", paged=False),
                NOT_A_MEMBER,
            )
        },
        "/api/v1/projects/{slug}/audit-events": {
            "get": management_operation(
                "listAuditEvents",
                "The project's audit log",
                "Oldest first, a page at a time, for developers and owners; developers "
                "get no invitations and no email addresses.",
                [
                    SLUG,
                    query_parameter(
                        "filter[since]",
                        "Events from this moment on: a date and time with its offset.",
                        {"type": "string", "format": "date-time"},
                    ),
                    *page_parameters(),
                ],
                collection("AuditEvent", paged=True),
                NOT_A_MEMBER,
                "A viewer cannot read the audit log.",
            )
        },
        "/api/v1/projects/{slug}/tokens": {
            "get": management_operation(
                "listProjectTokens",
                "The project's API tokens",
                "Newest first, a page at a time; viewers see names, status and creation "
                "dates only.",
                [
                    SLUG,
                    query_parameter(
                        "filter[name]", "Part of the name, any case.", {"type": "string"}
                    ),
                    query_parameter(
                        "filter[status]",
                        "Which tokens, by status.",
                        {"enum": list(STATUSES), "default": "all"},
                    ),
                    *page_parameters(),
                ],
                collection("ProjectToken", paged=True),
                NOT_A_MEMBER,
            )
        },
        "/api/v1/projects/{slug}/tokens/{token_id}": {
            "get": management_operation(
                "showProjectToken",
                "One API token",
                "Viewers see its name, status and creation date only.",
                [SLUG, token_id],
                single("ProjectToken"),
                NOT_A_MEMBER + " Or the project has no token with this id.",
            )
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
            "description": "What apps, reverse proxies and secret scanners call, and "
            "people's scripts (the management API, `/api/v1/projects…`, with a personal "
            "access token). Every "
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
                },
                "personalToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A person's personal access token, for the management "
                    "API only: `flagpal_pat_` and 46 letters and digits. Made on the "
                    "Account page; it acts with its person's roles, read afresh each time.",
                },
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
            **management_paths(),
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
