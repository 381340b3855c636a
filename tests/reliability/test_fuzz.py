"""Fuzzing with Hypothesis: the fields of every form, the ``Authorization`` header of the
token API, the query strings people and proxies send, the JSON bodies of leaked-token
reports, and the parameters in every route's path.

What holds for every input: never a 5xx; a refused request (a 4xx, or the form sent back
with its errors) leaves every table exactly as it was (``snapshot``), save the record of a
failed sign-in; an accepted one changes exactly what it says. Hypothesis keeps no example
database in the repository and, at CI size, draws the same examples on every run
(``derandomize``); ``make reliability`` draws ten times more, at random. Whatever it finds
becomes an ordinary test beside the feature's other tests.
"""

import functools
import importlib
import itertools
import json
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import quote, urlencode, urljoin, urlsplit

import orjson
import pytest
from flask import current_app
from flask_wtf import FlaskForm
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict
from werkzeug.http import parse_options_header
from werkzeug.test import EnvironBuilder, encode_multipart
from werkzeug.wrappers import Request
from wtforms import BooleanField, SelectMultipleField
from wtforms.fields.core import UnboundField

import flagpal_dash
from flagpal_dash import abilities, token_format, validation
from flagpal_dash.account import (
    ExpiryMailForm,
    NameForm,
    PasswordForm,
    PersonalTokenForm,
    RevokeForm,
)
from flagpal_dash.admin import NewProjectForm, NewUserForm
from flagpal_dash.api import leak_reports
from flagpal_dash.api.verification import TOKEN_QUERY_NAMES
from flagpal_dash.audit import GROUPS, PROJECT_GROUPS
from flagpal_dash.auth.forms import ForgotPasswordForm, NewPasswordForm, SetupForm, SignInForm
from flagpal_dash.core import personal_tokens, webhooks
from flagpal_dash.core.invitations import create_invitation, pending, revoke_invitation
from flagpal_dash.core.password_resets import create_reset
from flagpal_dash.core.projects import (
    TOKEN_LIFETIME_CHOICES,
    UNUSED_TOKEN_CHOICES,
    membership_of,
    remove_member,
)
from flagpal_dash.deliverer import webhook_settings
from flagpal_dash.extensions import db
from flagpal_dash.members.forms import (
    CreateAccountToJoinForm,
    InviteForm,
    JoinForm,
    RoleForm,
    SignInToJoinForm,
)
from flagpal_dash.models import User, utcnow
from flagpal_dash.paging import MAX_PAGE
from flagpal_dash.permissions import Role
from flagpal_dash.projects.settings import PolicyForm
from flagpal_dash.projects.webhooks import ButtonForm, NewSecretForm, NewWebhookForm, WebhookForm
from flagpal_dash.tokens.forms import (
    EXPIRATION_CHOICES,
    GRACE_PERIODS,
    CreateTokenForm,
    RotateTokenForm,
)
from flagpal_dash.tokens.listing import STATUSES

from ..conftest import make_app
from ..support import (
    HTMX,
    PASSWORD,
    add_user,
    issue_token,
    page,
    setup_code,
    snapshot,
    text_of,
)
from . import LARGE, database_kind, record, scaled

EXAMPLES = scaled(50, 500)
FUZZ = settings(
    max_examples=EXAMPLES,
    database=None,  # no .hypothesis/ folder in the repository
    derandomize=not LARGE,  # CI draws the same examples every run
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=LARGE,  # to replay a random failure: @reproduce_failure(...)
)
# A fuzzer makes thousands of failed attempts; the limits have their own tests.
RAISED_LIMITS = {
    "SIGN_IN_LIMIT": "1000000 per minute",
    "SIGN_IN_ACCOUNT_LIMIT": "1000000 per minute",
    "LEAK_REPORT_LIMIT": "1000000 per minute",
}
MEDIA_TYPE = "application/vnd.api+json"


# What a fuzzer types -------------------------------------------------------------------

NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\t\n\r",
    "\u00a0\u2028\u2029\u3000",
    "\u202eevil\u202c",  # right-to-left override
    "مرحبا بالعالم",
    "שלום",
    "🏳️‍🌈👩‍👩‍👧",
    "e\u0301\u0301\u0301",
    "\ufeff",
    "\uffff\U0010ffff",
    "İı",
    "ß",
    "0",
    "-1",
    "1e309",
    "NaN",
    "99999999999999999999999",
    "²",
    "null",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "%00%ff",
    "{{7*7}}",
    "../../etc/passwd",
]


def repeated(counts: list[int]):
    return st.builds(
        lambda char, count: char * count,
        st.sampled_from(["a", "é", "😀", "\x00", " "]),
        st.sampled_from(counts),
    )


SHORT_GARBAGE = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=30),  # any code point but surrogates: NUL, controls, RTL, emoji
    st.text(st.characters(categories=["Zs", "Zl", "Zp", "Cc", "Cf"]), max_size=10),
    st.integers().map(str),
    st.floats().map(str),
    # Past every length limit (a server refuses a request line or header of more than
    # 4-8 KB before the app sees it).
    repeated([101, 255, 1001]),
)
# In a body, huge too: past the 64 KB a form may send (413).
GARBAGE = st.one_of(SHORT_GARBAGE, repeated([20_000, 70_000]))


def spliced(plausible):
    """A plausible value with something put inside that no rule expects there."""

    def splice(value, piece: str, at: int):
        return value[:at] + piece + value[at:] if isinstance(value, str) else value

    pieces = st.sampled_from(["\x00", "\n", "\u202e", " ", "%00"])
    return st.builds(splice, plausible, pieces, st.integers(0, 60))


def first(value):
    """What a one-value field reads of a value sent several times: the first."""
    return value[0] if isinstance(value, list) else value


def values(value) -> list:
    return value if isinstance(value, list) else [value]


# Before and after ----------------------------------------------------------------------


# When and from where a session was last seen: any signed-in request may write them (once
# a minute), whatever else it did.
SESSION_SEEN = {"last_seen_at", "address"}


def keyed(table_rows: list[tuple], columns: list[str], key: list[int]) -> dict:
    return {tuple(row[i] for i in key): dict(zip(columns, row, strict=True)) for row in table_rows}


# Failed attempts and leak reports are counted there, by design (tests/test_limits.py
# and test_limit_storage.py check the counts), so the fuzzing looks past that table.
LIMIT_COUNTS = frozenset({"rate_limit_counters"})


@dataclass
class Changes:
    """What a request did to the database: rows added, removed and changed, by table."""

    added: dict[str, list[dict]] = field(default_factory=dict)
    removed: dict[str, list[dict]] = field(default_factory=dict)
    changed: dict[str, list[tuple[dict, dict]]] = field(default_factory=dict)

    @classmethod
    def between(cls, before: dict, after: dict) -> "Changes":
        changes = cls()
        for table in db.metadata.sorted_tables:
            if table.name in LIMIT_COUNTS:
                continue
            columns = [column.name for column in table.columns]
            key = [columns.index(column.name) for column in table.primary_key.columns]
            old = keyed(before[table.name], columns, key)
            new = keyed(after[table.name], columns, key)
            if added := [new[k] for k in new.keys() - old.keys()]:
                changes.added[table.name] = added
            if removed := [old[k] for k in old.keys() - new.keys()]:
                changes.removed[table.name] = removed
            changed = [(old[k], new[k]) for k in old.keys() & new.keys() if old[k] != new[k]]
            if table.name == "user_sessions":
                changed = [(o, n) for o, n in changed if differing(o, n) - SESSION_SEEN]
            if changed:
                changes.changed[table.name] = changed
        return changes

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def tables(self) -> set[str]:
        return {*self.added, *self.removed, *self.changed}

    def audit_kinds(self) -> list[str]:
        return sorted(event["kind"] for event in self.added.get("audit_events", []))

    def only(self, table: str, *, added: int = 0, changed: int = 0) -> list:
        """The rows of ``table`` added (or changed: (before, after) pairs), checking the
        count."""
        rows = self.added.get(table, []) if added else self.changed.get(table, [])
        assert len(rows) == (added or changed), (table, rows)
        return rows


def differing(before: dict, after: dict) -> set[str]:
    return {name for name in before if before[name] != after[name]}


# The scene every test fuzzes ------------------------------------------------------------


