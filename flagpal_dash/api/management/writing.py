"""The management API's write routes: create, revoke and rotate a project's tokens, for
developers and owners (``MANAGE_TOKENS``), by the rules the API Tokens page and the
command line use (core/tokens.py, validation.py). A rule that refuses is answered
with the page's own sentence and where in the body the problem is (``source.pointer``).

Each route holds the project while it checks and changes, as the page does (two
creates of one name at once make one token; two rotations of one token, one
replacement), and is audited as "<person> via API (<personal token name>)". A new
token's value is in the answer that makes it (``meta.value``), once: never stored,
logged or cached.
"""

from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Response

from ... import abilities as ability
from ... import validation
from ...core import personal_tokens, tokens
from ...extensions import db
from ...models import ApiToken, utcnow
from ...permissions import Permission
from ...validation import Invalid
from ..bodies import ATTRIBUTES, MAX_BYTES, ResourceBody, pointer_to
from ..errors import ApiError
from .door import (
    Caller,
    bp,
    check_parameters,
    document,
    person_required,
    project_for,
    project_token,
    rfc3339,
    token_resource,
)

RESOURCE_TYPE = "api-tokens"
EXPIRY = ("expires_at", "expires_in_days")
EXPIRES_AT_FORM = (
    "Write `expires_at` as a date and time with its offset, like 2027-01-31T00:00:00Z "
    "(or null for no expiry)."
)
GRACES = ", ".join(f"`{grace.value}`" for grace in tokens.GRACE_PERIODS)


def invalid_document(detail: str, pointer: str) -> ApiError:
    """422: JSON, but not the document the route takes."""
    return ApiError(422, "invalid_document", "Invalid request document", detail, pointer=pointer)


def invalid_attribute(detail: str, pointer: str) -> ApiError:
    """422: an attribute's value that a rule refuses, in the rule's words."""
    return ApiError(422, "invalid_attribute", "Invalid attribute", detail, pointer=pointer)


NEW_TOKEN = ResourceBody(
    RESOURCE_TYPE,
    frozenset({"name", "abilities", *EXPIRY}),
    too_large=f"A new token's request is at most {MAX_BYTES} bytes.",
    unknown="A new token takes the attributes `name`, `abilities`, and `expires_at` or "
    "`expires_in_days`.",
    invalid=invalid_document,
)
ROTATION = ResourceBody(
    RESOURCE_TYPE,
    frozenset({"grace", *EXPIRY}),
    too_large=f"A rotation request is at most {MAX_BYTES} bytes.",
    unknown="A rotation takes the attributes `grace`, and `expires_at` or "
    "`expires_in_days`; the replacement keeps the token's name and abilities.",
    invalid=invalid_document,
    optional=True,
)


def checked(rule: Callable, value, attribute: str):
    """``rule(value)``; its ``Invalid`` as a 422 pointing at ``attribute``."""
    try:
        return rule(value)
    except Invalid as error:
        raise invalid_attribute(str(error), pointer_to(attribute)) from None


def text(attributes: dict, name: str) -> str | None:
    value = attributes.get(name)
    if value is not None and not isinstance(value, str):
        raise invalid_attribute(f"`{name}` must be a string.", pointer_to(name))
    return value


def ability_list(attributes: dict) -> list[str] | None:
    """The abilities asked for, by their API values. An unknown one is refused here
    naming the values a script can send (the page's sentence names the form's labels);
    none at all is left to the page's rule and sentence."""
    value = attributes.get("abilities")
    if value is not None and not (
        isinstance(value, list)
        and all(isinstance(item, str) and item in ability.ALL for item in value)
    ):
        raise invalid_attribute(
            '`abilities` must be a list of abilities, like ["read", "write"]: '
            + ", ".join(f"`{name}`" for name in ability.LABELS)
            + ".",
            pointer_to("abilities"),
        )
    return value


def chosen_expiry(attributes: dict, now: datetime) -> tuple[bool, datetime | None, str]:
    """Whether the request chose when the token expires, when (None: never), and the
    pointer to what chose it (to ``expires_at`` when nothing did). ``expires_at`` is
    an exact time (null: no expiry), ``expires_in_days`` a number of days from now."""
    given = [name for name in EXPIRY if name in attributes]
    if len(given) > 1:
        raise invalid_attribute("Give `expires_at` or `expires_in_days`, not both.", ATTRIBUTES)
    if not given:
        return False, None, pointer_to("expires_at")
    [name] = given
    value = attributes[name]
    if name == "expires_in_days":
        # A whole number as JSON has it: 30, or 30.0 (JSON Schema's "integer" too).
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid_attribute(
                "Give `expires_in_days` as a whole number of days, like 30.", pointer_to(name)
            )
        days = checked(validation.lifetime_days, value, name)
        return True, now + timedelta(days=days), pointer_to(name)
    if value is None:
        return True, None, pointer_to(name)
    moment = rfc3339(value) if isinstance(value, str) else None
    if moment is None:
        raise invalid_attribute(EXPIRES_AT_FORM, pointer_to(name))
    return True, checked(lambda m: validation.expiry_time(m, now), moment, name), pointer_to(name)


