"""The personal access token's format, and that it never passes for a project token
(nor a project token for it), in the format's checks and at the token API's doors."""

import re

import pytest

from flagpal_dash import token_format

from .support import issue_token

PERSONAL_SCANNER_PATTERN = re.compile(r"flagpal_pat_[0-9A-Za-z]{46}")
PROJECT_SCANNER_PATTERN = re.compile(r"flagpal_[0-9A-Za-z]{46}")


def test_generated_personal_tokens_match_their_public_pattern_and_carry_the_checksum():
    values = {token_format.generate_personal() for _ in range(200)}
    assert len(values) == 200
    assert token_format.PERSONAL_PATTERN == PERSONAL_SCANNER_PATTERN.pattern
    for value in values:
        assert PERSONAL_SCANNER_PATTERN.fullmatch(value)
        body = value.removeprefix("flagpal_pat_")
        assert body[40:] == token_format.checksum(body[:40])
        assert token_format.is_well_formed_personal(value)


def test_a_personal_token_is_never_a_well_formed_project_token_and_the_reverse():
    for _ in range(200):
        personal, project = token_format.generate_personal(), token_format.generate()
        assert not token_format.is_well_formed(personal)
        assert not token_format.is_well_formed_personal(project)
        # Nor does a secret scanner's pattern for one match the other as a whole.
        assert not PROJECT_SCANNER_PATTERN.fullmatch(personal)
        assert not PERSONAL_SCANNER_PATTERN.fullmatch(project)


def test_a_project_tokens_body_behind_the_personal_prefix_is_well_formed_personal():
    """Same random part and checksum: only the prefix tells the kinds apart."""
    project = token_format.generate()
    assert token_format.is_well_formed_personal("flagpal_pat_" + project[8:])


@pytest.mark.parametrize(
    "change",
    [
        lambda v: v[:-1],
        lambda v: v + "0",
        lambda v: v[:-1] + ("A" if v[-1] != "A" else "B"),
        lambda v: "flagpal_PAT_" + v[12:],
        lambda v: "flagpal_pat-" + v[12:],
        lambda v: v[:20] + "é" + v[21:],
        lambda v: v[:20] + "_" + v[21:],
        lambda v: "",
    ],
    ids=[
        "short",
        "long",
        "checksum",
        "upper-case pat",
        "hyphen",
        "non-ascii",
        "underscore",
        "empty",
    ],
)
def test_malformed_personal_tokens_are_refused(change):
    value = token_format.generate_personal()
    assert not token_format.is_well_formed_personal(change(value))


def test_personal_hint_is_shown_with_its_own_prefix():
    value = token_format.generate_personal()
    hint = token_format.hint(value)
    assert token_format.display_personal_hint(hint) == f"flagpal_pat_…{value[-4:]}"


@pytest.mark.parametrize("path", ["/api/v1/token", "/api/v1/auth/read"])
def test_the_token_api_refuses_a_personal_token_as_it_refuses_a_malformed_one(client, team, path):
    issue_token(team.project)  # a project with a token, so an unknown digest is not why
    malformed = client.get(path, headers={"Authorization": "Bearer flagpal_" + "x" * 46})
    personal = client.get(
        path, headers={"Authorization": f"Bearer {token_format.generate_personal()}"}
    )
    assert personal.status_code == malformed.status_code == 401
    assert personal.headers["WWW-Authenticate"] == malformed.headers["WWW-Authenticate"]
    assert personal.get_json(force=True) == malformed.get_json(force=True)
    assert personal.get_json(force=True)["errors"][0]["code"] == "token_malformed"
