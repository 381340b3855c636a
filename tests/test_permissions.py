import pytest

from flagpal_dash.permissions import Permission, Role, role_can, roles_with

# The table in shared/product.md, row by row.
EXPECTED = {
    Permission.VIEW_TOKENS: {Role.VIEWER, Role.DEVELOPER, Role.OWNER},
    Permission.VIEW_TOKEN_DETAILS: {Role.DEVELOPER, Role.OWNER},
    Permission.MANAGE_TOKENS: {Role.DEVELOPER, Role.OWNER},
    Permission.VIEW_AUDIT: {Role.DEVELOPER, Role.OWNER},
    Permission.VIEW_MEMBERS: {Role.VIEWER, Role.DEVELOPER, Role.OWNER},
    Permission.MANAGE_MEMBERS: {Role.OWNER},
    Permission.SEE_ADDRESSES: {Role.OWNER},
}


@pytest.mark.parametrize("permission", list(Permission))
@pytest.mark.parametrize("role", list(Role))
def test_roles_have_exactly_the_permissions_of_the_product_table(role, permission):
    assert role_can(role, permission) == (role in EXPECTED[permission])


def test_roles_with_lists_least_trusted_first():
    assert roles_with(Permission.MANAGE_TOKENS) == [Role.DEVELOPER, Role.OWNER]
