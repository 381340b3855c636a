"""Concurrency: one gunicorn (4 workers of 2 threads) on the test database, and client
threads doing at once what a project's people do: create, verify, rotate, revoke, list.

No answer is a 5xx, no created token is lost or listed twice, and a revoke is seen by
the very next verification, on whichever worker answers it. Then the races that load
exposes, each run head to head: two requests released together by a barrier. Changes
to one project are made one at a time (``core.projects.project_by_slug(..., lock=True)``), so the
loser of a race gets the same clear answer as someone who came second.
"""

import http.client
import json
import os
import random
import re
import threading
import time
import traceback
import urllib.parse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import delete, event, func, select, update

from flagpal_dash.core import personal_tokens
from flagpal_dash.core.invitations import create_invitation
from flagpal_dash.core.projects import add_member, create_project, members_of, owner_count
from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, Invitation, Membership, Project, User, utcnow
from flagpal_dash.permissions import Role

from ..serving import Server, serve
from ..support import HTMX, PASSWORD, add_user, issue_token, soup, text_of
from . import database_kind, record, scaled

CLIENTS = 8
# Every this many operations, all clients create one name at once.
SHARED_NAME_EVERY = 10
TOKENS = "/projects/shop/tokens"
NEW_TOKEN = {"abilities": "read", "expiration": "30"}


def name_taken(name: str) -> str:
    return (
        f'An active token is already named "{name}". Choose another name, '
        "or revoke the old token first."
    )


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    text: str

    @property
    def page(self) -> BeautifulSoup:
        return soup(self.text)

    def json(self) -> dict:
        return json.loads(self.text)


def errors_from(server: Server, offset: int) -> str:
    """What ``server`` wrote after its first ``offset`` bytes."""
    with server.log.open() as log:
        log.seek(offset)
        return log.read()


@pytest.fixture(scope="module")
def server(database_url, migrated, tmp_path_factory):
    """One gunicorn as deployed (its config file, CSRF on): 4 workers of 2 threads."""
    folder = tmp_path_factory.mktemp("concurrency")
    env = {
        **os.environ,
        "FLAGPAL_DATABASE_URL": database_url,
        "FLAGPAL_SECRET_KEY": "concurrency test",
        "FLAGPAL_INSTANCE_PATH": str(folder),
        "FLAGPAL_BCRYPT_ROUNDS": "4",
        "FLAGPAL_ACCESS_LOG": "off",
        # Counted per worker in memory: nobody here fails a sign-in on purpose.
        "FLAGPAL_RATELIMIT_STORAGE_URI": "memory://",
        "FLAGPAL_SIGN_IN_LIMIT": "1000 per minute",
        "FLAGPAL_SIGN_IN_ACCOUNT_LIMIT": "1000 per minute",
    }
    server = serve(env, folder / "output.log", workers=4, threads=2)
    yield server
    server.stop()


@pytest.fixture
def served(server, app):
    """The server, for one test: afterwards its output holds no traceback."""
    start = server.log.stat().st_size
    yield server
    written = errors_from(server, start)
    assert "Traceback" not in written, written


