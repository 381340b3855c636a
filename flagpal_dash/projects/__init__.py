"""The home page (your projects) and each project's own page."""

from flask import Blueprint, g, render_template
from flask_login import current_user, login_required

from ..access import ProjectAccess, project_route
from ..core import projects as project_rules
from ..core import tokens
from ..htmx import is_htmx_request
from ..models import utcnow
from ..permissions import Permission

bp = Blueprint("projects", __name__)


@bp.app_context_processor
def project_layout() -> dict:
    """What projects/layout.html shows around every project page: the tokens that expire
    soon. Only for a whole page under a project route (an htmx fragment swaps into a
    page that already shows it)."""
    access = g.get("project_access")
    if access is None or is_htmx_request():
        return {}
    return {"expiring_tokens": tokens.expiring(utcnow(), project=access.project)}


@bp.get("/")
@login_required
def index():
    """The projects the signed-in person belongs to."""
    return render_template("projects/index.html", projects=project_rules.projects_of(current_user))


@bp.get("/projects/<slug>")
@project_route(Permission.VIEW_TOKENS)
def overview(access: ProjectAccess):
    """A project's page, with its settings (API Tokens) one click away."""
    return render_template("projects/overview.html", access=access)
