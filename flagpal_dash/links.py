"""The dashboard's public address, and the links built on it.

A link that leaves the request it was made in (printed by a command, logged, mailed,
or shown for someone to pass on) is built here: at ``FLAGPAL_PUBLIC_URL`` when set,
otherwise at the address the server was started on (``FLAGPAL_SERVED_AT``, which
``make run``, ``make serve`` and gunicorn_conf.py hand to the app). Never at the
request's ``Host`` or ``X-Forwarded-Host``: those say whatever the client sent, and a
forged one would send the first admin's setup link, or an invitation, to another
site. When neither address is known the link is the path alone, and what shows it
says "on this server".

Links inside a page the browser renders stay relative (plain ``url_for``).
"""

from urllib.parse import urlsplit

from flask import current_app


def public_address() -> str:
    """Where people reach the dashboard, like ``https://flags.example.com``; '' when
    neither FLAGPAL_PUBLIC_URL nor the served address is known."""
    config = current_app.config
    return config.get("PUBLIC_URL") or config.get("SERVED_AT") or ""


def external_url(endpoint: str, *, base: str | None = None, **values) -> str:
    """The address of ``endpoint`` (with ``values``) at ``base``, by default
    :func:`public_address`; the path alone when that is unknown. Needs an app context,
    not a request."""
    base = public_address() if base is None else base
    parts = urlsplit(base or "http://localhost")
    adapter = current_app.url_map.bind(
        parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme
    )
    current_app.inject_url_defaults(endpoint, values)
    return adapter.build(endpoint, values, force_external=bool(base))


def on_this_server(link: str) -> str:
    """``link`` for a sentence: a path alone (no address known) says where it is."""
    return link if "://" in link else f"{link} on this server"
