"""The management API's schemas, parameters and responses (api/management/): people's
scripts, with a personal access token."""

from ... import abilities as ability
from ...core.tokens import STOPPED, TokenState
from ...models import AuditKind
from ...paging import MAX_PAGE
from ...permissions import Role
from .. import management
from .components import UNAVAILABLE, json_api, nullable_time, ref, refusal, www_authenticate

# The management API's 401s: the token check's, and those of a personal token's own.
PERSONAL_TOKEN_ERRORS = [
    "token_missing",
    *(code for code, _, _ in management.REFUSALS.values()),
    "personal_token_required",
]

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

MANAGEMENT_SCHEMAS = {
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
