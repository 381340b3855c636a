"""How views answer htmx requests: the fragment alone, or the whole page otherwise."""

from flask import Flask, Response, make_response, render_template, request


def is_htmx_request() -> bool:
    return request.headers.get("HX-Request") == "true"


def page_or_fragment(page: str, fragment: str, status: int = 200, **context) -> Response:
    """Render ``fragment`` for htmx (it swaps into the open page), ``page`` otherwise.

    Every page template includes its fragment, so both show the same thing.
    """
    template = fragment if is_htmx_request() else page
    return make_response(render_template(template, **context), status)


def register(app: Flask) -> None:
    app.jinja_env.globals["is_htmx_request"] = is_htmx_request

    @app.after_request
    def vary_on_htmx(response: Response) -> Response:
        # One URL answers with a page or a fragment; caches must keep them apart.
        if response.mimetype == "text/html":
            response.vary.add("HX-Request")
        return response
