"""Which ability a forward-auth subrequest needs: the rule, in plain Python (no Flask).

A reverse proxy asks ``/api/v1/auth`` whether to let a request through and describes
that original request in headers: ``X-Original-Method``/``X-Original-URI`` (nginx) or
``X-Forwarded-Method``/``X-Forwarded-Uri`` (Caddy, Traefik). Some proxies also pass on
whatever headers the client sent, so the rule never lets a client lower the ability
needed:

- the two header families must agree when both are present; several values of one
  header are refused, never one of them believed;
- the original path is read once, as the upstream reads it: any form an upstream could
  read in more than one way (dot segments, ``//``, encoded ``/ \\ . ; %``, ``;``
  parameters, control characters, invalid percent-encoding or UTF-8, characters that
  Unicode compatibility folding changes) is refused, then the path is percent-decoded
  once;
- ``metrics`` is needed only for ``POST`` to the metric endpoint's exact path; a path
  that differs from it only by case, or continues it with anything but a letter, digit,
  ``-`` or ``_`` (``/``, ``.json``, a space), is refused rather than guessed;
- a token in the original path (its whole shape, `_` maybe encoded) or query (any
  value with the prefix, or a parameter named like TOKEN_QUERY_NAMES) is refused, as in
  a query to this API.

The checks a common request pays for are plain substring tests and one regular
expression; the rest runs only when a path holds `%`, `/.` or the word `flagpal`.
"""

import re
import unicodedata
from typing import NamedTuple
from urllib.parse import parse_qsl, unquote_to_bytes

from .. import abilities as ability
from .. import token_format

# What a proxy configuration may name in the auth URL: /api/v1/auth/read, … (not
# ``rotate``: no request through a proxy is a rotation; only POST /api/v1/token/rotate is.)
FIXED_ABILITIES = (ability.READ, ability.WRITE, ability.METRICS)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Query parameters that clients put tokens in; a value shaped like a token counts too.
TOKEN_QUERY_NAMES = frozenset({"access_token", "token", "api_token", "api_key", "apikey"})

# Headers that frameworks (Symfony, Laravel, Express's method-override, …) read the
# method from, in place of the request's own.
METHOD_OVERRIDE_HEADERS = ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override")
# The methods nearly every request has, which need no closer look.
COMMON_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})
# Any other HTTP method: letters, and `-` or `_` inside.
METHOD = re.compile(r"[A-Za-z][A-Za-z_-]{0,31}")
# Characters upstreams read differently in a path: spaces, control characters, anything
# not ASCII, `\`, `;` parameters, a fragment, and `,` (a header sent twice, joined).
BAD_CHARACTER = re.compile(r"[\x00-\x20\x7f-\U0010ffff\\;#,]")
DOT_SEGMENT = re.compile(r"/\.\.?(?:/|$)")
# Invalid percent-encoding, or an encoded `.`, `/`, `%`, `\`, `;` or control character.
BAD_ENCODING = re.compile(r"%(?![0-9A-Fa-f]{2})|%(?:2[EeFf5]|5[Cc]|3[Bb]|[01][0-9A-Fa-f]|7[Ff])")
# A token, also with its `_` percent-encoded, in a raw path; and in a decoded one.
TOKEN_IN_RAW_PATH = re.compile(r"flagpal(?:_|%5[Ff])[0-9A-Za-z]{46}")
TOKEN = re.compile(token_format.PATTERN)
# How the metric endpoint's path may continue and still be another resource.
WORD = re.compile(r"[a-z0-9_-]")