@dataclass
class Scene:
    """The ``team`` fixture's project "Shop", an admin, and an app on the same database
    whose sign-in limits a fuzzer does not reach."""

    app: object
    team: object
    admin: User
    counts: dict = field(default_factory=lambda: {"requests": 0, "server_errors": 0})
    # Per example, made by a target's ``prepare``.
    secret: str = ""
    token_id: int = 0
    webhook_id: int = 0
    invited_email: str = ""

    def client(self, who: str | None = None):
        client = self.app.test_client()
        if who is not None:
            user = self.admin if who == "admin" else self.team.member(who)
            response = self.send(
                client.post, "/sign-in", data={"email": user.email, "password": PASSWORD}
            )
            assert response.status_code == 302, response.text
        return client

    def send(self, method: Callable, url: str, **kwargs):
        """Make a request, counting it and any 5xx (which fails the example)."""
        response = method(url, **kwargs)
        self.counts["requests"] += 1
        if response.status_code >= 500:
            self.counts["server_errors"] += 1
        assert response.status_code < 500, response.text[:2000]
        return response

    def user_id(self, email: str) -> int:
        return db.session.scalar(db.select(User.id).where(User.email == email))

    def wipe(self) -> None:
        """Every table emptied, as on a fresh install."""
        db.session.rollback()
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(table.delete())


@pytest.fixture
def scene(app, team, database_url, mail_server):
    admin = add_user("ada@example.com", "Ada Admin", admin=True)
    db.session.commit()
    # With mail, so "Forgot your password?" takes posts (it mails through a real server).
    fuzzed = make_app(database_url, **RAISED_LIMITS, **mail_server.settings())
    yield Scene(fuzzed, team, admin)
    db.session.rollback()
    with fuzzed.app_context():
        db.engine.dispose()


def recorded(scene: Scene, database_url: str, cases: int) -> None:
    record(f"fuzzing, {database_kind(database_url)}", fuzz_cases=cases, **scene.counts)


def error_code(response) -> str:
    """The code of a JSON:API error document (checking it is one)."""
    assert response.headers["Content-Type"] == MEDIA_TYPE, response.headers
    [error] = response.get_json(force=True)["errors"]
    assert error["status"] == str(response.status_code)
    assert error["title"] and error["detail"]
    return error["code"]


def shows_errors(response) -> bool:
    """Whether a page or fragment sent back with 422 tells the person what is wrong."""
    found = page(response).select(".field-errors li, .form-errors p, .flash-error")
    return any(text_of(element) for element in found)


# Forms ---------------------------------------------------------------------------------

EMAILS = [
    "olivia@example.com",
    "dev@example.com",
    "vic@example.com",
    "otto@example.com",
    "ada@example.com",
]
SOME_EMAIL = st.one_of(
    st.sampled_from(EMAILS + ["  OLIVIA@Example.com ", "new@example.com", "nia@example.com"]),
    st.emails(),
)
GOOD_PASSWORD = st.one_of(st.just(PASSWORD), st.text(min_size=10, max_size=30))
SOME_NAME = st.one_of(
    st.sampled_from(["Shop backend", " Ada ", "Zoë 🚀", "\u202eevil"]),
    st.text(st.characters(exclude_categories=["Cc", "Cs"]), min_size=1, max_size=40),
    st.text(max_size=40),
)
ROLES = st.sampled_from([role.value for role in Role])


def same_as(name: str):
    """A confirmation field: the same as ``name`` (when that was sent)."""
    return lambda data: st.just(first(data.get(name, "")))


@dataclass(frozen=True)
class FormTarget:
    """How to fuzz one form: who posts it where, what plausible values look like, and
    what an accepted post must have changed."""

    form: type[FlaskForm]
    who: str | None  # signed in as this member of the scene, or anonymous (None)
    endpoint: str
    url: Callable[[Scene], str]
    plausible: dict
    accepted: frozenset[int]
    check: Callable[[Scene, dict, "Changes"], None]
    # Audit kinds a refused attempt records (a failed sign-in is kept for admins).
    refusal_records: frozenset[str] = frozenset()
    # Per example before the snapshot, and after an accepted post.
    prepare: Callable[[Scene], None] = lambda scene: None
    after: Callable[[Scene], None] = lambda scene: None


def check_sign_in(scene: Scene, data: dict, changes: Changes) -> None:
    assert User.normalize_email(first(data["email"])) in EMAILS
    assert first(data["password"]) == PASSWORD
    assert changes.tables() == {"audit_events", "user_sessions"}
    assert changes.audit_kinds() == ["sign_in.succeeded"]
    [session] = changes.only("user_sessions", added=1)
    assert session["user_id"] == scene.user_id(User.normalize_email(first(data["email"])))


def check_setup(scene: Scene, data: dict, changes: Changes) -> None:
    [user] = changes.only("users", added=1)
    assert (user["email"], user["name"], user["is_admin"]) == (
        validation.email(first(data["email"])),
        validation.person_name(first(data["name"])),
        True,
    )
    assert len(first(data["password"])) >= validation.MIN_PASSWORD_LENGTH
    assert first(data["password"]) == first(data["confirm_password"])
    [project] = changes.only("projects", added=1)
    assert project["name"] == validation.project_name(first(data["project_name"]))
    [membership] = changes.only("memberships", added=1)
    assert (membership["user_id"], membership["role"]) == (user["id"], "owner")
    [session] = changes.only("user_sessions", added=1)
    assert session["user_id"] == user["id"], "signed in"
    assert changes.tables() == {"users", "projects", "memberships", "audit_events", "user_sessions"}
    assert changes.audit_kinds() == ["member.added", "project.created", "user.created"]


def prepare_setup(scene: Scene) -> None:
    scene.wipe()


def check_name(scene: Scene, data: dict, changes: Changes) -> None:
    name = validation.person_name(first(data["name"]))
    if not changes:  # the name it was already
        assert name == db.session.get(User, scene.team.owner.id).name
        return
    assert changes.tables() == {"users"}
    [(before, after)] = changes.only("users", changed=1)
    assert differing(before, after) == {"name"} and after["name"] == name


def check_expiry_mail(scene: Scene, data: dict, changes: Changes) -> None:
    """The box as sent (a missing or "false"/empty value is unticked), and nothing else:
    the choice is not audited."""
    sent = first(data.get("expiry_mail", ""))
    on = bool(sent) and sent not in ("false", "")
    assert db.session.get(User, scene.team.owner.id, populate_existing=True).expiry_mail is on
    if changes:
        assert changes.tables() == {"users"}
        [(before, after)] = changes.only("users", changed=1)
        assert differing(before, after) == {"expiry_mail"}


def check_password(scene: Scene, data: dict, changes: Changes) -> None:
    assert first(data["current_password"]) == PASSWORD
    new = validation.password(first(data["new_password"]))
    assert first(data.get("confirm_password")) == new
    [(before, after)] = changes.only("users", changed=1)
    assert differing(before, after) == {"password_hash"}
    # The owner's only session is the one that changed it, which stays.
    assert changes.tables() == {"users", "audit_events"}
    assert changes.audit_kinds() == ["account.password_changed"]


def restore_password(scene: Scene) -> None:
    """Back to the password every test signs in with (this session stays valid)."""
    db.session.expire_all()
    db.session.get(User, scene.team.owner.id).set_password(
        PASSWORD, rounds=current_app.config["BCRYPT_ROUNDS"]
    )
    db.session.commit()


def check_new_user(scene: Scene, data: dict, changes: Changes) -> None:
    [user] = changes.only("users", added=1)
    admin = first(data.get("admin", ""))
    assert (user["email"], user["name"], user["is_admin"]) == (
        validation.email(first(data["email"])),
        validation.person_name(first(data["name"])),
        bool(admin) and admin not in ("false", ""),
    )
    validation.password(first(data["password"]))
    assert changes.tables() == {"users", "audit_events"}
    assert changes.audit_kinds() == ["user.created"]


def check_new_project(scene: Scene, data: dict, changes: Changes) -> None:
    [project] = changes.only("projects", added=1)
    assert project["name"] == validation.project_name(first(data["name"]))
    slug = first(data.get("slug", "")).strip()
    # A slug typed is kept; none is made from the name.
    assert project["slug"] == validation.slug(project["slug"] if not slug else slug)
    [membership] = changes.only("memberships", added=1)
    owner = scene.user_id(validation.email(first(data["owner"])))
    assert (membership["user_id"], membership["role"]) == (owner, "owner")
    assert changes.tables() == {"projects", "memberships", "audit_events"}
    assert changes.audit_kinds() == ["member.added", "project.created"]