def send(port: int, method: str, path: str, body: str | None = None, headers=None) -> Answer:
    """One request on a new connection: the next one may reach another worker."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body, headers or {})
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read().decode())
    finally:
        connection.close()


class Browser:
    """One person's browser: their session cookie and CSRF token, every request on a new
    connection, redirects not followed. Counts the statuses it got."""

    def __init__(self, port: int):
        self.port = port
        self.cookie = ""
        self.csrf = ""
        self.statuses: Counter[int] = Counter()

    def headers(self, form: dict | None, htmx: bool) -> dict:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if htmx:
            headers |= HTMX | {"X-CSRFToken": self.csrf}
        return headers

    def body(self, form: dict | None, htmx: bool) -> str | None:
        if form is None:
            return None
        # A plain form carries the token in a field; htmx sends it in a header (base.html).
        return urllib.parse.urlencode(form if htmx else {"csrf_token": self.csrf} | form, True)

    def keep(self, answer: Answer) -> Answer:
        self.statuses[answer.status] += 1
        for cookie in answer.headers.get_all("Set-Cookie") or []:
            if cookie.startswith("session="):
                self.cookie = cookie.split(";", 1)[0]
        return answer

    def get(self, path: str, htmx: bool = False) -> Answer:
        return self.keep(send(self.port, "GET", path, None, self.headers(None, htmx)))

    def post(self, path: str, form: dict, htmx: bool = False) -> Answer:
        answer = send(self.port, "POST", path, self.body(form, htmx), self.headers(form, htmx))
        return self.keep(answer)

    def ready_to_post(self, path: str, form: dict, htmx: bool = False):
        """A POST connected now and sent when called: what a race releases."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        connection.connect()

        def post() -> Answer:
            try:
                connection.request("POST", path, self.body(form, htmx), self.headers(form, htmx))
                response = connection.getresponse()
                answer = Answer(response.status, response.headers, response.read().decode())
            finally:
                connection.close()
            return self.keep(answer)

        return post

    def open_form(self, path: str) -> Answer:
        """A page with a form; its CSRF token is used from then on."""
        answer = self.get(path)
        assert answer.status == 200, (path, answer.status)
        self.csrf = answer.page.find("input", attrs={"name": "csrf_token"})["value"]
        return answer

    def sign_in(self, email: str) -> None:
        self.open_form("/sign-in")
        answer = self.post("/sign-in", {"email": email, "password": PASSWORD})
        assert answer.status == 302, answer.text
        # The CSRF token htmx sends, as every signed-in page carries it.
        page = self.get("/")
        self.csrf = json.loads(page.page.body["hx-headers"])["X-CSRFToken"]


def signed_in(server: Server, users: list[User]) -> list[Browser]:
    browsers = []
    for user in users:
        browser = Browser(server.port)
        browser.sign_in(user.email)
        browsers.append(browser)
    return browsers


def at_once(*requests):
    """Call ``requests`` (made by ``ready_to_post``) on threads released together."""
    barrier = threading.Barrier(len(requests))

    def released(request):
        barrier.wait(timeout=30)
        return request()

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(released, requests))


def verify(port: int, value: str) -> Answer:
    """What an app gets for its token: ``GET /api/v1/token``, on a new connection."""
    return send(port, "GET", "/api/v1/token", headers={"Authorization": f"Bearer {value}"})


def error_code(answer: Answer) -> str | None:
    try:
        return answer.json()["errors"][0]["code"]
    except (ValueError, KeyError, IndexError):
        return None


def field_errors(answer: Answer) -> list[str]:
    return [text_of(item) for item in answer.page.select(".field-errors li")]


def rows(answer: Answer) -> list[tuple[int, str]]:
    """The (id, name) of each token row of a page of the list."""
    return [
        (int(row["id"].removeprefix("token-")), text_of(row.select_one(".token-name")))
        for row in answer.page.select("tr.token-row")
    ]


def project_with(owners: int = 0, developers: int = 0, tag: str = "") -> list[User]:
    """Project "Shop" and its people: ``owners`` owners, then ``developers`` developers."""
    project = create_project("Shop", actor=None)
    people = []
    for number in range(owners + developers):
        role = Role.OWNER if number < owners else Role.DEVELOPER
        person = add_user(f"{role.value}{number}{tag}@example.com", f"{role.label} {number}")
        add_member(project, person, role, actor=None)
        people.append(person)
    db.session.commit()
    return people


def figures(database_url: str, browsers: list[Browser], **counts: int) -> None:
    statuses = sum((browser.statuses for browser in browsers), Counter())
    record(
        f"concurrency, {database_kind(database_url)}",
        requests=statuses.total() + counts.pop("api_requests", 0),
        server_errors=sum(n for status, n in statuses.items() if status >= 500),
        **counts,
    )


# -- Eight clients at once ------------------------------------------------------------


@dataclass
class Token:
    name: str
    value: str
    revoked: bool = False
    rotated: bool = False
    replaces: int | None = None  # made by rotating this token


