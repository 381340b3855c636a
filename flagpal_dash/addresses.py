"""Where a webhook may send: the rule against server-side request forgery (SSRF).

A webhook URL is typed by a project owner, and the server then sends requests to it
from inside the network it runs in. Without a rule, an owner (or whoever took over an
owner's account) could point a webhook at the cloud's metadata address, a database's
admin port or anything else only the server can reach, and read the answers in the
deliveries list. So a webhook URL must name a public address: every address its host
resolves to is checked, and the request then goes to the very address that was checked
(``resolve`` hands it over), never to a second DNS answer, which an attacker's DNS
server could change between the check and the connection (DNS rebinding).

The operator may allow private addresses (``FLAGPAL_WEBHOOK_ALLOW_PRIVATE``): a receiver
on the same machine or the office network. Then plain http is allowed as well; without
it only https is, since every address http would be safe on (loopback) is refused anyway.

Plain Python, no Flask: the rule reads and tests on its own.
"""

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

# The longest webhook URL kept (browsers and receivers handle far longer, but a
# receiver's address has no reason to be).
MAX_URL_LENGTH = 2000

# Addresses that are not "somewhere on the internet", beyond what ``ipaddress`` calls
# private: the 100.64/10 carrier-grade NAT range (is_private leaves it out) and
# the metadata address some clouds answer on (169.254.169.254 is link-local already;
# AWS's IPv6 one is fd00:ec2::254, inside fc00::/7).
_EXTRA_REFUSED = (
    ipaddress.ip_network("100.64.0.0/10"),
    ipaddress.ip_network("192.0.0.0/24"),
)


class AddressRefused(ValueError):
    """A webhook URL the rule refuses; the message says why, in words for an owner."""


def refused_because(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why ``address`` is not a public one (None when it is)."""
    if isinstance(address, ipaddress.IPv6Address):
        # ::ffff:127.0.0.1 reaches 127.0.0.1; ::127.0.0.1 and 64:ff9b::/96 (NAT64)
        # too, on some networks: judge the IPv4 address inside.
        inner = address.ipv4_mapped or address.sixtofour
        if inner is None and address in ipaddress.ip_network("64:ff9b::/96"):
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None:
            return refused_because(inner)
    if address.is_loopback:
        return "a loopback address (this server itself)"
    if address.is_link_local:
        return "a link-local address (such as a cloud's metadata service)"
    if address.is_unspecified:
        return "an unspecified address (this server itself)"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private or any(address in network for network in _EXTRA_REFUSED):
        return "a private network address"
    if address.is_reserved or not address.is_global:
        return "a reserved address"
    return None


@dataclass(frozen=True)
class Target:
    """Where a delivery goes: the URL's parts, and the address it connects to (checked)."""

    scheme: str
    host: str
    port: int
    path: str  # with its query
    address: str


def parse(url: str, *, allow_private: bool) -> tuple[str, str, int, str]:
    """The scheme, host, port and path of a webhook URL, or ``AddressRefused`` saying
    what is wrong with its form (its host is not looked up here)."""
    if len(url) > MAX_URL_LENGTH:
        raise AddressRefused(f"A webhook address can be at most {MAX_URL_LENGTH} characters.")
    if any(ord(character) <= 32 or ord(character) == 127 for character in url):
        raise AddressRefused("A webhook address cannot contain spaces or control characters.")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise AddressRefused(
            "A webhook address starts with https:// (like https://example.com/hook)."
        )
    if scheme == "http" and not allow_private:
        raise AddressRefused(
            "A webhook address must start with https://: this server sends to http:// "
            "addresses only when its operator allows private addresses."
        )
    if parts.username is not None or parts.password is not None:
        raise AddressRefused(
            "A webhook address cannot hold a user name or password: each delivery is "
            "signed instead (see the README)."
        )
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise AddressRefused(
            "The port in this webhook address is not a number from 1 to 65535."
        ) from None
    host = (parts.hostname or "").rstrip(".")
    if not host or port == 0:
        raise AddressRefused("This webhook address names no server.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, host, port, path


Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system's resolver gives ``host`` (IPv4 and IPv6)."""
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(answer[4][0] for answer in answers))


def resolve(url: str, *, allow_private: bool, resolver: Resolver | None = None) -> Target:
    """``url``'s target, with the address to connect to, or ``AddressRefused``.

    Every address the host resolves to must be public (unless ``allow_private``): a
    name with one public and one private address is refused, as a client could be
    handed either. The first address is the one to connect to.
    """
    scheme, host, port, path = parse(url, allow_private=allow_private)
    # (Looked up at each call, so a test can stand in for DNS.)
    resolver = resolver or system_resolver
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = resolver(host, port)
        except (OSError, UnicodeError):
            addresses = []
        if not addresses:
            raise AddressRefused(f"The server name {host} could not be found (DNS).")
    if not allow_private:
        for address in addresses:
            why = refused_because(ipaddress.ip_address(address.split("%")[0]))
            if why is not None:
                shown = host if literal is not None else f"{host} ({address})"
                raise AddressRefused(
                    f"{shown} is {why}. Webhooks go to addresses on the internet only, "
                    "unless the server's operator sets FLAGPAL_WEBHOOK_ALLOW_PRIVATE=on."
                )
    return Target(scheme, host, port, path, addresses[0])


def urlsplit_host(url: str) -> str | None:
    """The host a URL names (None when it names none): how a redirect's target is
    reported, without its path, which may hold a secret."""
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None
