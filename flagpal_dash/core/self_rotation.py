"""Self-rotation: a project token with the ``rotate`` ability replaces itself, with no
person involved (``POST /api/v1/token/rotate``). The old value keeps working for the
grace asked, so the app can move to the new one; a day at most, as an app that asks
for a new value is ready for it at once (a person rotating on the dashboard may give
7 days). The rotation itself is ``core.tokens.rotate``'s, as for a person.

The clock is an argument: nothing here reads the request.
"""

from datetime import datetime, timedelta

from sqlalchemy import select

from .. import token_format
from ..extensions import db
from ..models import ApiToken, Project
from . import locking
from .errors import Conflict
from .tokens import TokenState, label, replacement_expiry, rotate, stopped

SELF_ROTATION_GRACE_DEFAULT = timedelta(hours=1)
SELF_ROTATION_GRACE_LONGEST = timedelta(hours=24)


class AlreadyRotated(Conflict):
    """The token was rotated already: its replacement exists, and only that one may
    rotate again."""

    code = "token_already_rotated"

    def __init__(self, token: ApiToken):
        super().__init__(
            message=f"This token was rotated already; its replacement "
            f"{token_format.display_hint(token.replaced_by.hint)} exists. Rotate with the "
            "replacement's value instead.",
            replacement_hint=token.replaced_by.hint,
        )


class StoppedWorking(Conflict):
    """The token stopped working (revoked or expired) before it could rotate."""

    def __init__(self, why: TokenState):
        super().__init__(why.value, message=f"This token is {why.value}.", state=why)


def self_rotation_label(token: ApiToken) -> str:
    """The audit log's actor for a token rotating itself: ``token 12 “CI” (self-rotation)``."""
    return f"{label(token)} (self-rotation)"


def rotate_itself(token_id: int, grace: timedelta, *, now: datetime) -> tuple[ApiToken, str]:
    """Token ``token_id`` replaces itself (``rotate``, with the same lifetime and no
    person acting): the replacement and its value, shown once.

    Holds the project's row first, so two rotations of one token at the same moment
    make one replacement: the second raises ``AlreadyRotated``. ``StoppedWorking``
    when it was revoked or expired since its check; ``ValueError`` for a grace
    outside 0 to ``SELF_ROTATION_GRACE_LONGEST`` (the door checks it first). The
    caller commits. Who checked the token's ``rotate`` ability is the door's business.
    """
    if not timedelta(0) <= grace <= SELF_ROTATION_GRACE_LONGEST:
        raise ValueError(f"a self-rotation's grace is 0 to 24 hours, not {grace}")
    project_id = db.session.scalar(select(ApiToken.project_id).where(ApiToken.id == token_id))
    db.session.scalars(locking.locked(select(Project).where(Project.id == project_id))).one()
    token = db.session.scalars(
        select(ApiToken).where(ApiToken.id == token_id).execution_options(populate_existing=True)
    ).one()
    if token.replaced_by_id is not None:
        raise AlreadyRotated(token)
    why = stopped(token, now)
    if why is not None:
        raise StoppedWorking(why)
    new, value = rotate(
        token,
        grace,
        replacement_expiry(token, now),
        actor=None,
        now=now,
        actor_label=self_rotation_label(token),
    )
    # The person who made the credential stays answerable for its successors (the
    # list's "by …"); the audit log says the token rotated itself.
    new.created_by = token.created_by
    return new, value
