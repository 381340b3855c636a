"""One-time submissions: what a reload or Back does after a value was shown once.

Everything else a form does is post/redirect/get, so reloading its answer only reads
a page again. The answer that shows a new token's value cannot be a redirect: the
value would have to wait somewhere between the POST and the GET, and it is kept
nowhere. Reloading that answer would post the form again and make a second token (or
be refused: "An active token is already named …").

So such a form carries a submission key, random and new each time the form is drawn
(a hidden field). When its POST succeeds, this browser's session remembers the key and
what it made: an id, never the value, as Flask's session cookie is signed, not
encrypted. The same POST again, from a reload or a resubmitted page, finds its key
used and is sent (303) to a page saying what was made and that its value cannot be
shown again. A key is only meaningful in the session that used it, so guessing one
gains nothing.
"""

import re
import secrets

from flask import session

SESSION_KEY = "submitted"
# The last few are enough: a reload or Back goes to a recent answer.
KEPT = 10
WELL_FORMED = re.compile(r"[A-Za-z0-9_-]{16,64}")


def new_key() -> str:
    return secrets.token_urlsafe(16)


def key_or_new(key: str | None) -> str:
    """``key`` as a form sent it, or a new one when it is missing or not one of ours
    (a script's POST, a forged field): every form drawn carries a good key."""
    return key if isinstance(key, str) and WELL_FORMED.fullmatch(key) else new_key()


def remember(key: str, kind: str, made_id: int) -> None:
    """The POST with ``key`` made the ``kind`` (``"token"``) with id ``made_id``."""
    used = [entry for entry in session.get(SESSION_KEY, []) if entry[0] != key]
    session[SESSION_KEY] = [*used, [key, kind, made_id]][-KEPT:]


def made_with(key: str | None, kind: str) -> int | None:
    """The id of the ``kind`` an earlier POST with ``key`` made in this session, if any."""
    for used_key, used_kind, made_id in session.get(SESSION_KEY, []):
        if used_key == key and used_kind == kind:
            return made_id
    return None
