"""The sign-in settings: single sign-on with an OpenID Connect provider
(``FLAGPAL_OIDC_*``) and who may still sign in with a password
(``FLAGPAL_PASSWORD_SIGN_IN``). Checked at start, like every other setting."""

import ipaddress
import re
from collections.abc import Mapping

from .setting_checks import ConfigError, address_parts, comment_hint

# FLAGPAL_PASSWORD_SIGN_IN: everyone, instance admins only, or nobody.
PASSWORD_SIGN_IN_ON = "on"
PASSWORD_SIGN_IN_ADMINS = "admins"
PASSWORD_SIGN_IN_OFF = "off"
PASSWORD_SIGN_IN_WORDS = (PASSWORD_SIGN_IN_ON, PASSWORD_SIGN_IN_ADMINS, PASSWORD_SIGN_IN_OFF)
DEFAULT_OIDC_NAME = "single sign-on"
# A domain as people write it after the @: labels of letters, digits and hyphens.
DOMAIN = re.compile(r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")

# What the app reads when no setting is given (tests build apps without the environment).
DEFAULTS = {
    "OIDC_ISSUER": "",
    "OIDC_CLIENT_ID": "",
    "OIDC_CLIENT_SECRET": "",
    "OIDC_NAME": DEFAULT_OIDC_NAME,
    "OIDC_ALLOWED_DOMAINS": (),
    "OIDC_ADMIN_GROUP": "",
    "PASSWORD_SIGN_IN": PASSWORD_SIGN_IN_ON,
}


def anyone_signs_in_with_a_password(setting: str) -> bool:
    """Whether FLAGPAL_PASSWORD_SIGN_IN ``setting`` leaves a password to anyone at all
    (then a page shows a password form). Who exactly: core/accounts.py's
    ``password_sign_in_allowed``."""
    return setting in (PASSWORD_SIGN_IN_ON, PASSWORD_SIGN_IN_ADMINS)


def from_environment(environ: Mapping[str, str]) -> dict:
    """The sign-in settings, checked; a mistake stops the app with a message naming the
    setting and what it should look like."""
    issuer = oidc_issuer(environ.get("FLAGPAL_OIDC_ISSUER", ""))
    client_id = environ.get("FLAGPAL_OIDC_CLIENT_ID", "").strip()
    client_secret = environ.get("FLAGPAL_OIDC_CLIENT_SECRET", "").strip()
    given = [
        name
        for name in ("FLAGPAL_OIDC_CLIENT_ID", "FLAGPAL_OIDC_CLIENT_SECRET")
        if environ.get(name, "").strip()
    ]
    if issuer and len(given) < 2:
        missing = " and ".join(
            name
            for name in ("FLAGPAL_OIDC_CLIENT_ID", "FLAGPAL_OIDC_CLIENT_SECRET")
            if name not in given
        )
        raise ConfigError(
            f"FLAGPAL_OIDC_ISSUER is set, so {missing} must be too: the client id and "
            "secret the provider gave this dashboard when it was registered there"
        )
    if not issuer and given:
        raise ConfigError(
            f"{given[0]} is set but FLAGPAL_OIDC_ISSUER is not: set it to the provider's "
            "issuer address, like https://sso.example.com/realms/acme"
        )
    password = password_sign_in(environ.get("FLAGPAL_PASSWORD_SIGN_IN", ""))
    if password != PASSWORD_SIGN_IN_ON and not issuer:
        raise ConfigError(
            f"FLAGPAL_PASSWORD_SIGN_IN is {password}, but single sign-on is not set up "
            "(FLAGPAL_OIDC_ISSUER): nobody could sign in. Set up single sign-on first, or "
            "remove FLAGPAL_PASSWORD_SIGN_IN"
        )
    return {
        "OIDC_ISSUER": issuer,
        "OIDC_CLIENT_ID": client_id,
        "OIDC_CLIENT_SECRET": client_secret,
        "OIDC_NAME": environ.get("FLAGPAL_OIDC_NAME", "").strip() or DEFAULT_OIDC_NAME,
        "OIDC_ALLOWED_DOMAINS": allowed_domains(environ.get("FLAGPAL_OIDC_ALLOWED_DOMAINS", "")),
        "OIDC_ADMIN_GROUP": environ.get("FLAGPAL_OIDC_ADMIN_GROUP", "").strip(),
        "PASSWORD_SIGN_IN": password,
    }


def oidc_issuer(raw: str) -> str:
    """The provider's issuer address, without a trailing slash ('' when not set): https,
    or plain http on this machine only (a provider for tests), since the ID tokens'
    keys and the client secret travel over it."""
    value = raw.strip().rstrip("/")
    if not value:
        return ""
    parts = address_parts(value)
    if parts is None:
        raise ConfigError(
            "FLAGPAL_OIDC_ISSUER must be the provider's issuer address, like "
            f"https://sso.example.com/realms/acme, not {value!r}{comment_hint(value)}"
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"FLAGPAL_OIDC_ISSUER must be an https address, not {value!r}: plain http is "
            "allowed only for a provider on this machine (localhost, 127.0.0.1, ::1)"
        )
    return value


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_domains(raw: str) -> tuple[str, ...]:
    """The email domains whose people get an account on their first single sign-on,
    comma-separated (``example.com,example.org``); none: nobody new without an invitation."""
    domains = []
    for part in raw.split(","):
        domain = part.strip().lower().removeprefix("@")
        if not domain:
            continue
        if not DOMAIN.fullmatch(domain):
            raise ConfigError(
                "FLAGPAL_OIDC_ALLOWED_DOMAINS must list email domains, comma-separated, "
                f"like example.com,example.org, not {part.strip()!r}{comment_hint(part)}"
            )
        domains.append(domain)
    return tuple(domains)


def password_sign_in(raw: str) -> str:
    value = raw.strip().lower() or PASSWORD_SIGN_IN_ON
    if value not in PASSWORD_SIGN_IN_WORDS:
        raise ConfigError(
            "FLAGPAL_PASSWORD_SIGN_IN must be on (everyone), admins (instance admins only) "
            f"or off (single sign-on only), not {raw!r}{comment_hint(raw)}"
        )
    return value
