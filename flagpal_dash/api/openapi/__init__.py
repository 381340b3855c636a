"""The API's OpenAPI 3.1 document (``GET /api/v1/openapi.json``), built here from
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

from ...version import app_version
from ..errors import MEDIA_TYPE
from .components import SCHEMAS
from .management_components import MANAGEMENT_SCHEMAS
from .management_paths import management_paths
from .management_writes import MANAGEMENT_WRITE_SCHEMAS
from .token_api import (
    FORWARD_AUTH_HEADERS,
    ORIGINAL_EXAMPLES,
    describe_token,
    forward_auth_operation,
    revoke_leaked_tokens,
    rotate_token,
)

__all__ = ["FORWARD_AUTH_HEADERS", "ORIGINAL_EXAMPLES", "document", "operations"]

OPENAPI_VERSION = "3.1.0"


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
            "schemas": SCHEMAS | MANAGEMENT_SCHEMAS | MANAGEMENT_WRITE_SCHEMAS,
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
