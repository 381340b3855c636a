"""How a setting's value is read and checked: the error that stops the app at start,
on/off words, whole numbers, http addresses. (config.py and sign_in_settings.py read
the settings themselves.)"""

from collections.abc import Mapping
from urllib.parse import SplitResult, urlsplit

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


class ConfigError(ValueError):
    """A setting has a value the app cannot use; the message says which and why."""


def address_parts(value: str) -> SplitResult | None:
    """``value`` split into its parts if it is an http or https address with a host, a
    port that is a number (if any), and nothing after its path; None otherwise."""
    parts = urlsplit(value)
    try:
        port_ok = parts.port != 0
    except ValueError:  # not a number, or out of range
        port_ok = False
    if (
        not port_ok
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
    ):
        return None
    return parts


def http_address(value: str, name: str) -> str:
    """An address like https://flags.example.com, checked, without a trailing slash
    ('' when ``value`` is empty). ``name`` says where it came from, for the error."""
    value = value.strip().rstrip("/")
    if not value:
        return ""
    if address_parts(value) is None:
        raise ConfigError(
            f"{name} must be an http or https address like https://flags.example.com, not {value!r}"
        )
    return value


def bool_setting(environ: Mapping[str, str], name: str, *, default: bool) -> bool:
    """Every on/off setting reads the same words, and a word it does not know stops the
    app instead of quietly meaning one or the other."""
    raw = environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS:
        return False
    raise ConfigError(
        f"{name} must be 1 or 0 (on or off), not {environ[name]!r}{comment_hint(environ[name])}"
    )


def int_setting(
    environ: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int
) -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(
            f"{name} must be a whole number, not {raw!r}{comment_hint(raw)}"
        ) from None
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name} must be between {minimum} and {maximum}, not {value}")
    return value


def comment_hint(raw: str) -> str:
    """What to do about a value that holds what was meant as a comment: systemd's
    EnvironmentFile= keeps a ``# …`` after a value as part of it."""
    return ": put comments on their own line" if "#" in raw else ""
