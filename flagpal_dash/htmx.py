"""How views answer htmx, and the same action without JavaScript.

One URL often answers both: htmx gets a fragment to swap into the open page, a plain
request a whole page or a redirect. These helpers choose, and set htmx's response
headers (django-htmx's set: client redirect, trigger, retarget and reswap), so no view
writes a header by hand and every answer that differs says ``Vary: HX-Request``.
"""

from flask import Flask, Response, flash, make_response, redirect, render_template, request

# base.html's <dialog> adds it to every request made from inside the dialog, so an
# error can be shown there, where the person acted.
DIALOG_HEADER = "FlagPal-Dialog"


def is_htmx_request() -> bool:
    return request.headers.get("HX-Request") == "true"


def from_dialog() -> bool:
    """Whether this htmx request was made from the dialog (a confirm, a form in it) or
    asks for content to open it with."""
    return is_htmx_request() and (
        request.headers.get(DIALOG_HEADER) == "true"
        or request.headers.get("HX-Target") == "dialog-content"
    )


def vary(response: Response) -> Response:
    """Mark an answer that depends on HX-Request: caches must keep page and fragment apart."""
    response.vary.add("HX-Request")
    return response


def page_or_fragment(page: str, fragment: str, status: int = 200, /, **context) -> Response:
    """Render ``fragment`` for htmx (it swaps into the open page), ``page`` otherwise.

    Every page template includes its fragment, so both show the same thing.
    """
    template = fragment if is_htmx_request() else page
    return vary(make_response(render_template(template, **context), status))


def dialog(fragment: str, title: str, section: str, status: int = 200, /, **context) -> Response:
    """A dialog's content for htmx; without JavaScript the same fragment on a page of
    its own, under the project's ``section`` heading (projects/dialog.html)."""
    return page_or_fragment(
        "projects/dialog.html",
        fragment,
        status,
        fragment=fragment,
        title=title,
        section=section,
        **context,
    )


def client_redirect(url: str, status: int = 204) -> Response:
    """Tell htmx to load ``url`` as a whole page: a fragment cannot replace the page."""
    response = make_response("", status)
    response.headers["HX-Redirect"] = url
    return vary(response)


def redirect_page(url: str) -> Response:
    """Go to ``url``: htmx by a client redirect, a plain request by a 302."""
    return client_redirect(url) if is_htmx_request() else vary(redirect(url))


TRIGGER_HEADERS = {
    "receive": "HX-Trigger",
    "settle": "HX-Trigger-After-Settle",
    "swap": "HX-Trigger-After-Swap",
}


def trigger(response: Response, event: str, after: str = "receive") -> Response:
    """Have htmx fire ``event`` in the page when the answer arrives, or after it is
    swapped or settled (``after``)."""
    header = TRIGGER_HEADERS[after]
    events = [name for name in response.headers.get(header, "").split(",") if name.strip()]
    response.headers[header] = ", ".join([*events, event])
    return response


def retarget(response: Response, target: str, swap: str = "innerHTML") -> Response:
    """Swap the answer into ``target`` (a CSS selector) instead of the element that asked.

    Error answers carry it: static/app.js swaps an error only where the server said."""
    response.headers["HX-Retarget"] = target
    response.headers["HX-Reswap"] = swap
    return response


def changed(
    fragment: str | None,
    url: str,
    message: str,
    category: str = "success",
    status: int = 200,
    **context,
) -> Response:
    """The answer to a change: htmx gets ``fragment`` (the changed part; none when it is
    gone) and the message in the flash region; a plain POST is redirected to ``url``,
    where the message waits. Done from the dialog, the dialog closes once the fragment
    is swapped, so focus can go back to the changed row."""
    if not is_htmx_request():
        flash(message, category)
        return vary(redirect(url))
    body = render_template(fragment, **context) if fragment else ""
    body += render_template("_flash.html", oob=True, messages=[(category, message)])
    response = vary(make_response(body, status))
    if from_dialog() and status < 400:
        trigger(response, "close-dialog", after="swap")
    return response


def error_answer(status: int, title: str, message: str) -> Response:
    """An error for htmx, shown where the person acted: in the dialog when the request
    came from it, in the flash region otherwise."""
    if from_dialog():
        body = render_template("_dialog_error.html", title=title, message=message)
        return vary(retarget(make_response(body, status), "#dialog-content"))
    body = render_template("_flash.html", messages=[("error", message)])
    return vary(retarget(make_response(body, status), "#flash", "outerHTML"))


def register(app: Flask) -> None:
    app.jinja_env.globals["is_htmx_request"] = is_htmx_request