def within_policy(project, expires_at: datetime | None, now: datetime, pointer: str) -> None:
    """The project's maximum lifetime (``tokens.check_expiry``), as a 422."""
    try:
        tokens.check_expiry(project, expires_at, now)
    except Invalid as error:
        raise invalid_attribute(str(error), pointer) from None


def shown_once(token: ApiToken, slug: str, value: str) -> Response:
    """201 with a new token, its value in ``meta.value`` this once: never cached."""
    resource = token_resource(token, slug, details=True)
    response = document(resource, meta={"value": value}, links={"self": resource["links"]["self"]})
    response.status_code = 201
    response.headers["Location"] = resource["links"]["self"]
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/projects/<slug>/tokens")
@person_required
def create_token(caller: Caller, slug: str):
    """A new token, as the page's Create makes it: ``name``, ``abilities``, and
    ``expires_at`` or ``expires_in_days`` (neither: no expiry, unless the project's
    policy requires one). 201 with the token and its value, once."""
    check_parameters(frozenset())
    membership = project_for(caller.person, slug, Permission.MANAGE_TOKENS, lock=True)
    attributes = NEW_TOKEN.read()
    now = utcnow()
    name = checked(validation.token_name, text(attributes, "name"), "name")
    abilities = checked(validation.abilities, ability_list(attributes), "abilities")
    _, expires_at, pointer = chosen_expiry(attributes, now)
    within_policy(membership.project, expires_at, now, pointer)
    try:
        token, value = tokens.issue(
            membership.project,
            name,
            abilities,
            expires_at,
            actor=caller.person,
            now=now,
            actor_label=personal_tokens.acting_label(caller.token),
        )
    except tokens.NameTaken as error:
        db.session.rollback()
        raise ApiError(
            422, error.code, "Name taken", str(error), pointer=pointer_to("name")
        ) from None
    db.session.commit()
    return shown_once(token, slug, value)


@bp.delete("/projects/<slug>/tokens/<int:token_id>")
@person_required
def revoke_token(caller: Caller, slug: str, token_id: int):
    """Revoke the token at once (the row stays, as on the page): 200 with the token,
    ``meta.changed`` false when it was revoked already and nothing changed."""
    check_parameters(frozenset())
    membership = project_for(caller.person, slug, Permission.MANAGE_TOKENS, lock=True)
    token = project_token(membership, token_id)
    changed = tokens.revoke(
        token,
        actor=caller.person,
        now=utcnow(),
        actor_label=personal_tokens.acting_label(caller.token),
    )
    if changed:
        db.session.commit()
    resource = token_resource(token, slug, details=True)
    return document(resource, meta={"changed": changed}, links={"self": resource["links"]["self"]})


@bp.post("/projects/<slug>/tokens/<int:token_id>/rotate")
@person_required
def rotate_token(caller: Caller, slug: str, token_id: int):
    """Replace the token, as the page's Rotate does: the replacement keeps its name and
    abilities; the old one stops after ``grace`` (the page's choices; 24 hours when not
    given). The replacement lasts as long as the old one was made to (within the
    project's maximum lifetime) unless ``expires_at`` or ``expires_in_days`` says
    otherwise. 201 with the replacement and its value, once; 409 for a token already
    rotated, revoked or expired."""
    check_parameters(frozenset())
    membership = project_for(caller.person, slug, Permission.MANAGE_TOKENS, lock=True)
    token = project_token(membership, token_id)
    attributes = ROTATION.read() or {}
    now = utcnow()
    grace_value = attributes.get("grace", tokens.DEFAULT_GRACE)
    grace = tokens.grace_period(grace_value) if isinstance(grace_value, str) else None
    if grace is None:
        raise invalid_attribute(
            f"Choose when the old token stops working from the list: {GRACES}.",
            pointer_to("grace"),
        )
    chosen, expires_at, pointer = chosen_expiry(attributes, now)
    if chosen:
        within_policy(membership.project, expires_at, now, pointer)
    else:
        expires_at = tokens.replacement_expiry(token, now)
    try:
        new, value = tokens.rotate(
            token,
            grace,
            expires_at,
            actor=caller.person,
            now=now,
            actor_label=personal_tokens.acting_label(caller.token),
        )
    except tokens.CannotRotate as error:
        db.session.rollback()
        title = "Token " + error.code.removeprefix("token_").replace("_", " ")
        raise ApiError(409, error.code, title, str(error)) from None
    db.session.commit()
    return shown_once(new, slug, value)
