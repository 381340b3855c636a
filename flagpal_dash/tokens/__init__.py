"""A project's API Tokens page: the list, creating a token (shown once), rotating and
revoking.

Each action answers htmx with a fragment (a dialog's content, a row) and a plain
form POST with a full page, so everything works without JavaScript too.
"""

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from markupsafe import Markup

from .. import abilities as ability
from .. import token_format, usage
from ..access import ProjectAccess, project_route
from ..core import tokens
from ..extensions import db
from ..htmx import is_htmx_request, page_or_fragment
from ..models import ApiToken, Project, utcnow
from ..permissions import Permission
from ..validation import Invalid
from .forms import CreateTokenForm, RotateTokenForm
from .listing import TokenFilter, page_number, token_page

bp = Blueprint("tokens", __name__, url_prefix="/projects/<slug>/tokens")


def list_context(
    access: ProjectAccess, token_filter: TokenFilter | None = None, page: int = 1
) -> dict:
    """One page of the list (after a create or rotate: page 1, unfiltered), read in a
    bounded number of queries however many tokens the project has."""
    now = utcnow()
    listing = token_page(access.project, token_filter or TokenFilter(), page, now)
    # Managers see each token's 30-day usage: every row's counts in one query.
    if access.can(Permission.VIEW_TOKEN_DETAILS):
        sparklines = usage.sparklines([token.id for token in listing.tokens], now)
    else:
        sparklines = {}
    return {"access": access, "listing": listing, "tokens": listing.tokens, "usage": sparklines}


@bp.app_template_global()
def token_sparkline(token_id: int) -> usage.Sparkline:
    """One token's 30-day usage, for a row rendered on its own (after a revoke)."""
    return usage.sparklines([token_id], utcnow())[token_id]


@bp.app_template_global()
def token_state(token: ApiToken) -> tokens.TokenState:
    """Where a row's token is in its lifecycle now."""
    return tokens.state(token, utcnow())


@bp.app_template_global()
def tokens_expiring_soon(project: Project) -> list[ApiToken]:
    """The project's tokens expiring soon, for the notice on every project page."""
    return tokens.expiring(utcnow(), project=project)


@bp.app_template_filter()
def display_hint(hint: str) -> str:
    """A token's stored last characters as managers see them: ``flagpal_…wxyz``."""
    return token_format.display_hint(hint)


@bp.app_template_filter()
def ability_labels(abilities: frozenset[str]) -> list[str]:
    """A token's abilities in their order, in words ("Full access", "Read")."""
    return [ability.LABELS[one] for one in ability.ordered(abilities)]


@bp.app_template_global()
def drawn_sparkline(spark: usage.Sparkline) -> Markup:
    """A sparkline's SVG, drawn once per request for each distinct figure: on a long
    list most rows are history without use, and share one."""
    drawn = g.setdefault("drawn_sparklines", {})
    svg = drawn.get(spark)
    if svg is None:
        svg = drawn[spark] = spark.svg
    return svg


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
    return page_or_fragment(
        "tokens/new.html",
        "tokens/_create_form.html",
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
        return page_or_fragment(
            "tokens/new.html", "tokens/_create_form.html", 422, access=access, form=form
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
        return page_or_fragment(
            "tokens/new.html", "tokens/_create_form.html", 422, access=access, form=form
        )
    db.session.commit()
    response = page_or_fragment(
        "tokens/created.html",
        "tokens/_created.html",
        201,
        token=token,
        value=value,
        **list_context(access),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def project_token(access: ProjectAccess, token_id: int) -> ApiToken:
    """The project's token ``token_id``; 404 for an unknown id or another project's."""
    token = access.project.token(token_id)
    if token is None:
        abort(404)
    return token


@bp.get("/<int:token_id>/revoke")
@project_route(Permission.MANAGE_TOKENS)
def confirm_revoke(access: ProjectAccess, token_id: int):
    """Ask before revoking: the dialog names the token and what revoking breaks, with
    how much it was used lately."""
    token = project_token(access, token_id)
    return page_or_fragment(
        "tokens/revoke.html",
        "tokens/_revoke_confirm.html",
        access=access,
        token=token,
        usage_warning=usage.usage_warning(token, utcnow()),
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
    if is_htmx_request():
        return render_template(
            "tokens/_revoked.html", access=access, token=token, message=message, category=category
        )
    flash(message, category)
    return redirect(url_for("tokens.list_tokens", slug=access.project.slug))


@bp.get("/<int:token_id>/rotate")
@project_route(Permission.MANAGE_TOKENS)
def new_rotation(access: ProjectAccess, token_id: int):
    """The rotate dialog: the replacement's expiry, and when the old token stops."""
    token = project_token(access, token_id)
    return rotation_form(access, token, RotateTokenForm(access.project, token))


def rotation_form(access: ProjectAccess, token: ApiToken, form: RotateTokenForm, status=200):
    return page_or_fragment(
        "tokens/rotate.html",
        "tokens/_rotate_form.html",
        status,
        access=access,
        token=token,
        form=form,
        usage_warning=usage.usage_warning(token, utcnow(), usage.ROTATING),
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
        return rotation_form(access, token, form, 409)
    db.session.commit()
    response = page_or_fragment(
        "tokens/created.html",
        "tokens/_created.html",
        201,
        token=new,
        value=value,
        rotated=token,
        **list_context(access),
    )
    response.headers["Cache-Control"] = "no-store"
    return response
