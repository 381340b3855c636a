"""Error pages: a clear sentence for the person, the right status, never a stack trace."""

from flask import Flask, Response, g, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException

from .access import PermissionDenied
from .api import http_error_document
from .api.errors import INTERNAL_ERROR_MESSAGE, ApiError, internal_error
from .core.projects import owners_of
from .extensions import db, login_manager
from .health import first_line
from .htmx import error_answer, is_htmx_request, vary
from .limits import retry_after, retry_in
from .permissions import roles_with
from .security import mark_private_if_signed_in

TITLES = {
    400: "That request could not be used",
    403: "Not allowed",
    404: "Page not found",
    405: "That action is not available here",
    409: "That would break a rule",
    410: "This link can no longer be used",
    413: "That was too much to send",
    429: "Too many attempts",
    500: "Something went wrong on our side",
    503: "The database cannot be reached",
}
# A database that answers but refuses to save (SQLite on a full or read-only disk).
WRITE_REFUSED_TITLE = "Changes cannot be saved right now"
WRITE_REFUSED_MESSAGE = (
    "The database refused to save this change (its disk may be full or read-only), so "
    "nothing was changed. Try again in a moment; if it lasts, tell whoever runs this server."
)
MESSAGES = {
    404: "There is nothing here, or it is not shared with you. Check the address, "
    "or go back to your projects.",
    405: "Use the buttons on the page to do this.",
    413: "The form sent more data than any form here needs. Shorten what you typed and try again.",
    500: INTERNAL_ERROR_MESSAGE,
    503: "FlagPal Dash cannot reach its database right now. Try again in a moment; if it "
    "lasts, tell whoever runs this server.",
}
# Seconds a client is asked to wait when the database cannot be reached.
RETRY_AFTER_UNREACHABLE = "5"


def error_page(status: int, message: str | None = None, title: str | None = None) -> Response:
    """The error page; for htmx, the sentence alone, where the person acted."""
    # Error pages show no account (base.html), yet Flask-Login's template context loads
    # the signed-in user, a query: not when the database may be what failed. A 403
    # follows a read of the person's role, so that page keeps the header (their name,
    # Sign out) like every other page.
    with_account = status == 403
    if not with_account:
        g.setdefault("_login_user", login_manager.anonymous_user())
    # Nor the project pages' banner (projects/__init__.py): this is no project page.
    g.pop("project_access", None)
    mark_private_if_signed_in()
    title = title or TITLES.get(status, "Something went wrong")
    message = message or MESSAGES.get(status, "")
    if is_htmx_request():
        return error_answer(status, title, message)
    page = render_template(
        "error.html", status=status, title=title, message=message, with_account=with_account
    )
    return vary(make_response(page, status))


def register(app: Flask) -> None:
    @app.teardown_appcontext
    def close_database_session(error: BaseException | None) -> None:
        """End the request's database session before Flask-SQLAlchemy would (the last
        teardown registered runs first). Its rollback fails when the database went away
        after the request's last query: the answer is ready, and gunicorn's bare 500
        must not replace it. One line, as for any request the database fails."""
        try:
            db.session.remove()
        except SQLAlchemyError as failure:
            app.logger.error("Database unreachable: %s", first_line(failure))
            # The failed rollback marked the connection invalid: now it closes quietly.
            db.session.remove()

    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError):
        return error_page(
            400,
            "This form has expired or did not come from this site, so nothing was changed. "
            "Reload the page and try again.",
        )

    @app.errorhandler(PermissionDenied)
    def permission_denied(error: PermissionDenied):
        project = error.access.project
        allowed = " or ".join(role.label.lower() + "s" for role in roles_with(error.permission))
        # The people who can change a role, by name: a viewer knows whom to ask.
        owners = [owner.name for owner in owners_of(project)]
        ask = (
            f" If you need to, ask {'the owner' if len(owners) == 1 else 'an owner'} of "
            f"{project.name} for another role: {either(owners)}."
            if owners
            else ""
        )
        return error_page(
            403,
            f"Your role in {project.name} is {error.access.membership.role.label}. "
            f"Only {allowed} can {error.permission.value}. Nothing was changed.{ask}",
        )

    @app.errorhandler(429)
    def too_many_attempts(error: HTTPException):
        # Asking for reset links counts every request, failed or not (limits.py).
        what = (
            "requests for a password reset link"
            if request.endpoint == "recovery.forgot_password"
            else "failed attempts"
        )
        response = error_page(
            429,
            f"Too many {what} from here or for this account. Wait {retry_in()}, then try again.",
        )
        # Flask-Limiter keeps the later of this and the first limit hit, so the page and
        # the header name the same wait.
        response.headers["Retry-After"] = str(retry_after())
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if is_api_request():
            return http_error_document(error)
        return error_page(error.code or 500, MESSAGES.get(error.code) or error.description)

    @app.errorhandler(DBAPIError)
    def database_error(error: DBAPIError):
        if not (isinstance(error, OperationalError) or error.connection_invalidated):
            return unexpected_error(error)  # a query the database refused: a bug
        # The database is down or unreachable (PostgreSQL stopped, the network cut), or
        # refuses to save (a full disk): one line per request, not a traceback; service
        # comes back by itself when the database does.
        refused = write_refused(error)
        app.logger.error(
            "Database %s: %s", "refused a write" if refused else "unreachable", first_line(error)
        )
        retry = {"Retry-After": RETRY_AFTER_UNREACHABLE}
        if is_api_request():
            return ApiError(
                503, "unavailable", "Service unavailable", MESSAGES[503], retry
            ).response()
        if refused:
            response = error_page(503, WRITE_REFUSED_MESSAGE, WRITE_REFUSED_TITLE)
        else:
            response = error_page(503)
        response.headers.update(retry)
        return response

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        app.logger.exception("Unhandled error")
        if is_api_request():
            return internal_error().response()
        return error_page(500)


def either(names: list[str]) -> str:
    """Names as a choice in a sentence: "A", "A or B", "A, B or C"."""
    return " or ".join(filter(None, [", ".join(names[:-1]), names[-1]]))


def write_refused(error: DBAPIError) -> bool:
    """SQLite answered but would not write: its disk is full, or read-only."""
    name = getattr(error.orig, "sqlite_errorname", "")
    return name == "SQLITE_FULL" or name.startswith("SQLITE_READONLY")


def is_api_request() -> bool:
    """API clients parse JSON:API, even for a mistyped URL or a server fault."""
    return request.path.startswith("/api/")