def days_or_none(value: str, none: str) -> int | None:
    return None if value == none else int(value)


def check_policy(scene: Scene, data: dict, changes: Changes) -> None:
    lifetime = days_or_none(first(data["max_token_lifetime_days"]), "none")
    unused = days_or_none(first(data["revoke_unused_after_days"]), "never")
    assert lifetime in (None, *TOKEN_LIFETIME_CHOICES)
    assert unused in (None, *UNUSED_TOKEN_CHOICES)
    if not changes:  # the policy it was already
        return
    [(before, after)] = changes.only("projects", changed=1)
    assert differing(before, after) <= {"max_token_lifetime_days", "revoke_unused_after_days"}
    assert (after["max_token_lifetime_days"], after["revoke_unused_after_days"]) == (
        lifetime,
        unused,
    )
    assert changes.audit_kinds() == ["project.policy_changed"]


def developer_membership(scene: Scene) -> int:
    return membership_of(scene.team.developer, scene.team.project).id


def check_role(scene: Scene, data: dict, changes: Changes) -> None:
    # A plain POST is redirected whatever happened (the message says): only a role
    # from the list that differs from the present one changes anything.
    role = first(data.get("role"))
    if not changes:
        db.session.expire_all()
        membership = membership_of(scene.team.developer, scene.team.project)
        assert role not in {r.value for r in Role} or role == membership.role.value
        return
    [(before, after)] = changes.only("memberships", changed=1)
    assert differing(before, after) == {"role"} and after["role"] == role
    assert changes.audit_kinds() == ["member.role_changed"]


def check_invitation(scene: Scene, data: dict, changes: Changes) -> None:
    [invitation] = changes.only("invitations", added=1)
    assert (invitation["email"], invitation["role"]) == (
        validation.email(first(data["email"])),
        first(data.get("role", Role.DEVELOPER.value)),
    )
    assert changes.tables() == {"invitations", "audit_events"}
    assert changes.audit_kinds() == ["invitation.created"]


NEW_PEOPLE = itertools.count(1)


def invite(email: str) -> Callable[[Scene], None]:
    """A fresh invitation to "Shop" for ``email`` per example (a link works once)."""

    def prepare(scene: Scene) -> None:
        address = email or f"new-{next(NEW_PEOPLE)}@example.com"
        # Nobody is invited to a project they are on, nor twice at once: the last
        # example's membership or invitation goes. (Joining when already a member,
        # added meanwhile, is test_invitations' case.)
        for earlier in pending(scene.team.project, utcnow(), address):
            revoke_invitation(earlier, by=None, now=utcnow())
        user = User.by_email(address)
        membership = user and membership_of(user, scene.team.project)
        if membership:
            remove_member(membership, actor=None)
        invitation, scene.secret = create_invitation(
            scene.team.project, address, Role.VIEWER, by=None, now=utcnow(), by_mail=False
        )
        scene.invited_email = address
        db.session.commit()

    return prepare


def check_joined(
    scene: Scene, changes: Changes, extra_kinds: list[str], signed_in: bool = False
) -> None:
    [(before, after)] = changes.only("invitations", changed=1)
    assert differing(before, after) == {"accepted_at", "accepted_by_id"}
    joined = changes.added.get("memberships", [])
    assert [m["role"] for m in joined] in ([], ["viewer"])
    kinds = ["invitation.accepted", *extra_kinds] + (["member.added"] if joined else [])
    assert changes.audit_kinds() == sorted(kinds)
    tables = {"invitations", "audit_events"} | ({"memberships"} if joined else set())
    tables |= {"users"} if "user.created" in kinds else set()
    if signed_in:  # by the invitation, in a new session
        changes.only("user_sessions", added=1)
        tables.add("user_sessions")
    assert changes.tables() == tables


def check_join(scene: Scene, data: dict, changes: Changes) -> None:
    check_joined(scene, changes, [])


def check_sign_in_to_join(scene: Scene, data: dict, changes: Changes) -> None:
    assert first(data["password"]) == PASSWORD
    check_joined(scene, changes, ["sign_in.succeeded"], signed_in=True)


def check_create_account_to_join(scene: Scene, data: dict, changes: Changes) -> None:
    [user] = changes.only("users", added=1)
    assert (user["email"], user["name"]) == (
        scene.invited_email,
        validation.person_name(first(data["name"])),
    )
    assert first(data["confirm_password"]) == validation.password(first(data["password"]))
    check_joined(scene, changes, ["user.created"], signed_in=True)


def check_forgot_password(scene: Scene, data: dict, changes: Changes) -> None:
    """One answer for every address; a link made (and its mail queued) only for an active
    account."""
    user = User.by_email(validation.email(first(data["email"])))
    if user is None or not user.active:
        assert changes.tables() == set()
        return
    [reset] = changes.only("password_resets", added=1)
    assert reset["user_id"] == user.id
    [queued] = changes.only("outgoing_mails", added=1)
    assert (queued["to"], queued["password_reset_id"]) == (user.email, reset["id"])
    assert changes.tables() == {"password_resets", "audit_events", "outgoing_mails"}
    assert changes.audit_kinds() == ["account.password_reset_link_created"]


RESET_PEOPLE = itertools.count(1)


def reset_link(scene: Scene) -> None:
    """A fresh account and its reset link per example (a link works once, and the
    scene's own members keep the password the other targets sign in with)."""
    user = add_user(f"reset-{next(RESET_PEOPLE)}@example.com", "Rhea Reset")
    db.session.flush()
    _, scene.secret = create_reset(user, by=None, now=utcnow(), how="fuzzing")
    scene.invited_email = user.email
    db.session.commit()


def check_new_password(scene: Scene, data: dict, changes: Changes) -> None:
    assert first(data["confirm_password"]) == validation.password(first(data["password"]))
    [(before, after)] = changes.only("users", changed=1)
    assert before["email"] == scene.invited_email
    assert differing(before, after) == {"password_hash"}
    [(_, used)] = changes.only("password_resets", changed=1)
    assert used["used_at"] is not None
    [session] = changes.only("user_sessions", added=1)  # this browser, signed in
    assert session["user_id"] == before["id"]
    assert changes.audit_kinds() == ["account.password_changed"]


def expires_never(data: dict) -> bool:
    return first(data.get("expiration", "30")) == "never"


def check_token(scene: Scene, data: dict, changes: Changes) -> None:
    [token] = changes.only("api_tokens", added=1)
    assert token["name"] == validation.token_name(first(data["name"]))
    assert token["abilities"] == validation.abilities(values(data["abilities"]))
    assert (token["expires_at"] is None) == expires_never(data)
    assert changes.tables() == {"api_tokens", "audit_events"}
    assert changes.audit_kinds() == ["token.created"]


ROTATION_NAMES = (f"To rotate {number}" for number in itertools.count(1))


def fresh_token(scene: Scene) -> None:
    # A name of its own each time: the last example's token, or its replacement, is
    # still active, and an active token's name is taken (core/tokens.issue).
    token, _ = issue_token(
        scene.team.project, next(ROTATION_NAMES), expires_at=utcnow() + timedelta(days=30)
    )
    scene.token_id = token.id


def check_rotation(scene: Scene, data: dict, changes: Changes) -> None:
    [new] = changes.only("api_tokens", added=1)
    [(before, after)] = changes.only("api_tokens", changed=1)
    assert before["id"] == scene.token_id and after["replaced_by_id"] == new["id"]
    assert (new["name"], new["abilities"]) == (before["name"], before["abilities"])
    assert (new["expires_at"] is None) == expires_never(data)
    grace = first(data.get("grace", "24h"))
    moved = {"expires_at"} if grace != "now" else {"revoked_at", "revoked_by_id"}
    assert differing(before, after) == {"rotated_at", "replaced_by_id", *moved}
    assert changes.tables() == {"api_tokens", "audit_events"}
    assert changes.audit_kinds() == ["token.created", "token.rotated"]


def offered_day(days_after_the_first: int) -> date:
    """A day the date picker offers (validation's first and last days), ``days`` after
    the first, kept within the last."""
    now = utcnow()
    first_day = validation.earliest_expiry_day(now)
    return min(first_day + timedelta(days=days_after_the_first), validation.latest_expiry_day(now))