@dataclass
class Client:
    """One client thread: its browser, the tokens it made (id -> Token), what went wrong."""

    number: int
    browser: Browser
    port: int
    tokens: dict[int, Token] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    api_statuses: Counter[int] = field(default_factory=Counter)
    shared: dict[str, int] = field(default_factory=dict)  # name -> status of the create
    pages: int = 1
    doubled_on_pages: int = 0

    def expect(self, answer: Answer, status: int, what: str) -> bool:
        if answer.status != status:
            self.problems.append(f"{what}: {answer.status}, not {status}: {answer.text[:300]}")
            return False
        return True

    def verify(self, value: str) -> Answer:
        answer = verify(self.port, value)
        self.api_statuses[answer.status] += 1
        return answer

    def learn(self, value: str, name: str, what: str) -> int | None:
        """A new token's id, from the API: it works at once."""
        answer = self.verify(value)
        if not self.expect(answer, 200, f"{what}: the new token"):
            return None
        data = answer.json()["data"]
        if data["attributes"]["name"] != name:
            self.problems.append(f"{what}: the API names it {data['attributes']['name']!r}")
        return int(data["id"])

    def create(self, name: str, htmx: bool, *, may_be_taken: bool = False) -> None:
        answer = self.browser.post(TOKENS, NEW_TOKEN | {"name": name}, htmx)
        if may_be_taken and answer.status == 422:
            if field_errors(answer) != [name_taken(name)]:
                self.problems.append(f"create {name}: 422 saying {field_errors(answer)}")
            self.shared[name] = 422
            return
        if not self.expect(answer, 201, f"create {name}"):
            return
        if may_be_taken:
            self.shared[name] = 201
        value = answer.page.find(id="new-token-value")["value"]
        token_id = self.learn(value, name, f"create {name}")
        if token_id is not None:
            self.tokens[token_id] = Token(name, value)

    def check(self, rng: random.Random) -> None:
        token_id, token = rng.choice(list(self.tokens.items()))
        answer = self.verify(token.value)
        if token.revoked:
            self.expect_revoked(answer, token_id)
        elif self.expect(answer, 200, f"verify {token_id}"):
            if answer.json()["data"]["id"] != str(token_id):
                self.problems.append(f"verify {token_id}: answered for {answer.text[:200]}")

    def expect_revoked(self, answer: Answer, token_id: int) -> None:
        if answer.status != 401 or error_code(answer) != "token_revoked":
            self.problems.append(f"token {token_id} revoked, yet: {answer.status} {answer.text}")

    def active(self, rng: random.Random, *, rotatable: bool = False) -> int | None:
        choices = [
            token_id
            for token_id, token in self.tokens.items()
            if not token.revoked and not (rotatable and token.rotated)
        ]
        return rng.choice(choices) if choices else None

    def rotate(self, rng: random.Random) -> None:
        token_id = self.active(rng, rotatable=True)
        if token_id is None:
            return
        old = self.tokens[token_id]
        grace = rng.choice(["now", "24h"])
        form = {"expiration": "30", "grace": grace}
        answer = self.browser.post(f"{TOKENS}/{token_id}/rotate", form, htmx=rng.random() < 0.5)
        if not self.expect(answer, 201, f"rotate {token_id}"):
            return
        old.rotated = True
        value = answer.page.find(id="new-token-value")["value"]
        new_id = self.learn(value, old.name, f"rotate {token_id}")
        if new_id is not None:
            self.tokens[new_id] = Token(old.name, value, replaces=token_id)
        if grace == "now":
            old.revoked = True
            self.expect_revoked(self.verify(old.value), token_id)

    def revoke(self, rng: random.Random) -> None:
        token_id = self.active(rng)
        if token_id is None:
            return
        htmx = rng.random() < 0.5
        answer = self.browser.post(f"{TOKENS}/{token_id}/revoke", {}, htmx)
        if not self.expect(answer, 200 if htmx else 302, f"revoke {token_id}"):
            return
        self.tokens[token_id].revoked = True
        # The very next request with it, on a new connection (maybe another worker).
        self.expect_revoked(self.verify(self.tokens[token_id].value), token_id)

    def list_page(self, rng: random.Random) -> None:
        number = rng.randint(1, self.pages)
        answer = self.browser.get(f"{TOKENS}?page={number}", htmx=rng.random() < 0.3)
        if not self.expect(answer, 200, f"list page {number}"):
            return
        ids = [token_id for token_id, _ in rows(answer)]
        if len(ids) != len(set(ids)):
            self.doubled_on_pages += len(ids) - len(set(ids))
            self.problems.append(f"page {number} lists a token twice: {ids}")
        pager = answer.page.select_one("nav.pager")
        if pager is not None:
            self.pages = int(re.search(r"Page \d+ of (\d+)", text_of(pager))[1])

    def run(self, operations: int, together: threading.Barrier) -> None:
        rng = random.Random(self.number)
        actions = [self.check, self.rotate, self.revoke, self.list_page]
        for step in range(operations):
            if step % SHARED_NAME_EVERY == SHARED_NAME_EVERY // 2:
                # Every client creates this name at the same moment: one may have it.
                # (All are done before any goes on, to revoke the winner, say.)
                together.wait(timeout=120)
                self.create(f"Shared {step}", htmx=self.number % 2 == 0, may_be_taken=True)
                together.wait(timeout=120)
            elif not self.tokens or rng.random() < 0.3:
                self.create(f"Client {self.number} token {step}", htmx=rng.random() < 0.5)
            else:
                rng.choices(actions, weights=[4, 1, 2, 2])[0](rng)


