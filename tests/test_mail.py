"""Mail a self-hoster can rely on: STARTTLS and implicit TLS with the server's certificate
checked, logins, failures said in plain words with what to check (``mail test``, the
admin's Mail page) and kept for the admins, never with the body or the password.

Every message goes to a real SMTP server on localhost (tests/mail_server.py, aiosmtpd),
with TLS from a private CA made for the test run.
"""

import hashlib
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import insert, select

from flagpal_dash import mail
from flagpal_dash.core import jobs, mail_failures, outbox
from flagpal_dash.extensions import db
from flagpal_dash.models import Invitation, MailFailure, User, utcnow

from .mail_server import MailServer
from .support import PASSWORD, add_user, page, text_of

SMTP_USER, SMTP_PASSWORD = "flagpal", "s3cret smtp pass"
USERS = {SMTP_USER: SMTP_PASSWORD}


@pytest.fixture
def tls_server(mail_certificates):
    """Implicit TLS (as on port 465), with a login."""
    with MailServer(security="tls", certificates=mail_certificates, users=USERS) as server:
        yield server


@pytest.fixture
def starttls_server(mail_certificates):
    """STARTTLS (as on port 587): no login before TLS, and none without one."""
    with MailServer(security="starttls", certificates=mail_certificates, users=USERS) as server:
        yield server


def failures() -> list[tuple[str, str, str]]:
    db.session.expire_all()
    rows = db.session.scalars(select(MailFailure).order_by(MailFailure.id))
    return [(row.recipient, row.subject, row.error) for row in rows]


def flashes(response) -> list[tuple[str, str]]:
    return [
        (next(c for c in p["class"] if c.startswith("flash-")), text_of(p))
        for p in page(response).select("#flash .flash")
    ]


# Sending: TLS both ways, logins, the certificate checked ------------------------------


@pytest.mark.parametrize("server", ["tls_server", "starttls_server"])
def test_mail_goes_over_tls_with_a_login(request, app, server):
    server = request.getfixturevalue(server)
    app.config.update(server.settings())

    assert mail.send("ada@example.com", "Hello", "Over TLS.\n") is True

    [message] = server.messages
    assert server.recipients == [["ada@example.com"]]
    assert (message["From"], message["Subject"]) == ("flags@example.com", "Hello")
    assert message.get_content().splitlines() == ["Over TLS."]
    assert server.logins == [("PLAIN", SMTP_USER)]
    assert failures() == []


def test_the_older_starttls_switch_still_means_starttls(app, starttls_server):
    """Settings written before FLAGPAL_MAIL_SECURITY: MAIL_STARTTLS on, no MAIL_SECURITY."""
    settings = starttls_server.settings()
    del settings["MAIL_SECURITY"]
    app.config.update(settings)
    assert mail.send("ada@example.com", "Hello", "Body\n") is True
    assert len(starttls_server.messages) == 1


@pytest.mark.parametrize("server", ["tls_server", "starttls_server"])
def test_a_certificate_no_trusted_ca_signed_is_refused(request, app, server, caplog):
    """Without FLAGPAL_MAIL_CA_FILE only the system's CAs are trusted: the test CA is
    not one, so nothing is sent (smtplib alone would have sent it)."""
    server = request.getfixturevalue(server)
    app.config.update(server.settings(MAIL_CA_FILE=None))

    assert mail.send("ada@example.com", "Hello", "Secret link inside\n") is False

    assert server.messages == [] and server.logins == []
    [(to, subject, error)] = failures()
    assert (to, subject) == ("ada@example.com", "Hello")
    assert error.startswith("the certificate of 127.0.0.1 port ")
    assert "was not accepted (unable to get local issuer certificate)" in error
    assert "Could not send mail to ada@example.com" in caplog.text
    assert SMTP_PASSWORD not in caplog.text


def test_a_certificate_for_another_name_is_refused(app, tls_server):
    """The certificate is for 127.0.0.1 and localhost; reached by another name for the
    same machine, it does not match."""
    app.config.update(tls_server.settings(MAIL_SERVER="127.0.0.2"))
    try:
        sent = mail.send("ada@example.com", "Hello", "Body\n")
    except OSError:  # pragma: no cover - a system without 127.0.0.2 on loopback
        pytest.skip("127.0.0.2 does not reach this machine")
    assert sent is False
    [(_, _, error)] = failures()
    assert "IP address mismatch" in error or "could not connect" in error


# Failures, in plain words, and kept -------------------------------------------------------


def send_and_explain(settings: dict, to: str = "ada@example.com") -> mail.NotSent:
    with pytest.raises(mail.NotSent) as raised:
        mail.deliver(mail.MailSettings.from_config(settings), to, "Hello", "Body\n")
    return raised.value