class Refused(Exception):
    """The subrequest cannot be decided: an HTTP status, a stable code, and words.

    What a client can cause is refused with 403 (or 401 for a token in the URL): nginx
    passes only 401 and 403 from the auth request on to the client, and turns any other
    status into a 500. A proxy configured wrongly gets 400, which nginx shows as 500:
    loud, as it should be.
    """

    def __init__(self, status: int, code: str, title: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail


class OriginalRequest(NamedTuple):
    method: str
    path: str  # percent-decoded once


def described(nginx: str | None, forwarded: str | None, names: tuple[str, str]) -> str | None:
    """The one value the proxy sent (for the method, or the URI) in the nginx header
    and the Caddy/Traefik header; refused when both are present and disagree."""
    if nginx and forwarded and nginx != forwarded:
        raise Refused(
            403,
            "original_request_conflict",
            "Original request described twice",
            f"{names[0]} and {names[1]} disagree: a client may have sent one of them. "
            "Configure the proxy as the README shows, so that it sets one and removes "
            "the other.",
        )
    return nginx or forwarded


def refuse_token_in_original_query(query: str) -> None:
    """Tokens in URLs end up in logs: refuse them outright, as in a query to this API."""
    for name, value in parse_qsl(query, keep_blank_values=True):
        if (
            name.lower() in TOKEN_QUERY_NAMES
            or token_format.PREFIX in value
            or token_format.PREFIX in name
        ):
            raise token_in_url()


def token_in_url() -> Refused:
    return Refused(
        401,
        "token_malformed",
        "Token malformed",
        "Tokens are accepted only in the `Authorization: Bearer` header, never in a URL. "
        "Remove it from the URL, and revoke it if it was a real token: URLs are logged.",
    )


def original_request(method: str | None, uri: str | None) -> OriginalRequest:
    """The original request as its upstream will read it, or ``Refused``."""
    if not method:
        raise Refused(
            400,
            "method_unknown",
            "Original method unknown",
            "Forward-auth needs the original request's method: have the proxy send "
            "X-Original-Method (nginx) or X-Forwarded-Method (Caddy, Traefik), as the "
            "README shows.",
        )
    if "," in method or ",/" in (uri or ""):
        # How a server joins a header sent twice: which one would the upstream see?
        raise Refused(
            403,
            "original_request_repeated",
            "Original request described twice",
            "Send X-Original-Method and X-Original-URI (or X-Forwarded-Method and "
            "X-Forwarded-Uri) once each.",
        )
    if method not in COMMON_METHODS:
        if not METHOD.fullmatch(method):
            raise Refused(
                400,
                "method_invalid",
                "Original method invalid",
                "The original method must be one HTTP method, like GET or POST.",
            )
        method = method.upper()
    if not uri:
        raise Refused(
            400,
            "uri_unknown",
            "Original URI unknown",
            "Forward-auth needs the original request's URI: have the proxy send "
            "X-Original-URI (nginx) or X-Forwarded-Uri (Caddy, Traefik), as the README shows.",
        )
    raw_path, _, query = uri.partition("?")
    if query:
        refuse_token_in_original_query(query)
    if "flagpal" in raw_path and TOKEN_IN_RAW_PATH.search(raw_path):
        raise token_in_url()
    # The plain `in` tests first: most paths have no `%`, `//` or `/.` at all.
    if (
        raw_path[:1] != "/"
        or "//" in raw_path
        or BAD_CHARACTER.search(raw_path)
        or ("/." in raw_path and DOT_SEGMENT.search(raw_path))
    ):
        raise ambiguous()
    path = raw_path
    if "%" in raw_path:
        if BAD_ENCODING.search(raw_path):
            raise ambiguous()
        try:
            path = unquote_to_bytes(raw_path).decode()
        except UnicodeDecodeError:
            raise ambiguous() from None
        if TOKEN.search(path):
            raise token_in_url()
        # Some upstreams fold compatibility characters: a fullwidth `／` or `．` would
        # become a separator or a dot segment after this check.
        if not path.isascii() and unicodedata.normalize("NFKC", path) != path:
            raise ambiguous()
    return OriginalRequest(method, path)


def ambiguous() -> Refused:
    return Refused(
        403,
        "original_uri_ambiguous",
        "Original URI ambiguous",
        "The original path could be read in more than one way (dot segments, `//`, "
        "encoded `/`, `\\`, `.`, `;` or `%`, `;` parameters, control characters, or a "
        "near miss of the metric endpoint), so it is refused rather than guessed.",
    )


def needed(request: OriginalRequest, metrics_path: str) -> str:
    """The ability the original request needs: ``metrics`` for ``POST`` to the metric
    endpoint's exact path, ``read`` for GET, HEAD and OPTIONS, ``write`` otherwise."""
    path = request.path
    if path == metrics_path:
        if request.method == "POST":
            return ability.METRICS
    else:
        folded, metrics_folded = path.casefold(), metrics_path.casefold()
        if folded.startswith(metrics_folded):
            rest = folded[len(metrics_folded) :]
            # The same path in another case, or it continued by `/`, `.json`, `~`, …:
            # an upstream may route either to the metric endpoint.
            if not rest or not WORD.match(rest):
                raise ambiguous()
    return ability.READ if request.method in READ_METHODS else ability.WRITE


def abilities_needed(
    fixed: str | None,
    methods: tuple[str | None, str | None],
    uris: tuple[str | None, str | None],
    metrics_path: str,
    method_override: str | None = None,
) -> str | tuple[str, str]:
    """What a forward-auth subrequest needs: the ability ``fixed`` by the auth URL's path
    (``/api/v1/auth/<ability>``) and the one the original request needs, when the proxy
    describes it (``methods`` and ``uris``: the nginx header's value, then the
    Caddy/Traefik header's). Both, when they differ: neither can lower the other.

    ``method_override`` is any of METHOD_OVERRIDE_HEADERS the client sent: many
    frameworks take the method from it, so the original request's own is not the one
    the upstream would serve."""
    method = described(*methods, ("X-Original-Method", "X-Forwarded-Method"))
    uri = described(*uris, ("X-Original-URI", "X-Forwarded-Uri"))
    if fixed is not None and not method and not uri:
        return fixed
    inferred = needed(original_request(method, uri), metrics_path)
    if method_override:
        raise Refused(
            403,
            "method_override_refused",
            "Method override refused",
            "Send the request with its real method and without "
            f"{', '.join(METHOD_OVERRIDE_HEADERS)}: the upstream could serve it as "
            "another method than the one checked.",
        )
    if fixed is None or fixed == inferred:
        return inferred
    return (fixed, inferred)