TOKEN_FIELDS = {
    "name": SOME_NAME,
    "abilities": st.lists(st.sampled_from(sorted(abilities.ALL)), min_size=1, max_size=4),
    "expiration": st.sampled_from([choice.value for choice in EXPIRATION_CHOICES]),
    # As a browser sends it: empty unless a date was typed, and the picker offers only
    # the days the server accepts (from tomorrow, within ten years). A typed date is
    # the choice beside the option the form opened with, and asked about beside any
    # other (tokens/forms.py): the fuzzer's other values reach the refusals.
    "custom_date": st.one_of(
        st.just(""),
        st.integers(0, 100).map(lambda days: offered_day(days).isoformat()),
    ),
}


def a_webhook(scene: Scene) -> None:
    """Shop's webhook, to port 9 of this machine (where nothing listens: Send test fails
    at once), which the scene's app allows."""
    scene.app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    if scene.webhook_id:
        return
    hook, _ = webhooks.create(
        scene.team.project,
        "http://127.0.0.1:9/hook",
        None,
        "json",
        actor=None,
        now=utcnow(),
        settings=webhook_settings(scene.app.config),
    )
    db.session.commit()
    scene.webhook_id = hook.id


def check_new_webhook(scene: Scene, data: dict, changes: Changes) -> None:
    [hook] = changes.only("webhooks", added=1)
    assert hook["url"] == first(data["url"]).strip()
    assert hook["format"] in webhooks.FORMATS
    assert hook["events"] == webhooks.ALL_EVENTS or set(hook["events"].split()) <= set(
        webhooks.EVENT_TYPES
    )
    assert changes.tables() == {"webhooks", "audit_events"}
    assert changes.audit_kinds() == ["webhook.created"]


def check_webhook_saved(scene: Scene, data: dict, changes: Changes) -> None:
    assert changes.tables() <= {"webhooks", "audit_events"}
    if changes:
        [(before, after)] = changes.only("webhooks", changed=1)
        assert differing(before, after) <= {"events", "format", "enabled", "failing_since"}
        assert changes.audit_kinds() == ["webhook.changed"]


def check_test_sent(scene: Scene, data: dict, changes: Changes) -> None:
    [delivery] = changes.only("webhook_deliveries", added=1)
    assert (delivery["event_type"], delivery["attempts"]) == ("webhook.test", 1)
    assert changes.tables() <= {"webhook_deliveries", "webhooks"}


def check_new_secret(scene: Scene, data: dict, changes: Changes) -> None:
    if not changes:  # (303: this form was posted before, its secret shown then)
        return
    [(before, after)] = changes.only("webhooks", changed=1)
    assert differing(before, after) == {"secret_nonce"}
    assert changes.audit_kinds() == ["webhook.changed"]


def check_personal_token(scene: Scene, data: dict, changes: Changes) -> None:
    if not changes:  # (303: this form was posted before, its value shown then)
        return
    [token] = changes.only("personal_tokens", added=1)
    assert token["name"] == validation.token_name(first(data["name"]))
    # Without the field, the day the form opens with: 30 days ahead.
    chosen = first(data.get("expires_on", personal_token_day(30)))
    assert validation.last_day(token["expires_at"]).isoformat() == chosen
    assert changes.tables() == {"personal_tokens", "audit_events"}
    assert changes.audit_kinds() == ["personal_token.created"]


PERSONAL_TOKEN_NAMES = (f"Script {number}" for number in itertools.count(1))


def fresh_personal_token(scene: Scene) -> None:
    token, _ = personal_tokens.issue(
        scene.team.owner, next(PERSONAL_TOKEN_NAMES), utcnow() + timedelta(days=30), now=utcnow()
    )
    db.session.commit()
    scene.token_id = token.id


def check_personal_token_revoked(scene: Scene, data: dict, changes: Changes) -> None:
    [(before, after)] = changes.only("personal_tokens", changed=1)
    assert before["id"] == scene.token_id
    assert differing(before, after) == {"revoked_at"}
    assert changes.audit_kinds() == ["personal_token.revoked"]


def personal_token_day(days: int) -> str:
    """A day as the form's date input sends it: around the form's limits (tomorrow to a
    year), some outside them."""
    return (utcnow() + timedelta(days=days)).date().isoformat()