def test_a_wrong_password_says_to_check_the_username_and_password(tls_server):
    failure = send_and_explain(tls_server.settings(MAIL_PASSWORD="not it"))
    assert failure.reason == (
        f"127.0.0.1 port {tls_server.port} refused the username or password "
        "(535 5.7.8 Authentication credentials invalid)"
    )
    assert failure.check.startswith("Check FLAGPAL_MAIL_USERNAME and FLAGPAL_MAIL_PASSWORD")
    assert "not it" not in failure.reason + failure.check
    assert tls_server.messages == []


def test_a_refused_recipient_says_to_check_the_address(mail_certificates):
    refused = {"gone@example.com": "550 5.1.1 No such user here"}
    with MailServer(
        security="starttls", certificates=mail_certificates, users=USERS, refuse=refused
    ) as server:
        failure = send_and_explain(server.settings(), to="gone@example.com")
    assert failure.reason == (
        f"127.0.0.1 port {server.port} refused the recipient gone@example.com "
        "(550 5.1.1 No such user here)"
    )
    assert failure.check == "Check the address."


def test_a_server_that_is_down_says_to_check_server_port_and_firewall(tls_server):
    tls_server.stop()
    failure = send_and_explain(tls_server.settings())
    assert failure.reason == f"could not connect to 127.0.0.1 port {tls_server.port} " + (
        "(connection refused)"
    )
    assert "FLAGPAL_MAIL_SERVER and FLAGPAL_MAIL_PORT" in failure.check
    assert "firewall" in failure.check


def test_tls_against_a_plain_server_says_to_check_the_security_setting(
    mail_server, mail_certificates
):
    settings = mail_server.settings(
        MAIL_SECURITY="tls", MAIL_CA_FILE=str(mail_certificates.ca_file)
    )
    failure = send_and_explain(settings)
    assert failure.reason.startswith(f"the TLS handshake with 127.0.0.1 port {mail_server.port}")
    assert "FLAGPAL_MAIL_SECURITY must match the port" in failure.check


def test_starttls_on_the_implicit_tls_port_says_to_check_the_security_setting(
    tls_server, monkeypatch
):
    """Each side waits for the other to speak first (a greeting, a TLS hello) until one
    gives up: the mistake a copied "port 465" makes."""
    monkeypatch.setattr(mail, "TIMEOUT", 1)
    failure = send_and_explain(tls_server.settings(MAIL_SECURITY="starttls"))
    assert failure.reason == f"127.0.0.1 port {tls_server.port} did not answer within 1 seconds"
    assert "FLAGPAL_MAIL_SECURITY must match the port: tls for implicit TLS" in failure.check


def test_starttls_against_a_server_without_it_says_to_check_the_security_setting(mail_server):
    failure = send_and_explain(mail_server.settings(MAIL_SECURITY="starttls"))
    assert failure.reason == f"127.0.0.1 port {mail_server.port} does not offer STARTTLS"
    assert "FLAGPAL_MAIL_SECURITY" in failure.check


def test_a_login_before_tls_is_not_offered(starttls_server):
    """A server that offers logins only over TLS, sent to without it."""
    failure = send_and_explain(starttls_server.settings(MAIL_SECURITY="none"))
    assert "FLAGPAL_MAIL_SECURITY" in failure.check
    assert starttls_server.messages == []


def test_a_failed_invitation_mail_keeps_the_invitation_and_is_kept_without_its_link(
    app, client, team, sign_in, mail_server
):
    """The failure is written beside the request's own transaction: the invitation is
    saved and shown, the failure is kept, and the secret link is in neither the row
    nor the log."""
    app.config.update(mail_server.settings())
    mail_server.stop()
    sign_in(team.owner)

    response = client.post(
        "/projects/shop/invitations", data={"email": "newbie@example.com", "role": "viewer"}
    )

    assert response.status_code == 201, response.text
    link = page(response).find(id="invitation-link")["value"]
    secret = urlsplit(link).path.removeprefix("/invitations/")
    db.session.expire_all()
    [invitation] = db.session.scalars(select(Invitation))
    assert invitation.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert not invitation.delivered_by_mail
    [(to, subject, error)] = failures()
    assert (to, subject) == ("newbie@example.com", "You are invited to Shop on FlagPal Dash")
    assert error.startswith("could not connect to 127.0.0.1 port ")
    assert secret not in to + subject + error


def test_recording_a_failure_neither_commits_nor_loses_the_callers_changes(app, mail_server):
    """A failure is kept on a connection of its own: the caller's pending change is not
    committed with it, and rolling that change back keeps the failure."""
    app.config.update(mail_server.settings())
    mail_server.stop()
    add_user("pending@example.com", "Pending Person")

    assert mail.send("ada@example.com", "Hello", "Body\n") is False
    db.session.rollback()

    assert db.session.scalars(select(User.email)).all() == []
    assert [to for to, _, _ in failures()] == ["ada@example.com"]


