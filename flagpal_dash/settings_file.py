"""The settings file: one file of ``FLAGPAL_*`` settings for the server and every command.

The same file serves systemd (``EnvironmentFile=``), gunicorn and ``flask --app wsgi``
(``FLAGPAL_ENV_FILE``), and ``flagpal-dash`` (``--env-file PATH`` or
``FLAGPAL_ENV_FILE``)::

    # Comments are lines of their own.
    FLAGPAL_DATABASE_URL=sqlite:////var/lib/flagpal-dash/flagpal.sqlite3
    FLAGPAL_SIGN_IN_LIMIT=20 per 5 minutes

A variable already set in the environment wins over the file, so one command can be
run with one setting changed.

A ``#`` after a value is refused rather than read as a comment: systemd keeps it as
part of the value, so the line would mean one thing to the server and another to the
commands. A value that holds a ``#`` goes in double quotes, which both read alike.
"""

import io
import os
import re
from collections.abc import MutableMapping
from pathlib import Path

from .config import ConfigError

# The variable that names the file, for the commands and servers not given --env-file.
ENV_FILE = "FLAGPAL_ENV_FILE"

# An unquoted value with ` #` in it: a comment to python-dotenv, part of the value to
# systemd.
_TRAILING_COMMENT = re.compile(r"""^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*[^'"\s].*\s#""")


def read(path: str | os.PathLike) -> dict[str, str]:
    """The settings in the file at ``path``; ``ConfigError`` naming the file and the line
    if it cannot be read, or a line could be read two ways."""
    from dotenv.parser import parse_stream

    path = Path(path).absolute()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise ConfigError(f"Cannot read the settings file {path}: {reason}") from None
    settings = {}
    for binding in parse_stream(io.StringIO(text)):
        line = binding.original.line
        if binding.error:
            raise ConfigError(
                f"{path}, line {line}: not a setting: write KEY=VALUE, or # for a comment line"
            )
        if binding.key is None:  # a comment or a blank line
            continue
        if _TRAILING_COMMENT.match(binding.original.string):
            raise ConfigError(
                f"{path}, line {line}: {binding.key} has a comment after its value, which "
                "systemd reads as part of the value: put comments on their own line (or the "
                "value in double quotes if the # belongs to it)"
            )
        if binding.value is not None:
            settings[binding.key] = binding.value
    return settings


def load(path: str | os.PathLike | None = None, environ: MutableMapping | None = None) -> None:
    """Put the file's settings into ``environ`` (the process's environment), leaving those
    already set. ``path`` defaults to ``FLAGPAL_ENV_FILE``; with neither, nothing."""
    environ = os.environ if environ is None else environ
    path = path or environ.get(ENV_FILE)
    if not path:
        return
    for name, value in read(path).items():
        environ.setdefault(name, value)
