"""A project's API Tokens page: the list, creating a token (shown once), rotating and
revoking.

Each action answers htmx with a fragment (a dialog's content, a row) and a plain
form POST with a full page, so everything works without JavaScript too.
"""

from flask import Blueprint, abort, request, url_for
from flask_login import current_user

from .. import abilities as ability
from .. import token_format
from ..access import ProjectAccess, project_route
from ..core import projects, tokens
from ..extensions import db
from ..htmx import changed, dialog, page_or_fragment, retarget
from ..models import ApiToken, utcnow
from ..paging import page_number
from ..permissions import Permission
from ..validation import Invalid
from .forms import CreateTokenForm, RotateTokenForm
from .listing import TokenFilter, token_page
from .sparkline import drawn
from .usage_warning import ROTATING, usage_warning

bp = Blueprint("tokens", __name__, url_prefix="/projects/<slug>/tokens")

# The heading of a token dialog's own page (no JavaScript).
SECTION = "API Tokens"


def list_context(
    access: ProjectAccess, token_filter: TokenFilter | None = None, page: int = 1
) -> dict:
    """One page of the list (after a create or rotate: page 1, unfiltered), read in a
    bounded number of queries however many tokens the project has."""
    now = utcnow()
    listing = token_page(access.project, token_filter or TokenFilter(), page, now)
    # Managers see each token's 30-day usage: every row's counts in one query.
    if access.can(Permission.VIEW_TOKEN_DETAILS):
        sparklines = drawn([token.id for token in listing.tokens], now)
    else:
        sparklines = {}
    # Who to ask for a token, for a project without any and someone who may not make one.
    if listing.project_has_tokens or access.can(Permission.MANAGE_TOKENS):
        owners = []
    else:
        owners = projects.owners_of(access.project)
    return {
        "access": access,
        "listing": listing,
        "tokens": listing.tokens,
        "usage": sparklines,
        "owners": owners,
    }


@bp.app_template_global()
def token_state(token: ApiToken) -> tokens.TokenState:
    """Where a row's token is in its lifecycle now."""
    return tokens.state(token, utcnow())


@bp.app_template_filter()
def display_hint(hint: str) -> str:
    """A token's stored last characters as managers see them: ``flagpal_…wxyz``."""
    return token_format.display_hint(hint)


@bp.app_template_filter()
def ability_labels(abilities: frozenset[str]) -> list[str]:
    """A token's abilities in their order, in words ("Full access", "Read")."""
    return [ability.LABELS[one] for one in ability.ordered(abilities)]


@bp.get("")
@project_route(Permission.VIEW_TOKENS)
def list_tokens(access: ProjectAccess):
    """A page of the project's tokens, active ones first, then newest first, filtered
    by name and status: what each role may see of them. The filter form, with htmx,
    gets the list alone."""
    context = list_context(access, TokenFilter.from_args(request.args), page_number(request.args))
    return page_or_fragment("tokens/list.html", "tokens/_list.html", **context)


@bp.get("/new")
@project_route(Permission.MANAGE_TOKENS)
def new_token(access: ProjectAccess):
    """The create form: a dialog's content for htmx, a page without JavaScript."""
    return dialog(
        "tokens/_create_form.html",
        "New API Token",
        SECTION,
        access=access,
        form=CreateTokenForm(access.project),
    )


