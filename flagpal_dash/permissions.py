"""Who may do what in a project: the one table every view and the API consult.

Plain Python, no Flask, so the rules read (and test) on their own. A member's role
grants a set of permissions; a view asks for the permission it needs, never for a
role by name, so changing what a role may do is a one-line change here.
"""

import enum


class Role(enum.StrEnum):
    """A member's role in one project, from least to most trusted."""

    VIEWER = "viewer"
    DEVELOPER = "developer"
    OWNER = "owner"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Permission(enum.Enum):
    VIEW_TOKENS = "see token names, creation dates and status"
    VIEW_TOKEN_DETAILS = "see abilities, expiry, last use and who created a token"
    MANAGE_TOKENS = "create, rotate and revoke tokens"
    VIEW_AUDIT = "see the project's audit log"
    VIEW_MEMBERS = "see who is on the project"
    MANAGE_MEMBERS = "manage members, invitations and project policy"
    # One rule for the Members page and the project's audit log (and anything else
    # that names people): their email addresses and pending invitations are for owners.
    SEE_ADDRESSES = "see members' email addresses and invitations"


_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.VIEW_TOKENS, Permission.VIEW_MEMBERS}),
    Role.DEVELOPER: frozenset(
        {
            Permission.VIEW_TOKENS,
            Permission.VIEW_TOKEN_DETAILS,
            Permission.MANAGE_TOKENS,
            Permission.VIEW_AUDIT,
            Permission.VIEW_MEMBERS,
        }
    ),
    Role.OWNER: frozenset(Permission),
}


def role_can(role: Role, permission: Permission) -> bool:
    """Whether a member with ``role`` has ``permission``."""
    return permission in _GRANTS[role]


def roles_with(permission: Permission) -> list[Role]:
    """The roles that have ``permission``, least trusted first (for messages)."""
    return [role for role in Role if role_can(role, permission)]