def test_eight_clients_at_once_lose_no_token_and_see_every_revoke(app, served, database_url):
    """Eight people of one project, each on a thread of their own, create, verify,
    rotate, revoke and list at once (and now and then all create one name together).
    Afterwards every token made is in the database and on the list exactly once."""
    people = project_with(owners=2, developers=CLIENTS - 2)
    project_id = db.session.scalar(select(Project.id))
    clients = [
        Client(number, browser, served.port)
        for number, browser in enumerate(signed_in(served, people))
    ]
    operations = scaled(40, 300)
    together = threading.Barrier(CLIENTS)
    failures = []

    def run(client: Client) -> None:
        try:
            client.run(operations, together)
        except Exception:  # recorded, and the others are let go
            failures.append(f"client {client.number}: {traceback.format_exc()}")
            together.abort()

    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(run, clients, timeout=900))
    took = time.monotonic() - started

    # Every page of the list, as someone reading it after the rush.
    reader = clients[0].browser
    listed: list[tuple[int, str]] = []
    path = TOKENS
    while path:
        answer = reader.get(path)
        assert answer.status == 200
        listed += rows(answer)
        following = answer.page.select_one("nav.pager a[rel=next]")
        path = following["href"] if following else None
    made = {token_id: token.name for c in clients for token_id, token in c.tokens.items()}
    stored = dict(
        db.session.execute(
            select(ApiToken.id, ApiToken.name).where(ApiToken.project_id == project_id)
        ).all()
    )
    revoked = set(
        db.session.scalars(
            select(ApiToken.id).where(
                ApiToken.project_id == project_id, ApiToken.revoked_at.is_not(None)
            )
        )
    )
    counts = Counter(token_id for token_id, _ in listed)
    doubled = sum(count - 1 for count in counts.values())
    lost = set(made) - set(counts)
    unknown = set(counts) - set(made)
    lost_or_doubled = doubled + len(lost) + len(unknown) + len(set(made) ^ set(stored))
    lost_or_doubled += sum(client.doubled_on_pages for client in clients)
    problems = [problem for client in clients for problem in client.problems]
    api_statuses = sum((client.api_statuses for client in clients), Counter())
    figures(
        database_url,
        [client.browser for client in clients],
        api_requests=api_statuses.total(),
        lost_or_doubled=lost_or_doubled,
    )
    server_errors = sum(n for status, n in api_statuses.items() if status >= 500)
    print(f"{len(clients)} clients x {operations} operations in {took:.1f} s")

    assert failures == []
    assert problems == []
    assert server_errors == 0
    assert all(client.browser.statuses.keys() <= {200, 201, 302, 422} for client in clients)
    assert lost_or_doubled == 0, (doubled, lost, unknown, set(made) ^ set(stored))
    assert dict(listed) == made == stored
    should_be_revoked = {i for c in clients for i, token in c.tokens.items() if token.revoked}
    assert should_be_revoked <= revoked
    # Each name all the clients created at once: made exactly once, the others told why.
    rounds = {name for client in clients for name in client.shared}
    assert rounds
    for name in rounds:
        statuses = sorted(client.shared.get(name) for client in clients)
        assert statuses == [201] + [422] * (CLIENTS - 1), (name, statuses)
        created = [t for c in clients for t in c.tokens.values() if t.name == name]
        assert len([token for token in created if token.replaces is None]) == 1