@bp.post("")
@project_route(Permission.MANAGE_TOKENS)
def create_token(access: ProjectAccess):
    """Create a token and show its value, this once.

    For htmx the value replaces the form in the dialog and the list is swapped in
    beside it; without JavaScript the page answering the POST shows it. Either way
    the response must never be stored, and nothing else ever shows the value.
    """
    form = CreateTokenForm(access.project)
    if not form.validate_on_submit():
        return dialog(
            "tokens/_create_form.html", "New API Token", SECTION, 422, access=access, form=form
        )
    try:
        token, value = tokens.issue(
            access.project,
            name=form.name.data,
            abilities=form.abilities.data,
            expires_at=form.expires_at(),
            actor=current_user,
            now=form.now,
        )
    except tokens.NameTaken as error:
        db.session.rollback()
        form.name.errors.append(str(error))
        return dialog(
            "tokens/_create_form.html", "New API Token", SECTION, 422, access=access, form=form
        )
    db.session.commit()
    response = dialog(
        "tokens/_created.html",
        "Token created",
        SECTION,
        201,
        token=token,
        value=value,
        **list_context(access),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def project_token(access: ProjectAccess, token_id: int) -> ApiToken:
    """The project's token ``token_id``; 404 for an unknown id or another project's."""
    token = tokens.token_by_id(access.project, token_id)
    if token is None:
        abort(404)
    return token


@bp.get("/<int:token_id>/revoke")
@project_route(Permission.MANAGE_TOKENS)
def confirm_revoke(access: ProjectAccess, token_id: int):
    """Ask before revoking: the dialog names the token and what revoking breaks, with
    how much it was used lately."""
    token = project_token(access, token_id)
    return dialog(
        "tokens/_revoke_confirm.html",
        f"Revoke {token.name}",
        SECTION,
        access=access,
        token=token,
        usage_warning=usage_warning(token, utcnow()),
    )


@bp.post("/<int:token_id>/revoke")
@project_route(Permission.MANAGE_TOKENS)
def revoke_token(access: ProjectAccess, token_id: int):
    """Revoke at once. Revoking a revoked token changes nothing and says so."""
    token = project_token(access, token_id)
    if tokens.revoke(token, actor=current_user, now=utcnow()):
        db.session.commit()
        message, category = (
            f'"{token.name}" is revoked. Apps using it can no longer call the API.',
            "success",
        )
    else:
        message, category = f'"{token.name}" was already revoked; nothing changed.', "info"
    return changed(
        "tokens/_revoked.html",
        url_for("tokens.list_tokens", slug=access.project.slug),
        message,
        category,
        access=access,
        token=token,
        sparkline=drawn([token.id], utcnow())[token.id],
    )


@bp.get("/<int:token_id>/rotate")
@project_route(Permission.MANAGE_TOKENS)
def new_rotation(access: ProjectAccess, token_id: int):
    """The rotate dialog: the replacement's expiry, and when the old token stops."""
    token = project_token(access, token_id)
    return rotation_form(access, token, RotateTokenForm(access.project, token))


def rotation_form(access: ProjectAccess, token: ApiToken, form: RotateTokenForm, status=200):
    return dialog(
        "tokens/_rotate_form.html",
        f"Rotate {token.name}",
        SECTION,
        status,
        access=access,
        token=token,
        form=form,
        usage_warning=usage_warning(token, utcnow(), ROTATING),
    )


@bp.post("/<int:token_id>/rotate")
@project_route(Permission.MANAGE_TOKENS)
def rotate_token(access: ProjectAccess, token_id: int):
    """Make the replacement and show its value, this once; the old token stops working
    when chosen. An expired, revoked or already rotated token is refused (409)."""
    token = project_token(access, token_id)
    form = RotateTokenForm(access.project, token)
    if not form.validate_on_submit():
        return rotation_form(access, token, form, 422)
    try:
        new, value = tokens.rotate(
            token, form.grace_period(), form.expires_at(), actor=current_user, now=form.now
        )
    except Invalid as error:
        db.session.rollback()
        form.form_errors.append(str(error))
        # The form with the reason, in the dialog: htmx swaps an error only where told.
        return retarget(rotation_form(access, token, form, 409), "#dialog-content")
    db.session.commit()
    response = dialog(
        "tokens/_created.html",
        "Token rotated",
        SECTION,
        201,
        token=new,
        value=value,
        rotated=token,
        **list_context(access),
    )
    response.headers["Cache-Control"] = "no-store"
    return response
