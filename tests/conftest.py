"""Fixtures: ``app``, ``client`` and ``runner`` as in Flask's tutorial, plus ``team`` (a
project with an owner, a developer and a viewer, and an outsider), ``sign_in``, and
``sqlite_server`` (an instance on a SQLite file of its own), ``mail_server`` (a real SMTP
server on localhost).

Tests run on SQLite, or on the database in ``FLAGPAL_TEST_DATABASE_URL`` (PostgreSQL in
CI). The schema is made once per session by the real migrations; each test starts
from empty tables.
"""

import contextvars
import os
import threading
from dataclasses import dataclass

import flask_migrate
import pytest
from flask.testing import FlaskClient
from sqlalchemy import MetaData, delete

from flagpal_dash import create_app
from flagpal_dash.core.projects import add_member, create_project
from flagpal_dash.extensions import db
from flagpal_dash.models import Project, User
from flagpal_dash.permissions import Role

from .mail_server import Certificates, MailServer
from .oidc_provider import MockProvider
from .support import PASSWORD, add_user, issue_token
from .webhook_receiver import Receiver


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    return os.environ.get("FLAGPAL_TEST_DATABASE_URL") or (
        "sqlite:///" + str(tmp_path_factory.mktemp("db") / "flagpal-test.sqlite3")
    )


class IsolatedClient(FlaskClient):
    """Runs each request in a fresh context, as a server would: its own app context,
    ``g`` and database session. (Otherwise a request would reuse the app context the
    test holds, and one request's signed-in user could leak into the next.) Inside
    ``with client:`` the request's context is kept for the test to inspect, as usual."""

    def open(self, *args, **kwargs):
        if self.preserve_context:
            return super().open(*args, **kwargs)
        return contextvars.Context().run(FlaskClient.open, self, *args, **kwargs)


def make_app(database_url: str, **overrides):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test secret key",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "BCRYPT_ROUNDS": 4,
            "WTF_CSRF_ENABLED": False,
            # Usage counts are written when a test flushes them (support.flush_usage), not by a
            # thread some seconds later, into whichever test runs then.
            "USAGE_FLUSH_SECONDS": 3600,
            # Jobs run when a test runs them, never from a thread of their own.
            "JOBS": False,
            # Webhook deliveries likewise: a test delivers what is due when it says.
            "DELIVERIES": False,
            # As a server started on http://localhost hands it over (links.py).
            "SERVED_AT": "http://localhost",
            **overrides,
        }
    )
    app.test_client_class = IsolatedClient
    return app


@pytest.fixture(scope="session")
def migrated(database_url: str) -> None:
    """Drop whatever an earlier run left, then migrate from empty to head."""
    app = make_app(database_url)
    with app.app_context():
        leftovers = MetaData()
        leftovers.reflect(db.engine)
        leftovers.drop_all(db.engine)
        flask_migrate.upgrade()
        db.engine.dispose()


@pytest.fixture
def app(database_url: str, migrated):
    app = make_app(database_url)
    with app.app_context():
        yield app
        db.session.remove()
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(delete(table))
        db.engine.dispose()


@pytest.fixture
def sqlite_server(tmp_path):
    """A migrated SQLite instance of its own, whatever database the suite runs on: Olivia
    (an admin) owns Shop, which has three tokens. Gives the app, inside its app context,
    and the three token values."""
    app = make_app(f"sqlite:///{tmp_path}/server.sqlite3")
    with app.app_context():
        flask_migrate.upgrade()
        owner = add_user("olivia@example.com", "Olivia Owner", admin=True)
        shop = create_project("Shop", actor=None)
        add_member(shop, owner, Role.OWNER, actor=None)
        db.session.commit()
        values = [issue_token(shop, f"App {n}", created_by=owner)[1] for n in range(3)]
        yield app, values
        db.engine.dispose()


@pytest.fixture
def csrf_client(app, database_url):
    """A client of a second app on the same database with CSRF protection on, as in
    production (the ``app`` fixture turns it off to keep other tests short)."""
    protected = make_app(database_url, WTF_CSRF_ENABLED=True)
    yield protected.test_client()
    with protected.app_context():
        db.engine.dispose()


@pytest.fixture
def mail_server():
    """A real SMTP server on localhost (tests/mail_server.py): plain SMTP, no login. Its
    ``settings()`` point an app's mail at it."""
    with MailServer() as server:
        yield server


@pytest.fixture(scope="session")
def mail_certificates(tmp_path_factory) -> Certificates:
    """A private CA and a certificate it signed for 127.0.0.1, for mail servers with TLS."""
    return Certificates.make(tmp_path_factory.mktemp("mail-certificates"))


@pytest.fixture
def receiver():
    """A real HTTP receiver on loopback for webhooks (tests/webhook_receiver.py)."""
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    thread.join()
    server.server_close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@dataclass
class Team:
    project: Project
    other_project: Project
    owner: User
    developer: User
    viewer: User
    outsider: User

    def member(self, role: str) -> User:
        return getattr(self, role)


@pytest.fixture
def team(app) -> Team:
    """Project "Shop" with an owner, a developer and a viewer; the outsider owns "Other"."""
    owner = add_user("olivia@example.com", "Olivia Owner")
    developer = add_user("dev@example.com", "Dana Developer")
    viewer = add_user("vic@example.com", "Vic Viewer")
    outsider = add_user("otto@example.com", "Otto Outsider")
    project = create_project("Shop", actor=None)
    other = create_project("Other", actor=None)
    add_member(project, owner, Role.OWNER, actor=None)
    add_member(project, developer, Role.DEVELOPER, actor=None)
    add_member(project, viewer, Role.VIEWER, actor=None)
    add_member(other, outsider, Role.OWNER, actor=None)
    db.session.commit()
    return Team(project, other, owner, developer, viewer, outsider)


@pytest.fixture
def sign_in(client):
    """Sign ``client`` in as a user through the real sign-in form."""

    def sign_in(user: User) -> None:
        response = client.post("/sign-in", data={"email": user.email, "password": PASSWORD})
        assert response.status_code == 302, response.text

    return sign_in


@pytest.fixture
def provider():
    server = MockProvider()
    yield server
    server.stop()


@pytest.fixture
def sso_apps(app, database_url):
    """Apps on the test database with single sign-on set up as a test says (the
    ``app`` fixture empties the tables after)."""
    made = []

    def make(server, **overrides):
        new = make_app(database_url, **server.settings(**overrides))
        made.append(new)
        return new

    yield make
    for made_app in made:
        with made_app.app_context():
            db.engine.dispose()


@pytest.fixture
def sso(sso_apps, provider):
    """A client of an app that signs in with the mock provider."""
    return sso_apps(provider).test_client()
