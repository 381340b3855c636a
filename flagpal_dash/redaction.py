"""Keeping secrets out of every log: token values, the secrets in invitation, password
reset and setup addresses, and single sign-on's authorization codes become
``[redacted]``, wherever a log line comes from.

No Flask here: gunicorn's master process installs it before any app exists.

It is installed as the log record factory (``logging.setLogRecordFactory``), not as a
filter on some loggers or handlers. A filter on a logger does not see records that
propagate up from its children, and a filter on a handler misses every handler added
later: gunicorn's, pytest's, an operator's logging configuration. The factory makes
every record of every logger in the process, so each one is cleaned once, before any
filter, handler or formatter sees it. It runs only for records that are emitted (a
logger checks its level first).
"""

import logging
import re

from . import token_format

REDACTED = "[redacted]"

# A token as token_format defines it, also URL-encoded (``_`` as ``%5F``), also a
# personal access token (``flagpal_pat_`` and the same body). Built from that one
# definition, so a change to the format cannot leave tokens of the new shape in logs.
_UNDERSCORE = r"(?:_|%5[Ff])"
_PREFIX = re.escape(token_format.PREFIX).replace("_", _UNDERSCORE)
_BODY = token_format.PATTERN.removeprefix(token_format.PREFIX)
_TOKEN = re.compile(rf"{_PREFIX}(?:pat{_UNDERSCORE})?{_BODY}")
# What every spelling of a token starts with.
_TOKEN_WORD = token_format.PREFIX.removesuffix("_")
# The secret of an invitation, a password reset or the first-run setup link, also with URL-encoded
# slashes (a ``next=`` parameter, say). Shorter path segments (``new``, an id) are
# ordinary pages.
_SLASH = r"(?:/|%2[Ff])"
_SECRET_ADDRESS = re.compile(
    rf"({_SLASH}(?:invitations|password-reset|setup){_SLASH})[A-Za-z0-9_-]{{20,}}"
)

# The authorization code single sign-on's provider sends back (auth/sso.py): used once,
# and worth nothing without the client secret and this browser's PKCE verifier, but a
# credential all the same until it is used.
_SSO_CODE = re.compile(r"(callback\?(?:[^\s\"]*?&)?code=)[^&\s\"]+")


def redact(text: str) -> str:
    """``text`` without token values, the secrets of invitation, password reset and
    setup links, or single sign-on's authorization codes."""
    # Most lines hold none of the words: a substring test is a fraction of the regexes'
    # cost, and gunicorn logs a line for every request.
    if (
        _TOKEN_WORD not in text
        and "invitations" not in text
        and "password-reset" not in text
        and "setup" not in text
        and "callback" not in text
    ):
        return text
    text = _SSO_CODE.sub(r"\1" + REDACTED, text)
    return _SECRET_ADDRESS.sub(r"\1" + REDACTED, _TOKEN.sub(REDACTED, text))


def clean(record: logging.LogRecord) -> logging.LogRecord:
    """Redact ``record`` in place: its message with its arguments, its traceback and
    its stack. Left as it is when there is nothing to redact, so handlers still see the
    message template and arguments."""
    try:
        message = record.getMessage()
    except Exception:  # (arguments that do not fit the message: logging reports it)
        message = None
    if message is not None and (cleaned := redact(message)) != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and record.exc_info[0] is not None:
        traceback = logging.Formatter().formatException(record.exc_info)
        if (cleaned := redact(traceback)) != traceback:
            # Formatters print exc_text as the traceback; a formatter that formats
            # exc_info itself (a JSON one, say) gets no exception rather than the secret.
            record.exc_text, record.exc_info = cleaned, None
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


class _RedactingFactory:
    """Makes records with the factory it replaced, then cleans them."""

    def __init__(self, make_record):
        self.make_record = make_record

    def __call__(self, *args, **kwargs) -> logging.LogRecord:
        return clean(self.make_record(*args, **kwargs))


def install() -> None:
    """Clean every log record this process makes from now on (once, however often
    it is called)."""
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _RedactingFactory):
        logging.setLogRecordFactory(_RedactingFactory(factory))