# -- Races, head to head --------------------------------------------------------------


def test_two_creates_with_one_name_at_once_make_one_token(app, served, database_url):
    """Token names are unique among a project's active tokens: checked, then inserted,
    in one locked step, so the second of two creates is told, never a second token."""
    browsers = signed_in(served, project_with(developers=2))
    rounds = scaled(8, 40)
    for number in range(rounds):
        name = f"Checkout {number}"
        form = NEW_TOKEN | {"name": name}
        answers = at_once(*(b.ready_to_post(TOKENS, form, htmx=True) for b in browsers))
        assert sorted(a.status for a in answers) == [201, 422], [a.text for a in answers]
        loser = next(a for a in answers if a.status == 422)
        assert field_errors(loser) == [name_taken(name)]
        named = select(func.count()).select_from(ApiToken).where(ApiToken.name == name)
        assert db.session.scalar(named) == 1
    figures(database_url, browsers)


def test_one_token_rotated_twice_at_once_gets_one_replacement(app, served, database_url):
    """A double click on Rotate (two tabs, one session): one replacement; the second
    request is told the token was already rotated (409)."""
    (developer,) = project_with(developers=1)
    (browser,) = signed_in(served, [developer])
    project = db.session.scalar(select(Project))
    for number in range(scaled(8, 40)):
        token, _ = issue_token(project, f"Rotated {number}")
        form = {"expiration": "30", "grace": "24h"}
        path = f"{TOKENS}/{token.id}/rotate"
        answers = at_once(*(browser.ready_to_post(path, form, htmx=True) for _ in range(2)))
        assert sorted(a.status for a in answers) == [201, 409], [a.text for a in answers]
        loser = next(a for a in answers if a.status == 409)
        assert "was already rotated" in text_of(loser.page.select_one(".form-errors"))
        named = select(func.count()).select_from(ApiToken).where(ApiToken.name == token.name)
        assert db.session.scalar(named) == 2, "the token and one replacement"
    figures(database_url, [browser])


