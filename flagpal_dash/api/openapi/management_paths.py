"""The management API's operations: reading a person's projects, members, audit log
and tokens, and creating, revoking and rotating tokens."""

from ...tokens.listing import STATUSES
from .management_components import (
    NOT_A_MEMBER,
    SLUG,
    collection,
    management_operation,
    page_parameters,
    query_parameter,
    single,
)
from .management_writes import create_token, revoke_token, rotate_token


def management_paths() -> dict:
    """Every management route's operations, by path."""
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
            ),
            "post": create_token(SLUG),
        },
        "/api/v1/projects/{slug}/tokens/{token_id}": {
            "get": management_operation(
                "showProjectToken",
                "One API token",
                "Viewers see its name, status and creation date only.",
                [SLUG, token_id],
                single("ProjectToken"),
                NOT_A_MEMBER + " Or the project has no token with this id.",
            ),
            "delete": revoke_token(SLUG, token_id),
        },
        "/api/v1/projects/{slug}/tokens/{token_id}/rotate": {
            "post": rotate_token(SLUG, token_id),
        },
    }
