"""The home page (your projects) and each project's own page."""

from flask import Blueprint, render_template
from flask_login import current_user, login_required

from ..access import ProjectAccess, project_route
from ..permissions import Permission

bp = Blueprint("projects", __name__)


@bp.get("/")
@login_required
def index():
    """The projects the signed-in person belongs to."""
    return render_template("projects/index.html", projects=current_user.projects())


@bp.get("/projects/<slug>")
@project_route(Permission.VIEW_TOKENS)
def overview(access: ProjectAccess):
    """A project's page, with its settings (API Tokens) one click away."""
    return render_template("projects/overview.html", access=access)
