"""Which page of a long list a link asks for: the API Tokens list and the audit log
read their ``?page=`` the same way."""

from flask import abort

# Past this a page number is garbage, not a page.
MAX_PAGE = 100_000


def page_number(args) -> int:
    """The page asked for in a query string (1 when none); garbage is a 404."""
    page = args.get("page", "1")
    # isdigit() alone accepts "²", which int() cannot read.
    if not (page.isascii() and page.isdigit()) or not 1 <= int(page) <= MAX_PAGE:
        abort(404)
    return int(page)
