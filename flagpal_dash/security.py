"""What the app believes of its proxies and what it asks of browsers.

- ``FLAGPAL_TRUSTED_PROXIES``: how many reverse proxies' ``X-Forwarded-*`` headers to
  believe, so the client address (audit log, rate limits) and links (invitations) come out
  right. With 0, the default, those headers are ignored: anyone can send them.
- ``FLAGPAL_SECURE_COOKIES``: session and remember-me cookies only over https.
- Security headers on every response: pages, fragments, the JSON API, static files and
  errors. They are made once here, so a request only adds a ready list (the token API
  is the hot path: see ``SecurityHeaders``).
- ``Cache-Control: private, no-store`` on every response to a signed-in person, so no
  shared cache or browser history keeps their pages.
"""

from flask import Flask, Response, g, request, session
from werkzeug.middleware.proxy_fix import ProxyFix

# No inline scripts, styles or event handlers anywhere (tests/test_markup.py), and htmx is
# told not to add its own (templates/base.html), so nothing needs 'unsafe-inline'.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    # Some addresses are secrets (an invitation link, the first-run setup link), so a
    # Referer never carries a path, not even to this site (where it would land in the
    # access log): only the origin. Not no-referrer: Flask-WTF refuses an https form post
    # without a referrer of this origin. (The dashboard links nowhere else.)
    ("Referrer-Policy", "strict-origin"),
    ("X-Frame-Options", "DENY"),  # frame-ancestors, for browsers that predate it
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
# Pages whose own address is a secret are not stored either.
SECRET_ADDRESS_ENDPOINTS = frozenset({"invitations.accept", "auth.setup"})
PRIVATE = "private, no-store"


def mark_private() -> None:
    """This request is answered to a signed-in person. Set where the account is loaded,
    not looked up afterwards: the token API never loads one, so all it pays is the one
    ``g`` lookup in ``keep_private``."""
    g.private_response = True


def mark_private_if_signed_in() -> None:
    """For an error page that loaded no account (say, an address that does not exist):
    private if the browser carries a sign-in, without asking the database."""
    if "_user_id" in session:
        mark_private()


def keep_private(response: Response) -> Response:
    # A response that says no-store already (a secret shown once) keeps it: nothing
    # may store it anywhere, which is all "private" would add.
    if g.get("private_response") and "no-store" not in response.headers.get("Cache-Control", ""):
        response.headers["Cache-Control"] = PRIVATE
    return response


def init_app(app: Flask) -> None:
    """Trust the configured proxies, mark cookies Secure, add the headers to responses.

    Call it after the blueprints are registered.
    """
    # One setting says the dashboard is served over https (FLAGPAL_SECURE_COOKIES, on by
    # default with an https FLAGPAL_PUBLIC_URL): Secure cookies, and HSTS.
    secure = app.config.setdefault("SECURE_COOKIES", False)
    if secure:
        app.config.update(SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True)
    app.wsgi_app = SecurityHeaders(app.wsgi_app, (*HEADERS, HSTS) if secure else HEADERS)
    hops = app.config.setdefault("TRUSTED_PROXIES", 0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)

    def keep_secret_address(response: Response) -> Response:
        if request.endpoint in SECRET_ADDRESS_ENDPOINTS:
            response.headers["Cache-Control"] = "no-store"
        return response

    # Only on the blueprints of those pages, so other requests skip the check.
    for blueprint in sorted({endpoint.split(".")[0] for endpoint in SECRET_ADDRESS_ENDPOINTS}):
        app.after_request_funcs.setdefault(blueprint, []).append(keep_secret_address)
    app.after_request(keep_private)


class SecurityHeaders:
    """WSGI middleware that appends ``headers`` to every response's header list.

    Below Flask, so it sees every response (static files and error pages included), and
    cheap: it appends a tuple made once, where an ``after_request`` hook calling
    ``response.headers.extend`` would check each value again on every response and make
    Werkzeug copy more headers. The token API is the hot path. No view sets these
    headers itself.
    """

    def __init__(self, wsgi_app, headers: tuple[tuple[str, str], ...]):
        self.wsgi_app = wsgi_app
        self.headers = headers

    def __call__(self, environ, start_response):
        headers = self.headers

        def start_with_headers(status, response_headers, exc_info=None):
            response_headers.extend(headers)
            return start_response(status, response_headers, exc_info)

        return self.wsgi_app(environ, start_with_headers)