def test_a_failure_that_cannot_be_recorded_never_breaks_the_sender(app, mail_server, caplog):
    app.config.update(mail_server.settings())
    mail_server.stop()
    with db.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE mail_failures")
    try:
        assert mail.send("ada@example.com", "Hello", "Body\n") is False
    finally:
        MailFailure.__table__.create(db.engine)
    assert "Could not record the mail failure to ada@example.com" in caplog.text


def test_long_subjects_and_errors_are_cut_to_fit(app):
    assert mail_failures.record("a@example.com", "S" * 500, "why " * 400, utcnow())
    [(_, subject, error)] = failures()
    assert len(subject) == 200 and subject.endswith("…")
    assert len(error) == 500 and error.endswith("…")


def test_failures_older_than_30_days_go_with_the_usage_cleanup(app):
    now = utcnow()
    ages = [timedelta(days=31), timedelta(days=30, minutes=1), timedelta(days=29), timedelta(0)]
    db.session.execute(
        insert(MailFailure),
        [
            {"failed_at": now - age, "recipient": f"{n}@example.com", "subject": "S", "error": "E"}
            for n, age in enumerate(ages)
        ],
    )
    db.session.commit()

    outcome = jobs.run("usage-cleanup", now, jobs.JobSettings(), runner="test")

    assert outcome.summary == (
        "removed 0 hourly usage rows and 0 daily usage rows; 2 mail failures older than 30 days"
    )
    assert [to for to, _, _ in failures()] == ["2@example.com", "3@example.com"]


# mail test ADDRESS -----------------------------------------------------------------------