WEBHOOK_EVENTS = st.lists(st.sampled_from(sorted(webhooks.EVENT_TYPES)), max_size=4)
WEBHOOK_FIELDS = {
    "all_events": st.sampled_from(["y", ""]),
    "events": WEBHOOK_EVENTS,
    "format": st.sampled_from(sorted(webhooks.FORMATS)),
}
FORM_TARGETS = [
    FormTarget(
        NewWebhookForm,
        "owner",
        "webhooks.create_webhook",
        lambda scene: "/projects/shop/settings/webhooks",
        {
            **WEBHOOK_FIELDS,
            "url": st.sampled_from(
                [
                    "http://127.0.0.1:9/hook",
                    "https://93.184.215.14/x",
                    " https://[::1]:8443/a?b=c ",
                    "https://169.254.169.254/",
                    "ftp://example.com/",
                    "https://no-such-host.invalid/",
                    "",
                ]
            ),
        },
        frozenset({201}),
        check_new_webhook,
        prepare=a_webhook,
    ),
    FormTarget(
        WebhookForm,
        "owner",
        "webhooks.save_webhook",
        lambda scene: f"/projects/shop/settings/webhooks/{scene.webhook_id}",
        {**WEBHOOK_FIELDS, "enabled": st.sampled_from(["y", ""])},
        frozenset({302}),
        check_webhook_saved,
        prepare=a_webhook,
    ),
    FormTarget(
        ButtonForm,
        "owner",
        "webhooks.send_test",
        lambda scene: f"/projects/shop/settings/webhooks/{scene.webhook_id}/test",
        {},
        frozenset({302}),
        check_test_sent,
        prepare=a_webhook,
    ),
    FormTarget(
        NewSecretForm,
        "owner",
        "webhooks.new_secret",
        lambda scene: f"/projects/shop/settings/webhooks/{scene.webhook_id}/secret",
        {},
        frozenset({200, 303}),
        check_new_secret,
        prepare=a_webhook,
    ),
    FormTarget(
        SignInForm,
        None,
        "auth.sign_in",
        lambda scene: "/sign-in",
        {"email": SOME_EMAIL, "password": GOOD_PASSWORD},
        frozenset({302}),
        check_sign_in,
        refusal_records=frozenset({"sign_in.failed"}),
    ),
    FormTarget(
        SetupForm,
        None,
        "auth.setup",
        lambda scene: f"/setup/{setup_code()}",
        {
            "name": SOME_NAME,
            "email": SOME_EMAIL,
            "password": GOOD_PASSWORD,
            "confirm_password": same_as("password"),
            "project_name": SOME_NAME,
        },
        frozenset({302}),
        check_setup,
        prepare=prepare_setup,
    ),
    FormTarget(
        NameForm,
        "owner",
        "account.change_name",
        lambda scene: "/account/name",
        {"name": SOME_NAME},
        frozenset({302}),
        check_name,
    ),
    FormTarget(
        ExpiryMailForm,
        "owner",
        "account.change_expiry_mail",
        lambda scene: "/account/expiry-mail",
        {"expiry_mail": st.sampled_from(["y", "on", "true", "false", ""])},
        frozenset({302}),
        check_expiry_mail,
    ),
    FormTarget(
        PersonalTokenForm,
        "owner",
        "account.create_personal_token",
        lambda scene: "/account/tokens",
        {
            "name": SOME_NAME,
            "expires_on": st.one_of(
                st.integers(-2, 368).map(personal_token_day),
                st.sampled_from(["", "2027-02-30", "tomorrow", "9999-12-31"]),
            ),
        },
        frozenset({201, 303}),
        check_personal_token,
    ),
    FormTarget(
        RevokeForm,
        "owner",
        "account.revoke_personal_token",
        lambda scene: f"/account/tokens/{scene.token_id}/revoke",
        {},
        frozenset({302}),
        check_personal_token_revoked,
        prepare=fresh_personal_token,
    ),
    FormTarget(
        PasswordForm,
        "owner",
        "account.change_password",
        lambda scene: "/account/password",
        {
            "current_password": GOOD_PASSWORD,
            "new_password": GOOD_PASSWORD,
            "confirm_password": same_as("new_password"),
        },
        frozenset({302}),
        check_password,
        refusal_records=frozenset({"sign_in.failed"}),  # a wrong current password
        after=restore_password,
    ),
    FormTarget(
        NewUserForm,
        "admin",
        "admin.create_user",
        lambda scene: "/admin/users",
        {
            "name": SOME_NAME,
            "email": SOME_EMAIL,
            "password": GOOD_PASSWORD,
            "admin": st.sampled_from(["y", "on", "true", "false", ""]),
        },
        frozenset({302}),
        check_new_user,
    ),
    FormTarget(
        NewProjectForm,
        "admin",
        "admin.new_project",
        lambda scene: "/admin/projects/new",
        {
            "name": SOME_NAME,
            "slug": st.one_of(
                st.sampled_from(["", " ", "shop", "other", " new-shop "]),
                st.from_regex(validation.SLUG_PATTERN, fullmatch=True),
            ),
            "owner": SOME_EMAIL,
        },
        frozenset({302}),
        check_new_project,
    ),
    FormTarget(
        PolicyForm,
        "owner",
        "settings.save_policy",
        lambda scene: "/projects/shop/settings",
        {
            "max_token_lifetime_days": st.sampled_from(["none", *map(str, TOKEN_LIFETIME_CHOICES)]),
            "revoke_unused_after_days": st.sampled_from(["never", *map(str, UNUSED_TOKEN_CHOICES)]),
        },
        frozenset({302}),
        check_policy,
    ),
    FormTarget(
        RoleForm,
        "owner",
        "members.change_role",
        lambda scene: f"/projects/shop/members/{developer_membership(scene)}/role",
        {"role": ROLES},
        frozenset({302, 200}),
        check_role,
    ),
    FormTarget(
        InviteForm,
        "owner",
        "members.create_invitation",
        lambda scene: "/projects/shop/invitations",
        {"email": SOME_EMAIL, "role": ROLES},
        frozenset({201}),
        check_invitation,
    ),
    FormTarget(
        JoinForm,
        "outsider",
        "invitations.accept",
        lambda scene: f"/invitations/{scene.secret}",
        {},
        frozenset({302}),
        check_join,
        prepare=invite("otto@example.com"),
    ),
    FormTarget(
        SignInToJoinForm,
        None,
        "invitations.accept",
        lambda scene: f"/invitations/{scene.secret}",
        {"password": GOOD_PASSWORD},
        frozenset({302}),
        check_sign_in_to_join,
        refusal_records=frozenset({"sign_in.failed"}),
        prepare=invite("otto@example.com"),
    ),
    FormTarget(
        CreateAccountToJoinForm,
        None,
        "invitations.accept",
        lambda scene: f"/invitations/{scene.secret}",
        {
            "name": SOME_NAME,
            "password": GOOD_PASSWORD,
            "confirm_password": same_as("password"),
        },
        frozenset({302}),
        check_create_account_to_join,
        # The page holds both choices: a post without ``name`` is a sign-in attempt.
        refusal_records=frozenset({"sign_in.failed"}),
        prepare=invite(""),
    ),
    FormTarget(
        ForgotPasswordForm,
        None,
        "recovery.forgot_password",
        lambda scene: "/forgot-password",
        {"email": SOME_EMAIL},
        frozenset({302}),
        check_forgot_password,
    ),
    FormTarget(
        NewPasswordForm,
        None,
        "recovery.reset_password",
        lambda scene: f"/password-reset/{scene.secret}",
        {"password": GOOD_PASSWORD, "confirm_password": same_as("password")},
        frozenset({302}),
        check_new_password,
        prepare=reset_link,
    ),
    FormTarget(
        CreateTokenForm,
        "developer",
        "tokens.create_token",
        lambda scene: "/projects/shop/tokens",
        TOKEN_FIELDS,
        frozenset({201}),
        check_token,
    ),
    FormTarget(
        RotateTokenForm,
        "developer",
        "tokens.rotate_token",
        lambda scene: f"/projects/shop/tokens/{scene.token_id}/rotate",
        {
            "expiration": TOKEN_FIELDS["expiration"],
            "custom_date": TOKEN_FIELDS["custom_date"],
            "grace": st.sampled_from([value for value, _, _ in GRACE_PERIODS]),
        },
        frozenset({201}),
        check_rotation,
        prepare=fresh_token,
    ),
]


def form_fields(form: type[FlaskForm]) -> dict[str, type]:
    """The fields a form reads, in the order it declares them: name -> field class."""
    unbound = [
        (name, value)
        for name in dir(form)
        if not name.startswith("_") and isinstance(value := getattr(form, name), UnboundField)
    ]
    unbound.sort(key=lambda item: item[1].creation_counter)
    return {name: value.field_class for name, value in unbound}


@functools.cache  # made once per field: Hypothesis checks each strategy it is given
def anything(field_class: type, plausible):
    """Anything a field may be sent: plausible, spliced, garbage, several values."""
    if issubclass(field_class, SelectMultipleField):
        return st.one_of(plausible, st.lists(GARBAGE, max_size=3), GARBAGE)
    if issubclass(field_class, BooleanField):
        return st.one_of(plausible, GARBAGE)
    return st.one_of(
        plausible,
        spliced(plausible),
        GARBAGE,
        st.lists(st.one_of(plausible, GARBAGE), min_size=2),
    )


@st.composite
def form_posts(draw, target: FormTarget) -> tuple[dict, str, bool]:
    """A post of ``target``'s form: every field plausible, or all but one, or each field
    anything (plausible, garbage, sent several times, missing); plus fields it does not
    have; urlencoded or multipart, htmx or not."""
    fields = form_fields(target.form)
    mode = draw(st.sampled_from(["plausible", "one off", "anything"]))
    off = draw(st.sampled_from(sorted(fields))) if fields and mode == "one off" else None
    data: dict = {}
    for name, field_class in fields.items():
        plausible = target.plausible.get(name, GARBAGE)
        if callable(plausible):  # a value made of the fields before: not cached
            plausible = plausible(data)
            fuzzed = anything.__wrapped__(field_class, plausible)
        else:
            fuzzed = anything(field_class, plausible)
        if mode == "plausible" or (mode == "one off" and name != off):
            data[name] = draw(plausible)
            continue
        value = draw(fuzzed)
        if draw(st.integers(0, 5)) and value != []:  # now and then, not sent at all
            data[name] = value
    extra = draw(st.dictionaries(st.text(max_size=12), GARBAGE, max_size=2))
    for name, value in extra.items():
        data.setdefault(name, value)
    encoding = draw(st.sampled_from(["application/x-www-form-urlencoded", "multipart/form-data"]))
    return data, encoding, draw(st.booleans())


def every_form() -> set[type[FlaskForm]]:
    """Every FlaskForm the app defines, found by importing all of its modules."""
    for module in pkgutil.walk_packages(flagpal_dash.__path__, "flagpal_dash."):
        importlib.import_module(module.name)
    found, unseen = set(), [FlaskForm]
    while unseen:
        for subclass in unseen.pop().__subclasses__():
            unseen.append(subclass)
            if subclass.__module__.startswith("flagpal_dash."):
                found.add(subclass)
    return found


def test_every_form_is_fuzzed(app):
    """A new form fails this until it has a target below, with the route it posts to."""
    covered = {target.form for target in FORM_TARGETS}
    missing = every_form() - covered
    assert not missing, f"forms nobody fuzzes: {sorted(form.__name__ for form in missing)}"
    adapter = app.url_map.bind("localhost")
    for target in FORM_TARGETS:
        if target.endpoint == "members.change_role":
            path = "/projects/shop/members/1/role"
        else:
            path = target.url(Scene(None, None, None, secret="s", token_id=1))
        endpoint, _ = adapter.match(path, method="POST")
        assert endpoint == target.endpoint, target.form.__name__


