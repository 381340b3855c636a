"""JSON:API error documents, the only way the token API says no."""

import orjson
from flask import Response

MEDIA_TYPE = "application/vnd.api+json"
REALM = 'Bearer realm="flagpal"'


class ApiError(Exception):
    """A refusal: its HTTP status, a stable ``code`` for programs, and words for people."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
        pointer: str | None = None,
        parameter: str | None = None,
    ):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        # Where in the request body the problem is (a JSON Pointer, like "/3/token").
        self.pointer = pointer
        # Which query parameter is wrong (``page[size]``), for a bad query string.
        self.parameter = parameter

    def response(self) -> Response:
        return Response(self.body(), self.status, headers=self.headers, mimetype=MEDIA_TYPE)

    def body(self) -> bytes:
        """The JSON:API error document."""
        error = {
            "status": str(self.status),
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
        }
        if self.pointer is not None:
            error["source"] = {"pointer": self.pointer}
        elif self.parameter is not None:
            error["source"] = {"parameter": self.parameter}
        return orjson.dumps({"errors": [error]})


def unauthorized(code: str, title: str, detail: str, *, token_sent: bool = True) -> ApiError:
    """401. ``error="invalid_token"`` tells a client (RFC 6750) its token is no good."""
    challenge = REALM + (', error="invalid_token"' if token_sent else "")
    return ApiError(401, code, title, detail, {"WWW-Authenticate": challenge})


INTERNAL_ERROR_MESSAGE = "The problem has been logged. Try again in a moment."


def internal_error() -> ApiError:
    """500, for a fault of ours (logged where it is caught, with its traceback)."""
    return ApiError(500, "internal_error", "Internal error", INTERNAL_ERROR_MESSAGE)
