"""What tests share besides fixtures: making rows, and reading pages as a person would."""

from bs4 import BeautifulSoup

from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, Project, User

PASSWORD = "correct horse battery"


def add_user(email: str, name: str, *, admin: bool = False) -> User:
    user = User(email=email, name=name, is_admin=admin)
    user.set_password(PASSWORD)
    db.session.add(user)
    return user


def issue_token(project: Project, name: str = "Shop backend", **fields) -> tuple[ApiToken, str]:
    token, value = ApiToken.issue(
        project,
        name=name,
        abilities=fields.pop("abilities", frozenset({"read"})),
        expires_at=fields.pop("expires_at", None),
        created_by=fields.pop("created_by", None),
    )
    for field, value_ in fields.items():
        setattr(token, field, value_)
    db.session.commit()
    return token, value


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def page(response) -> BeautifulSoup:
    return soup(response.text)


def text_of(element) -> str:
    """An element's text as a person reads it: whitespace collapsed."""
    return " ".join(element.get_text(" ").split())