@pytest.mark.parametrize("server", ["tls_server", "starttls_server"])
def test_mail_test_sends_now_and_says_where_it_went(request, app, runner, server):
    server = request.getfixturevalue(server)
    app.config.update(server.settings())
    words = "implicit TLS" if server.security == "tls" else "STARTTLS"

    result = runner.invoke(args=["mail", "test", "ada@example.com"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"Sent a test mail to ada@example.com through 127.0.0.1 port {server.port}, {words}.",
        "It should arrive within a minute; look in the spam folder too.",
    ]
    [message] = server.messages
    assert message["Subject"] == "FlagPal Dash test mail"
    assert server.recipients == [["ada@example.com"]]
    assert SMTP_PASSWORD not in result.output


def test_mail_test_with_a_wrong_password_says_what_to_check(app, runner, starttls_server):
    app.config.update(starttls_server.settings(MAIL_PASSWORD="wrong horse"))

    result = runner.invoke(args=["mail", "test", "ada@example.com"])

    assert result.exit_code == 1
    port = starttls_server.port
    assert result.output.splitlines() == [
        f"Error: The test mail to ada@example.com was not sent through 127.0.0.1 port {port}, "
        f"STARTTLS: 127.0.0.1 port {port} refused the username or password "
        "(535 5.7.8 Authentication credentials invalid).",
        "Check FLAGPAL_MAIL_USERNAME and FLAGPAL_MAIL_PASSWORD (many providers want an app "
        "password or an SMTP key, not the account's password).",
    ]
    assert "wrong horse" not in result.output
    assert [to for to, _, _ in failures()] == ["ada@example.com"], "kept like any failure"


def test_mail_test_with_the_server_down_says_what_to_check(app, runner, tls_server):
    app.config.update(tls_server.settings())
    tls_server.stop()

    result = runner.invoke(args=["mail", "test", "ada@example.com"])

    assert result.exit_code == 1
    first, check = result.output.splitlines()
    assert first.endswith(
        f"implicit TLS: could not connect to 127.0.0.1 port {tls_server.port} (connection refused)."
    )
    assert check == (
        "Check FLAGPAL_MAIL_SERVER and FLAGPAL_MAIL_PORT, and that no firewall stops this "
        "server from reaching that port."
    )


def test_mail_test_without_mail_names_the_settings(app, runner):
    result = runner.invoke(args=["mail", "test", "ada@example.com"])
    assert result.exit_code == 1
    assert result.output == f"Error: {mail.NOT_CONFIGURED}.\n"
    assert "FLAGPAL_MAIL_SERVER and FLAGPAL_MAIL_FROM" in result.output


def test_mail_test_refuses_what_is_not_an_address(app, runner, mail_server):
    app.config.update(mail_server.settings())
    result = runner.invoke(args=["mail", "test", "not-an-address"])
    assert result.exit_code == 1
    assert result.output == "Error: Enter an email address like name@example.com.\n"
    assert mail_server.messages == []


# The admin's Mail page -----------------------------------------------------------------


@pytest.fixture
def admin(app):
    user = add_user("root@example.com", "Rita Admin", admin=True)
    db.session.commit()
    return user


def settings_shown(response) -> dict[str, str]:
    listing = page(response).find(id="mail-settings")
    return {text_of(dt): text_of(dt.find_next_sibling("dd")) for dt in listing.find_all("dt")}


def test_the_mail_page_says_how_mail_is_sent_never_the_password(
    app, client, sign_in, admin, tls_server
):
    app.config.update(tls_server.settings())
    sign_in(admin)

    response = client.get("/admin/mail")

    assert response.status_code == 200
    assert settings_shown(response) == {
        "Server": "127.0.0.1",
        "Port": str(tls_server.port),
        "Security": "implicit TLS",
        "From": "flags@example.com",
        "Login": SMTP_USER,
    }
    assert SMTP_PASSWORD not in response.text
    assert text_of(page(response).find(id="no-mail-failures")) == (
        "No mail failed in the last 30 days."
    )
    [button] = page(response).select("form[action='/admin/mail/test'] button")
    assert text_of(button) == "Send a test mail"


def test_the_mail_page_without_mail_says_so_and_offers_no_test(client, sign_in, admin):
    sign_in(admin)
    response = client.get("/admin/mail")
    assert response.status_code == 200
    assert text_of(page(response).find(id="mail-not-configured")).startswith(
        "Mail is not configured."
    )
    assert page(response).find(id="mail-settings") is None
    assert page(response).select("form[action='/admin/mail/test']") == []

    posted = client.post("/admin/mail/test")
    assert posted.status_code == 409
    assert flashes(posted) == [("flash-error", f"{mail.NOT_CONFIGURED}.")]


def test_the_mail_page_lists_the_latest_20_failures_newest_first(app, client, sign_in, admin):
    now = utcnow()
    for n in range(25):
        mail_failures.record(
            f"person{n}@example.com", f"Subject {n}", f"reason {n}", now - timedelta(hours=25 - n)
        )
    sign_in(admin)

    response = client.get("/admin/mail")

    assert response.status_code == 200
    rows = page(response).select("table.mail-failures tbody tr")
    shown = [
        (text_of(row.th), text_of(row.select("td")[1]), text_of(row.select("td")[2]))
        for row in rows
    ]
    assert shown == [
        (f"person{n}@example.com", f"Subject {n}", f"reason {n}") for n in range(24, 4, -1)
    ]


def test_the_mail_page_says_how_many_notices_wait_and_were_given_up(app, sign_in, client, admin):
    now = utcnow()
    sign_in(admin)

    def said() -> str:
        response = client.get("/admin/mail")
        assert response.status_code == 200
        return text_of(page(response).find(id="mail-notices"))

    assert said() == "No notice waits to be sent."
    for n in range(3):
        outbox.queue(f"person{n}@example.com", f"Notice {n}", "Body", now=now - timedelta(days=2))
    db.session.commit()
    assert said() == "3 notices wait to be sent."

    outbox.send_due(now)  # mail is not configured: a day later they are given up

    assert said() == (
        "No notice waits to be sent. 3 notices were given up in the last 7 days: "
        "the people they were for did not get them."
    )


def test_send_a_test_mail_mails_the_admin_and_says_so(app, client, sign_in, admin, tls_server):
    app.config.update(tls_server.settings())
    sign_in(admin)

    response = client.post("/admin/mail/test")

    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/mail"
    assert tls_server.recipients == [["root@example.com"]]
    shown = client.get("/admin/mail")
    assert flashes(shown) == [
        (
            "flash-success",
            f"Sent a test mail to root@example.com through 127.0.0.1 port {tls_server.port}, "
            "implicit TLS.",
        )
    ]


def test_a_failed_test_mail_says_why_and_joins_the_failures(
    app, client, sign_in, admin, starttls_server
):
    app.config.update(starttls_server.settings(MAIL_PASSWORD="wrong horse"))
    sign_in(admin)

    response = client.post("/admin/mail/test")

    assert response.status_code == 303
    shown = client.get(response.headers["Location"])
    [(kind, said)] = flashes(shown)
    assert kind == "flash-error"
    assert said.startswith("The test mail to root@example.com was not sent: 127.0.0.1 port ")
    assert "refused the username or password" in said
    assert "Check FLAGPAL_MAIL_USERNAME and FLAGPAL_MAIL_PASSWORD" in said
    [row] = page(shown).select("table.mail-failures tbody tr")
    assert text_of(row.th) == "root@example.com"
    assert text_of(row.select("td")[1]) == "FlagPal Dash test mail"
    assert "wrong horse" not in shown.text and SMTP_PASSWORD not in shown.text
    assert starttls_server.messages == []


def test_only_admins_see_the_mail_page(app, client, sign_in, team):
    sign_in(team.owner)
    assert client.get("/admin/mail").status_code == 404
    assert client.post("/admin/mail/test").status_code == 404
    assert PASSWORD  # (signed in with it)
