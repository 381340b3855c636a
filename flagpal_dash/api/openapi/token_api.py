"""The token API's operations (what apps, reverse proxies and secret scanners call):
describing a token, forward-auth, leak reports, self-rotation."""

from .. import bodies, forward_auth, leak_reports
from .components import (
    BEARER,
    HEADER_TEXT,
    RETRY_AFTER,
    UNAVAILABLE,
    insufficient,
    json_api,
    ref,
    refusal,
    token_refused,
)

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
