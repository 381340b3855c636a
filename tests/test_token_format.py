import hashlib
import re
import zlib

import pytest

from flagpal_dash import token_format

SCANNER_PATTERN = re.compile(r"flagpal_[0-9A-Za-z]{46}")


def test_generated_tokens_match_the_public_pattern_and_differ():
    values = {token_format.generate() for _ in range(200)}
    assert len(values) == 200
    for value in values:
        assert SCANNER_PATTERN.fullmatch(value)
        assert token_format.PATTERN == SCANNER_PATTERN.pattern


@pytest.mark.parametrize(
    "number, expected",
    [
        (0, "000000"),
        (9, "000009"),
        (10, "00000A"),
        (35, "00000Z"),
        (36, "00000a"),
        (61, "00000z"),
        (62, "000010"),
        (62**2, "000100"),
        (2**32 - 1, "4gfFC3"),
    ],
)
def test_base62_puts_digits_then_upper_then_lower_case_most_significant_first(number, expected):
    assert token_format.to_base62(number, 6) == expected


def test_checksum_is_crc32_of_the_random_part_in_base62():
    random_part = "a" * 40
    crc = zlib.crc32(random_part.encode())
    digits = ""
    while crc:
        crc, rest = divmod(crc, 62)
        digits = token_format.ALPHABET[rest] + digits
    assert token_format.checksum(random_part) == digits.rjust(6, "0")


def test_generated_token_carries_the_checksum_of_its_random_part():
    value = token_format.generate()
    assert value[-6:] == token_format.checksum(value[8:48])
    assert token_format.is_well_formed(value)


def flip(char: str) -> str:
    return "B" if char != "B" else "C"


def malformed_variants(value: str) -> dict[str, str]:
    return {
        "one character short": value[:-1],
        "one character long": value + "0",
        "wrong prefix": "flagpol_" + value[8:],
        "upper-case prefix": "FLAGPAL_" + value[8:],
        "character outside base62": value[:20] + "-" + value[21:],
        "non-ASCII character": value[:20] + "é" + value[21:],
        "wrong checksum": value[:-1] + flip(value[-1]),
        "random part changed": value[:8] + flip(value[8]) + value[9:],
        "empty": "",
    }


def test_malformed_tokens_are_rejected():
    value = token_format.generate()
    for reason, variant in malformed_variants(value).items():
        assert not token_format.is_well_formed(variant), reason


def test_digest_is_sha256_hex_of_the_whole_token():
    value = token_format.generate()
    assert token_format.digest(value) == hashlib.sha256(value.encode()).hexdigest()


def test_hint_shows_only_the_last_four_characters():
    value = token_format.generate()
    assert token_format.hint(value) == value[-4:]
    assert token_format.display_hint(token_format.hint(value)) == f"flagpal_…{value[-4:]}"
