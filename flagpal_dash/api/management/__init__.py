"""The management API (JSON:API) for people's scripts: what a person may see and do on
the pages, from a script holding one of their personal access tokens.

Its door is ``door.person_required``: it reads ``Authorization: Bearer flagpal_pat_…``
and nothing else (no cookie is read, so a signed-in browser alone gets 401, and
cross-site forgery has nothing to ride on: the blueprint is exempt from CSRF), and
gives the view the acting person. The token carries no roles: each request reads the
person's membership afresh (``door.project_for``), so taking someone off a project
takes it from their tokens at once. A project token is never accepted here, nor a
personal token by the FlagPal API routes (token_format.py: neither is well formed as
the other).

Who may read what follows the pages (permissions.py): every member reads the project,
its tokens (viewers: names, status and creation dates only) and its members (people's
email addresses only for owners, as on the Members page); developers and owners read
the audit log, developers without invitations and without addresses, as on the log's
page (reading.py). Developers and owners create, revoke and rotate tokens, by the
rules the pages and the command line use (writing.py). Someone who is not a member
gets the same 404 whether the project exists or not.

Reads change nothing but the token's ``last_used_at`` (at most once a minute), so
they are not audited; each write is, its actor "<person> via API (<token name>)".
"""

from . import reading, writing
from .door import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, REFUSALS, bp

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "REFUSALS", "bp", "reading", "writing"]