@pytest.mark.parametrize("target", FORM_TARGETS, ids=lambda target: target.form.__name__)
def test_form_posts(scene, database_url, target):
    """Posted by someone allowed to: never a 5xx; refused (a 4xx, the errors shown when
    it is 422), nothing changed; accepted, exactly what the form says."""
    client = scene.client(target.who) if target.who else None
    db.session.commit()
    tried = accepted = 0

    @FUZZ
    @given(form_posts(target))
    def post(drawn):
        nonlocal tried, accepted
        tried += 1
        data, encoding, htmx = drawn
        target.prepare(scene)
        url = target.url(scene)
        db.session.commit()
        before = snapshot()
        headers = dict(HTMX) if htmx else {}
        poster = client or scene.app.test_client()
        if encoding == "multipart/form-data":
            # Encoded here, in memory: the test client would spool a large body to a
            # temporary file it never closes.
            boundary, body = encode_multipart(data)
            body_and_type = {"data": body, "content_type": f"{encoding}; boundary={boundary}"}
        else:
            body_and_type = {"data": data, "content_type": encoding}
        response = scene.send(poster.post, url, headers=headers, **body_and_type)
        changes = Changes.between(before, snapshot())
        note(f"{response.status_code} {changes}")
        if response.status_code in target.accepted:
            accepted += 1
            target.check(scene, data, changes)
            target.after(scene)
            return
        assert 400 <= response.status_code < 500, response.status_code
        if response.status_code == 422:
            assert shows_errors(response), response.text
        # Refused: nothing changed, save the record of a failed password check.
        assert changes.tables() <= {"audit_events"}
        assert set(changes.audit_kinds()) <= target.refusal_records
        assert len(changes.audit_kinds()) <= 1

    try:
        post()
    finally:
        recorded(scene, database_url, tried)
    # Else the checks of what an accepted post changes never ran, nor the rules past
    # the first field's.
    assert accepted, "the fuzzer never got a post through: make the plausible values so"


# The Authorization header -----------------------------------------------------------------

ALPHABET = token_format.ALPHABET
TOKEN_BODY = st.text(ALPHABET, min_size=40, max_size=40)
WELL_FORMED = TOKEN_BODY.map(lambda body: token_format.PREFIX + body + token_format.checksum(body))


@st.composite
def near(draw, value: str) -> str:
    """A real token, slightly wrong: a checksum or body character changed, one dropped
    or added, a letter's case or width changed, whitespace around it."""
    index = draw(st.integers(0, len(value) - 1))
    other = draw(st.sampled_from(ALPHABET + "_-~é０"))
    how = draw(st.sampled_from(["replace", "drop", "insert", "case", "wide", "pad", "prefix"]))
    if how == "replace":
        return value[:index] + other + value[index + 1 :]
    if how == "drop":
        return value[:index] + value[index + 1 :]
    if how == "insert":
        return value[:index] + other + value[index:]
    if how == "case":
        return value[:index] + value[index].swapcase() + value[index + 1 :]
    if how == "wide":  # a full-width look-alike
        char = value[index]
        wide = chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char
        return value[:index] + wide + value[index + 1 :]
    if how == "pad":
        return (
            draw(st.sampled_from([" ", "\t", "\x00", ""]))
            + value
            + draw(st.sampled_from([" ", "\t", "\x00", ",", ""]))
        )
    return draw(st.sampled_from(["FLAGPAL_", "flagpal-", "", "flagpal_flagpal_"])) + value[8:]


def as_a_server_reads_it(text: str) -> str:
    """A header as a WSGI server hands it over: the bytes sent (UTF-8 here), read as
    Latin-1. CR and LF cannot be sent inside a header."""
    return text.encode("utf-8").decode("latin-1").replace("\r", "").replace("\n", "")


def authorization_headers(tokens: list[str]):
    candidates = st.one_of(
        st.sampled_from(tokens),
        st.sampled_from(tokens).flatmap(near),
        WELL_FORMED,
        st.text(ALPHABET + "_", max_size=60).map(lambda rest: token_format.PREFIX + rest),
        SHORT_GARBAGE,
    )
    schemes = st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", "Token", "", "Bearer:"])
    built = st.builds(
        lambda scheme, space, token, tail: scheme + space + token + tail,
        schemes,
        st.sampled_from([" ", "  ", "\t", "", " \u00a0"]),
        candidates,
        st.sampled_from(["", "", " ", ",", ", Bearer x", " extra"]),
    )
    return st.one_of(
        st.none(),
        built,
        SHORT_GARBAGE,
        st.binary(max_size=80).map(lambda raw: raw.decode("latin-1")),
    )


def test_authorization_headers(scene, database_url):
    """Whatever the header: a 401 JSON:API document with the code that says why, unless
    it is exactly ``Bearer`` and a good token; nothing written but a good token's use."""
    project = scene.team.project
    _, active_value = issue_token(project, "Active", abilities=frozenset({"*"}))
    _, reader_value = issue_token(project, "Reader")
    _, revoked_value = issue_token(project, "Revoked", revoked_at=utcnow())
    _, expired_value = issue_token(project, "Expired", expires_at=utcnow() - timedelta(days=1))
    good = {active_value, reader_value}
    refusals = {
        "Bearer " + revoked_value: "token_revoked",
        "Bearer " + expired_value: "token_expired",
    }
    codes = {"token_missing", "token_malformed", "token_invalid", "token_expired", "token_revoked"}
    client = scene.app.test_client()
    tried = 0

    @FUZZ
    @given(
        authorization_headers([active_value, reader_value, revoked_value, expired_value]),
        st.sampled_from(["/api/v1/token", "/api/v1/auth"]),
    )
    def present(header, url):
        nonlocal tried
        tried += 1
        if header is not None:
            header = as_a_server_reads_it(header)
        headers = {"X-Original-Method": "GET", "X-Original-URI": "/api/features"}
        if header is not None:
            headers["Authorization"] = header
        before = snapshot()
        response = scene.send(client.get, url, headers=headers)
        changes = Changes.between(before, snapshot())
        presented = header[len("Bearer ") :] if header and header.startswith("Bearer ") else None
        if header is not None and header.startswith("Bearer ") and presented in good:
            assert response.status_code == (200 if url == "/api/v1/token" else 204)
            if url == "/api/v1/token":
                assert response.get_json(force=True)["data"]["type"] == "api-tokens"
        else:
            assert response.status_code == 401, response.text
            code = error_code(response)
            assert code in codes
            assert code == refusals.get(header, code)
            assert response.headers["WWW-Authenticate"].startswith('Bearer realm="flagpal"')
        # Only a good token's last use is written.
        assert changes.tables() <= {"api_tokens"}
        for before_row, after_row in changes.changed.get("api_tokens", []):
            assert differing(before_row, after_row) == {"last_used_at"}
            assert presented in good

    try:
        present()
    finally:
        recorded(scene, database_url, tried)


def test_management_authorization_headers(scene, database_url):
    """The management API's door, whatever the header: a 401 JSON:API document with the
    code that says why, unless it is exactly ``Bearer`` and a good personal token (a
    project token included: ``personal_token_required``); nothing written but a good
    token's use."""
    team = scene.team

    def personal(user, name: str, **fields) -> str:
        token, value = personal_tokens.issue(
            user, name, utcnow() + timedelta(days=30), now=utcnow()
        )
        for field_name, field_value in fields.items():
            setattr(token, field_name, field_value)
        db.session.commit()
        return value

    good_value = personal(team.owner, "Good")
    revoked_value = personal(team.owner, "Revoked", revoked_at=utcnow())
    expired_value = personal(team.owner, "Expired", expires_at=utcnow() - timedelta(days=1))
    _, project_value = issue_token(team.project, "A project's")
    refusals = {
        "Bearer " + revoked_value: "token_revoked",
        "Bearer " + expired_value: "token_expired",
        "Bearer " + project_value: "personal_token_required",
    }
    codes = {
        "token_missing",
        "token_malformed",
        "token_invalid",
        "token_expired",
        "token_revoked",
        "personal_token_required",
    }
    client = scene.app.test_client()
    tried = 0

    @FUZZ
    @given(
        authorization_headers([good_value, revoked_value, expired_value, project_value]),
        st.sampled_from(["/api/v1/projects", "/api/v1/projects/shop/members"]),
    )
    def present(header, url):
        nonlocal tried
        tried += 1
        if header is not None:
            header = as_a_server_reads_it(header)
        headers = {} if header is None else {"Authorization": header}
        before = snapshot()
        response = scene.send(client.get, url, headers=headers)
        changes = Changes.between(before, snapshot())
        if header == "Bearer " + good_value:
            assert response.status_code == 200, response.text
        else:
            assert response.status_code == 401, response.text
            code = error_code(response)
            assert code in codes
            assert code == refusals.get(header, code)
            assert response.headers["WWW-Authenticate"].startswith('Bearer realm="flagpal"')
        assert changes.tables() <= {"personal_tokens"}
        for before_row, after_row in changes.changed.get("personal_tokens", []):
            assert differing(before_row, after_row) == {"last_used_at"}
            assert header == "Bearer " + good_value

    try:
        present()
    finally:
        recorded(scene, database_url, tried)


