"""The public format of a FlagPal project API token, and of a personal access token.

    flagpal_ + 40 random base62 characters + 6 base62 characters of checksum
    flagpal_pat_ + the same 46 (a person's token for the management API)

The checksum is the CRC-32 of the random part written in base62 (most significant
digit first, left-padded with ``0``). Secret scanners match the whole token with
``flagpal_[0-9A-Za-z]{46}``, and the checksum lets us reject a mistyped or made-up
token before it costs a database lookup.

The two never pass for each other: a personal token is 4 characters longer and has
an underscore where a project token has only letters and digits, so each check refuses
the other kind on length or alphabet alone (and a secret scanner's pattern for one
never matches the other).

Only the SHA-256 digest of a token is ever stored. This module has no Flask imports
so the format can be read and tested on its own.
"""

import hashlib
import secrets
import string
import zlib

PREFIX = "flagpal_"
ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
RANDOM_LENGTH = 40
CHECKSUM_LENGTH = 6
TOKEN_LENGTH = len(PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH
PATTERN = rf"{PREFIX}[0-9A-Za-z]{{{RANDOM_LENGTH + CHECKSUM_LENGTH}}}"
HINT_LENGTH = 4
PERSONAL_PREFIX = "flagpal_pat_"
PERSONAL_TOKEN_LENGTH = len(PERSONAL_PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH
PERSONAL_PATTERN = rf"{PERSONAL_PREFIX}[0-9A-Za-z]{{{RANDOM_LENGTH + CHECKSUM_LENGTH}}}"


def to_base62(number: int, width: int) -> str:
    """Write ``number`` in base62, most significant digit first, zero-padded to ``width``."""
    digits = []
    while number:
        number, remainder = divmod(number, 62)
        digits.append(ALPHABET[remainder])
    return "".join(reversed(digits)).rjust(width, ALPHABET[0])


def checksum(random_part: str) -> str:
    """The six-character checksum of a token's random part."""
    return to_base62(zlib.crc32(random_part.encode("ascii")), CHECKSUM_LENGTH)


def generate() -> str:
    """A new token value. Shown to its creator once, then only its digest is kept."""
    return PREFIX + random_body()


def generate_personal() -> str:
    """A new personal access token value: shown to its person once, like a project token."""
    return PERSONAL_PREFIX + random_body()


def random_body() -> str:
    """40 random base62 characters and their checksum: what follows either prefix."""
    random_part = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return random_part + checksum(random_part)


_DIGIT_VALUES = {digit: value for value, digit in enumerate(ALPHABET)}


def from_base62(digits: str) -> int:
    number = 0
    for digit in digits:
        number = number * 62 + _DIGIT_VALUES[digit]
    return number


def is_well_formed(value: str) -> bool:
    """Whether ``value`` has the prefix, length, alphabet and checksum of a token.

    A well-formed token may still be unknown, expired or revoked; that takes the
    database to decide. A malformed one never reaches it.
    """
    if len(value) != TOKEN_LENGTH or not value.startswith(PREFIX):
        return False
    body = value[len(PREFIX) :]
    if not (body.isascii() and body.isalnum()):  # exactly 0-9, A-Z and a-z
        return False
    # Compared as numbers: decoding 6 digits is cheaper than encoding the CRC, and
    # this runs on every API request. (Nothing secret here: the checksum is public.)
    return from_base62(body[RANDOM_LENGTH:]) == zlib.crc32(body[:RANDOM_LENGTH].encode("ascii"))


def is_well_formed_personal(value: str) -> bool:
    """``is_well_formed`` for a personal access token (``flagpal_pat_`` + the same 46).

    A function of its own rather than a prefix argument to ``is_well_formed``: that one
    runs on every FlagPal API request, and stays exactly as it is.
    """
    if len(value) != PERSONAL_TOKEN_LENGTH or not value.startswith(PERSONAL_PREFIX):
        return False
    body = value[len(PERSONAL_PREFIX) :]
    if not (body.isascii() and body.isalnum()):
        return False
    return from_base62(body[RANDOM_LENGTH:]) == zlib.crc32(body[:RANDOM_LENGTH].encode("ascii"))


def digest(value: str) -> str:
    """The SHA-256 (hex) of a whole token: the only form in which a token is stored."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def hint(value: str) -> str:
    """The last characters of a token, kept so managers can tell tokens apart."""
    return value[-HINT_LENGTH:]


def display_hint(last_chars: str) -> str:
    """How a stored hint is shown: ``flagpal_…wxyz``."""
    return f"{PREFIX}…{last_chars}"


def display_personal_hint(last_chars: str) -> str:
    """How a personal token's stored hint is shown: ``flagpal_pat_…wxyz``."""
    return f"{PERSONAL_PREFIX}…{last_chars}"