def ready_to_send(port: int, method: str, path: str, body: dict, token: str):
    """A JSON:API request with a bearer token, connected now and sent when called."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.connect()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/vnd.api+json"}

    def sent() -> Answer:
        try:
            connection.request(method, path, json.dumps(body), headers)
            response = connection.getresponse()
            return Answer(response.status, response.headers, response.read().decode())
        finally:
            connection.close()

    return sent


def test_the_management_api_holds_the_project_as_the_page_does(app, served, database_url):
    """Two creates of one name at once through the management API make one token (the
    other: 422 name_taken); two rotations of one token at once, one replacement (the
    other: 409 token_already_rotated)."""
    (developer,) = project_with(developers=1)
    _, value = personal_tokens.issue(developer, "Race", utcnow() + timedelta(days=1), now=utcnow())
    db.session.commit()
    project = db.session.scalar(select(Project))
    path = "/api/v1/projects/shop/tokens"
    for number in range(scaled(4, 20)):
        name = f"Checkout {number}"
        body = {"data": {"type": "api-tokens", "attributes": {"name": name, "abilities": ["read"]}}}
        answers = at_once(*(ready_to_send(served.port, "POST", path, body, value) for _ in "ab"))
        assert sorted(a.status for a in answers) == [201, 422], [a.text for a in answers]
        assert error_code(next(a for a in answers if a.status == 422)) == "name_taken"
        token, _ = issue_token(project, f"Rotated {number}")
        body = {"data": {"type": "api-tokens", "attributes": {"grace": "1h"}}}
        rotate = f"{path}/{token.id}/rotate"
        answers = at_once(*(ready_to_send(served.port, "POST", rotate, body, value) for _ in "ab"))
        assert sorted(a.status for a in answers) == [201, 409], [a.text for a in answers]
        assert error_code(next(a for a in answers if a.status == 409)) == "token_already_rotated"
        named = (
            select(func.count()).select_from(ApiToken).where(ApiToken.name.in_([name, token.name]))
        )
        assert db.session.scalar(named) == 3, "one new token, one old and its replacement"


@pytest.mark.parametrize("action", ["demote", "remove"])
def test_two_owners_demoting_each_other_at_once_leave_one_owner(app, served, database_url, action):
    """Each owner may demote or remove the other, not both: the second request finds
    its sender no longer an owner (403) or no longer a member (404)."""
    first, second = project_with(owners=2)
    project = db.session.scalar(select(Project))
    browsers = signed_in(served, [first, second])
    loser_status = {"demote": 403, "remove": 404}[action]
    for _ in range(scaled(8, 40)):
        memberships = {m.user_id: m.id for m in members_of(project)}
        requests = [
            browser.ready_to_post(
                f"/projects/shop/members/{memberships[other.id]}/"
                + ("role" if action == "demote" else "remove"),
                {"role": "developer"} if action == "demote" else {},
                htmx=True,
            )
            for browser, other in [(browsers[0], second), (browsers[1], first)]
        ]
        answers = at_once(*requests)
        assert sorted(a.status for a in answers) == [200, loser_status], [a.text for a in answers]
        db.session.expire_all()
        assert owner_count(project) == 1
        if action == "demote":
            loser = next(a for a in answers if a.status == 403)
            # htmx shows the refusal in the page's message area (htmx.error_answer).
            assert "Nothing was changed." in text_of(loser.page.select_one("#flash"))
        # Both owners again, for the next round.
        db.session.execute(delete(Membership))
        for person in (first, second):
            add_member(project, person, Role.OWNER, actor=None)
        db.session.commit()
    figures(database_url, browsers)


def test_two_invitations_for_one_address_at_once_make_one(app, served, database_url):
    """One pending invitation per address and project: the second owner is told."""
    browsers = signed_in(served, project_with(owners=2))
    for number in range(scaled(8, 40)):
        email = f"newcomer{number}@example.com"
        form = {"email": email, "role": "developer"}
        answers = at_once(*(b.ready_to_post("/projects/shop/invitations", form) for b in browsers))
        assert sorted(a.status for a in answers) == [201, 422], [a.text for a in answers]
        loser = next(a for a in answers if a.status == 422)
        assert field_errors(loser) == [
            f"{email} already has a pending invitation. Revoke it first to send a new one."
        ]
        pending = select(func.count()).select_from(Invitation).where(Invitation.email == email)
        assert db.session.scalar(pending) == 1
    figures(database_url, browsers)


@pytest.mark.parametrize("account", ["new", "existing"])
def test_one_invitation_accepted_twice_at_once_joins_once(app, served, database_url, account):
    """Two tabs (or a double click) accepting one invitation: one joins, the other is
    told the link was used; one account, one membership, never a 500."""
    project_with(owners=1)
    project = db.session.scalar(select(Project))
    browsers = []
    for number in range(scaled(8, 40)):
        email = f"joiner{number}@example.com"
        if account == "existing":
            add_user(email, f"Joiner {number}")
            form = {"password": PASSWORD}
        else:
            form = {"name": f"Joiner {number}", "password": PASSWORD, "confirm_password": PASSWORD}
        _, secret = create_invitation(
            project, email, Role.DEVELOPER, by=None, now=utcnow(), by_mail=False
        )
        db.session.commit()
        link = f"/invitations/{secret}"
        pair = [Browser(served.port), Browser(served.port)]
        for browser in pair:
            browser.open_form(link)
        answers = at_once(*(browser.ready_to_post(link, form) for browser in pair))
        browsers += pair
        assert sorted(a.status for a in answers) == [302, 410], [a.text for a in answers]
        winner = next(a for a in answers if a.status == 302)
        assert winner.headers["Location"] == "/projects/shop"
        loser = next(a for a in answers if a.status == 410)
        assert "This invitation has already been used." in text_of(loser.page.select_one("main"))
        joined = select(User.id).where(User.email == email)
        assert len(db.session.scalars(joined).all()) == 1
        memberships = (
            select(func.count()).select_from(Membership).where(Membership.user_id.in_(joined))
        )
        assert db.session.scalar(memberships) == 1
    figures(database_url, browsers)


def test_two_projects_invitations_to_one_new_address_accepted_at_once(app, served, database_url):
    """Shop and Garden both invite one address; its owner, without an account yet,
    submits both links at the same moment. Each request locks only its own project, so
    both try to create the account: one does and joins, the other is told it exists
    and to sign in with its password (409), never a 500, and there is one account."""
    [owner] = project_with(owners=1)
    shop = db.session.scalar(select(Project))
    garden = create_project("Garden", actor=None)
    add_member(garden, owner, Role.OWNER, actor=None)
    db.session.commit()
    browsers = []
    for number in range(scaled(8, 40)):
        email = f"both{number}@example.com"
        links = [
            "/invitations/"
            + create_invitation(project, email, Role.DEVELOPER, by=None, now=utcnow())[1]
            for project in (shop, garden)
        ]
        db.session.commit()
        pair = [Browser(served.port), Browser(served.port)]
        for browser, link in zip(pair, links, strict=True):
            browser.open_form(link)
        form = {"name": f"Both {number}", "password": PASSWORD, "confirm_password": PASSWORD}
        answers = at_once(
            *(b.ready_to_post(link, form) for b, link in zip(pair, links, strict=True))
        )
        browsers += pair
        statuses = sorted(answer.status for answer in answers)
        # Most rounds are the race; when one request finishes before the other begins,
        # the second sees the account and signs in with the password it was given.
        assert statuses in ([302, 409], [302, 302]), [answer.text for answer in answers]
        if statuses == [302, 409]:
            loser = next(answer for answer in answers if answer.status == 409)
            assert text_of(loser.page.select_one("main .form-errors")) == (
                "An account for this address already exists: sign in with its password "
                "above, or ask an instance admin."
            )
        made = select(func.count()).select_from(User).where(User.email == email)
        assert db.session.scalar(made) == 1
    figures(database_url, browsers)


def test_a_token_revoked_while_a_page_is_read_is_listed_once(app, client, team, sign_in):
    """A page reads its active tokens, then the others: a revoke committed between the
    two reads (deterministically, here) must not list the token in both."""
    tokens = [issue_token(team.project, f"Token {number}")[0] for number in range(3)]
    revoked_id = tokens[1].id
    sign_in(team.developer)
    reads = []

    def revoke_between_the_reads(connection, cursor, statement, *_):
        if "FROM api_tokens" in statement and "LIMIT" in statement:
            reads.append(statement)
            if len(reads) == 2:  # the active tokens are read: someone revokes one now
                with db.engine.begin() as elsewhere:
                    elsewhere.execute(
                        update(ApiToken)
                        .where(ApiToken.id == revoked_id)
                        .values(revoked_at=datetime.now(UTC))
                    )

    event.listen(db.engine, "before_cursor_execute", revoke_between_the_reads)
    try:
        response = client.get(TOKENS)
    finally:
        event.remove(db.engine, "before_cursor_execute", revoke_between_the_reads)
    assert response.status_code == 200
    assert len(reads) == 2, "the active tokens, then the others"
    listed = [token_id for token_id, _ in rows(Answer(200, None, response.text))]
    assert sorted(listed) == sorted(token.id for token in tokens)