# Query strings ---------------------------------------------------------------------------

QUERY_PIECES = (
    "& = % %ff %00 %zz %C0%AF + 1 2 0 -1 ² ٣ 100001 99999999999999999999 active expired "
    "revoked expiring all token sign_in ACTIVE read write metrics * flagpal_"
).split()


def query_strings(keys: list[str], plausible: list[str]):
    """Query strings: well-formed ones of ``keys`` (each maybe repeated) with plausible
    or garbage values, and raw ones pieced together from what breaks parsers."""
    pairs = st.lists(
        st.tuples(
            st.one_of(st.sampled_from(keys), st.text(max_size=8)),
            st.one_of(
                st.sampled_from(plausible), spliced(st.sampled_from(plausible)), SHORT_GARBAGE
            ),
        ),
        max_size=4,
    ).map(urlencode)
    raw = st.lists(
        st.one_of(st.sampled_from(keys + QUERY_PIECES), st.text(max_size=6)), max_size=8
    ).map("".join)
    # No CR, LF or space: a request line cannot carry them. (The test client sends the
    # rest as a server would hand it over: UTF-8 bytes read as Latin-1.)
    return st.one_of(pairs, raw).map(lambda query: re.sub(r"[\r\n ]", "", query))


def arguments(query: str) -> MultiDict:
    """The query as the app reads it (``request.args``)."""
    return Request(EnvironBuilder(query_string=query).get_environ()).args


def a_page_number(args) -> bool:
    page = args.get("page", "1")
    return page.isascii() and page.isdigit() and 1 <= int(page) <= MAX_PAGE


def fuzz_queries(scene, database_url, client, url, strategy, expect, headers=None) -> None:
    """GET ``url`` with fuzzed query strings: never a 5xx, the status ``expect(args)``
    names (a set of allowed ones), and nothing changed but a token's last use."""
    tried = 0

    @FUZZ
    @given(strategy)
    def get(query):
        nonlocal tried
        tried += 1
        before = snapshot()
        response = scene.send(client.get, url, query_string=query, headers=headers)
        assert response.status_code in expect(arguments(query)), response.status_code
        changes = Changes.between(before, snapshot())
        assert changes.tables() <= {"api_tokens"}
        for old, new in changes.changed.get("api_tokens", []):
            assert differing(old, new) == {"last_used_at"} and response.status_code == 204

    try:
        get()
    finally:
        recorded(scene, database_url, tried)


def test_token_list_query_strings(scene, database_url):
    for number in range(30):  # two pages
        issue_token(scene.team.project, f"Token {number}")

    def expect(args) -> set[int]:
        status = args.get("status") or "all"
        if status not in STATUSES or not a_page_number(args):
            return {404}
        return {200} if args.get("page", "1") == "1" else {200, 404}

    strategy = query_strings(["page", "name", "status"], [*STATUSES, "1", "2", "3", "Token 1"])
    fuzz_queries(
        scene, database_url, scene.client("developer"), "/projects/shop/tokens", strategy, expect
    )


@pytest.mark.parametrize(
    ("who", "url", "kinds"),
    [("owner", "/projects/shop/audit", PROJECT_GROUPS), ("admin", "/admin/audit", tuple(GROUPS))],
    ids=["project", "instance"],
)
def test_audit_log_query_strings(scene, database_url, who, url, kinds):
    def expect(args) -> set[int]:
        kind = args.get("kind") or None
        return {200} if (kind is None or kind in kinds) and a_page_number(args) else {404}

    strategy = query_strings(["page", "kind"], [*GROUPS, "1", "2"])
    fuzz_queries(scene, database_url, scene.client(who), url, strategy, expect)


def test_forward_auth_ability_query_strings(scene, database_url):
    """The auth URL's query is never read for the ability (Caddy passes the client's on):
    one naming `ability` is refused, whatever its value."""
    _, value = issue_token(scene.team.project, "Reader")
    headers = {
        "Authorization": f"Bearer {value}",
        "X-Forwarded-Method": "GET",
        "X-Forwarded-Uri": "/api/features",
    }

    def expect(args) -> set[int]:
        if any(
            name.lower() in TOKEN_QUERY_NAMES or token_format.PREFIX in item
            for name, item in args.items(multi=True)
        ):
            return {401}  # a token in a URL is refused outright
        return {400} if "ability" in args else {204}

    strategy = query_strings(
        ["ability", "token", "access_token", "API_KEY"],
        [*abilities.ALL, "", "Read", "flagpal_x"],
    )
    client = scene.app.test_client()
    fuzz_queries(scene, database_url, client, "/api/v1/auth", strategy, expect, headers)


def host_a_browser_goes_to(location: str) -> str:
    """Where a browser goes on ``Location: location`` from http://localhost/sign-in, as
    the URL standard reads it: tabs and newlines dropped anywhere, leading and trailing
    controls and spaces stripped, backslashes read as slashes, and any run of two or more
    slashes starting the authority."""
    cleaned = re.sub(r"[\t\n\r]", "", location).strip("".join(map(chr, range(0x21))))
    cleaned = cleaned.replace("\\", "/")
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", cleaned):
        scheme, _, rest = cleaned.partition(":")
        if scheme.lower() not in ("http", "https"):
            return scheme.lower() + ":"
        cleaned = "//" + rest.lstrip("/") if rest.startswith("/") else rest
    if cleaned.startswith("//"):
        authority = re.split(r"[/?#]", cleaned.lstrip("/"), maxsplit=1)[0]
        return authority.rpartition("@")[2].lower()
    return urlsplit(urljoin("http://localhost/sign-in", cleaned)).netloc


# What open redirects are made of: slashes, what browsers drop or read as slashes, hosts.
SLASHES = ["/", "//", "\\", "%2f", "%5c"]
INVISIBLE = ["\t", "\n", "\r", " ", "\x00", "\x0b", "\x0c", "%09", "%0a"]
HOSTS = "evil.example @evil.example : http: https: javascript:x projects ? # . ..".split()
SLASH_RUN = st.integers(1, 4).map("/".__mul__)
NEXT_TARGETS = st.one_of(
    # Pieces of all three, after a slash or not.
    st.builds(
        str.__add__,
        st.sampled_from(["/", "", "\\"]),
        st.lists(st.sampled_from(SLASHES + INVISIBLE + HOSTS), min_size=1, max_size=5).map("".join),
    ),
    # A slash, what URL parsers drop (tab, CR, LF: browsers and Python's alike), slashes,
    # a host: a path to us, and a host to the browser?
    st.builds(
        lambda *parts: "".join(parts),
        st.just("/"),
        st.lists(st.sampled_from(["\t", "\n", "\r"]), min_size=1, max_size=2).map("".join),
        SLASH_RUN,
        st.sampled_from(HOSTS),
    ),
    SHORT_GARBAGE,
    st.just("/projects/shop"),
)


def test_sign_in_next(scene, database_url):
    """Wherever ``?next=`` points, signing in stays on this site."""
    owner = scene.team.owner.email
    tried = 0

    @FUZZ
    @given(NEXT_TARGETS)
    def sign_in(target):
        nonlocal tried
        tried += 1
        client = scene.app.test_client()
        page = scene.send(client.get, "/sign-in", query_string={"next": target})
        assert page.status_code == 200
        response = scene.send(
            client.post,
            "/sign-in",
            query_string={"next": target},
            data={"email": owner, "password": PASSWORD},
        )
        assert response.status_code == 302
        assert host_a_browser_goes_to(response.headers["Location"]) == "localhost", (
            response.headers["Location"]
        )

    try:
        sign_in()
    finally:
        recorded(scene, database_url, tried)


# Leaked-token reports --------------------------------------------------------------------


def json_containers(children):
    return st.lists(children, max_size=4) | st.dictionaries(
        st.text(max_size=8), children, max_size=4
    )


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    json_containers,
    max_leaves=12,
)


def report_bodies(tokens: list[str]):
    """Report bodies: reports in GitHub's format or as plain lists, with real, revoked,
    unknown and malformed tokens; any JSON at all; bytes that are not UTF-8; too long."""
    tokenish = st.one_of(
        st.sampled_from(tokens),
        st.sampled_from(tokens).flatmap(near),
        WELL_FORMED,
        GARBAGE,
    )
    texts = st.one_of(
        st.none(),
        st.sampled_from(["https://github.com/o/r/blob/1/a.py", "content", "flagpal_api_token"]),
        GARBAGE,
        JSON_VALUES,
        tokenish.map(lambda value: "https://example.com/?t=" + value),
    )
    entry = st.one_of(
        tokenish,
        st.fixed_dictionaries(
            {"token": tokenish}, optional={"url": texts, "source": texts, "type": texts}
        ),
        st.dictionaries(st.sampled_from(["token", "url", "x"]), JSON_VALUES, max_size=3),
        JSON_VALUES,
    )
    reports = st.lists(entry, max_size=6)

    def dumps(value, ascii_only: bool) -> bytes:
        return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")

    return st.one_of(
        st.builds(dumps, reports, st.booleans()),
        st.builds(dumps, JSON_VALUES, st.booleans()),
        st.builds(dumps, reports, st.booleans()).flatmap(
            lambda body: st.integers(0, len(body)).map(lambda cut: body[:cut])
        ),
        st.binary(max_size=200),
        st.sampled_from(
            [
                b"\xff\xfe[]",
                b'["\xc0\xaf"]',
                b'["\xed\xa0\x80"]',  # a surrogate, in UTF-8
                b'["\\ud800"]',
                b"[NaN]",
                b"[1e999]",
                b"[" + b"9" * 400 + b"]",
                b"[" * 10_000 + b"]" * 10_000,
                b"[" + b'"x",' * 1000 + b'"x"]',  # one entry too many
                b'["' + b"x" * 2049 + b'"]',
                b'[{"token": "' + b"x" * 2049 + b'"}]',
                b"[" + b" " * (leak_reports.MAX_BYTES + 1) + b"]",
            ]
        ),
    )


CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/vnd.api+json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/json; charset=latin-1",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "",
            None,
        ]
    ),
    st.text(max_size=20).map(as_a_server_reads_it),
)


def is_report(content_type: str | None, body: bytes) -> bool:
    """Whether a body is a report the endpoint takes (see leak_reports.read_reports)."""
    if parse_options_header(content_type or "")[0].lower() not in leak_reports.JSON_MEDIA_TYPES:
        return False
    if len(body) > leak_reports.MAX_BYTES:
        return False
    try:
        entries = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(entries, list) or len(entries) > leak_reports.MAX_ENTRIES:
        return False

    def short_text(value, optional=False) -> bool:
        if value is None:
            return optional
        return isinstance(value, str) and len(value) <= leak_reports.MAX_VALUE_LENGTH

    for entry in entries:
        if isinstance(entry, dict):
            if not short_text(entry.get("token")) or not all(
                short_text(entry.get(name), optional=True) for name in ("url", "source", "type")
            ):
                return False
        elif not short_text(entry):
            return False
    return True


def reported_values(body: bytes) -> set[str]:
    entries = orjson.loads(body)
    return {entry["token"] if isinstance(entry, dict) else entry for entry in entries}


def test_leak_report_bodies(scene, database_url):
    project = scene.team.project
    _, reported = issue_token(project, "Reported")
    _, revoked = issue_token(project, "Revoked", revoked_at=utcnow())
    _, expired = issue_token(project, "Expired", expires_at=utcnow() - timedelta(days=1))
    current = {"value": reported}  # the active token a report may name, issued anew
    client = scene.app.test_client()
    tried = 0

    @FUZZ
    @given(report_bodies([reported, revoked, expired]), CONTENT_TYPES)
    def send(body, content_type):
        nonlocal tried
        tried += 1
        body = body.replace(reported.encode(), current["value"].encode())
        before = snapshot()
        response = scene.send(
            client.post,
            "/api/v1/tokens/revoke",
            data=body,
            headers={} if content_type is None else {"Content-Type": content_type},
        )
        changes = Changes.between(before, snapshot())
        if not is_report(content_type, body):
            assert 400 <= response.status_code < 500, response.status_code
            assert error_code(response)
            assert not changes
            return
        assert response.status_code == 202, response.text
        assert response.data == leak_reports.ACCEPTED
        if current["value"] not in reported_values(body):
            assert not changes
            return
        [(old, new)] = changes.only("api_tokens", changed=1)
        assert differing(old, new) == {"revoked_at", "revoked_reason"}
        assert changes.audit_kinds() == ["token.revoked_as_leaked"]
        _, current["value"] = issue_token(project, "Reported")

    try:
        send()
    finally:
        recorded(scene, database_url, tried)


# URL path parameters ---------------------------------------------------------------------

PARAMETER = re.compile(r"<(?:[^<>]*:)?(\w+)>")


def path_cases(app) -> list[tuple[str, str, str]]:
    """(rule, method, parameter) for each parameter of every route that takes one, from
    the URL map: a new route is fuzzed without anyone adding it here."""
    return sorted(
        (rule.rule, method, name)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
        for name in rule.arguments
    )


def a_possible_id(value: str) -> bool:
    """Whether Werkzeug's ``int`` converter could read ``value`` as the id of something
    that exists (any digits, Unicode ones too, below a billion): those are not garbage."""
    return re.fullmatch(r"\d+", value) is not None and int(value) < 10**9


def test_url_path_parameters(scene, database_url):
    """Each parameter of every route's path, in turn, replaced by garbage while the others
    name real things (Shop, one of its tokens, memberships and invitations, a user),
    sent by the person entitled to the route: a 404, never a 5xx, nothing changed."""
    project = scene.team.project
    token, _ = issue_token(project, "Real")
    invitation, secret = create_invitation(
        project, "invitee@example.com", Role.VIEWER, by=None, now=utcnow(), by_mail=False
    )
    db.session.commit()
    a_webhook(scene)
    real = {
        "slug": project.slug,
        "token_id": str(token.id),
        "membership_id": str(membership_of(scene.team.developer, project).id),
        "invitation_id": str(invitation.id),
        "webhook_id": str(scene.webhook_id),
        "user_id": str(scene.team.developer.id),
        "action": "deactivate",
        "secret": secret,
        "code": setup_code(),
        "filename": "app.css",
        "session_id": "1",  # its route's only parameter: always the one fuzzed
        "fixed": "read",  # /api/v1/auth/<ability>
    }
    cases = path_cases(scene.app)
    assert {name for _, _, name in cases} <= real.keys(), "a parameter without a real value"
    clients = {"admin": scene.client("admin"), "owner": scene.client("owner")}
    # The management API takes the owner's personal token, not the session. Its last use
    # is set ahead, so the door records none and every snapshot holds.
    personal, personal_value = personal_tokens.issue(
        scene.team.owner, "Fuzzing", utcnow() + timedelta(days=1), now=utcnow()
    )
    personal.last_used_at = utcnow() + timedelta(days=1)
    db.session.commit()
    bearer = {"Authorization": f"Bearer {personal_value}"}
    garbage = st.one_of(
        SHORT_GARBAGE,
        st.sampled_from(QUERY_PIECES),
        spliced(st.sampled_from(sorted(real.values()))),
        st.integers(min_value=10**9).map(str),  # past every id, and past 64 bits
    ).filter(lambda value: value.strip(".") and "/" not in value and not a_possible_id(value))
    tried = 0

    @settings(FUZZ, max_examples=EXAMPLES * 4)
    @given(st.sampled_from(cases), garbage)
    def request(case, value):
        nonlocal tried
        rule, method, fuzzed = case
        if value == real[fuzzed] or (fuzzed == "action" and value == "reactivate"):
            return  # not garbage
        tried += 1
        path = PARAMETER.sub(
            lambda match: quote(value if match[1] == fuzzed else real[match[1]], safe=""), rule
        )
        note(f"{method} {path}")
        client = clients["admin" if rule.startswith("/admin") else "owner"]
        headers = bearer if rule.startswith("/api/v1/projects") else {}
        before = snapshot()
        response = scene.send(getattr(client, method.lower()), path, headers=headers)
        assert response.status_code == 404, (method, path, response.status_code)
        assert snapshot() == before

    try:
        request()
    finally:
        recorded(scene, database_url, tried)
