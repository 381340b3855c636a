"""Sending email, when the instance has an SMTP server configured (FLAGPAL_MAIL_*).

A small server may have no mail at all, so nothing depends on a message arriving:
without mail, or when sending fails, an invitation link is shown to the owner instead
(and then proves nothing about the address: see core/accounts.py).

The connection is secured one of three ways (FLAGPAL_MAIL_SECURITY): ``starttls`` (plain
connection upgraded to TLS, port 587), ``tls`` (TLS from the first byte, port 465) or
``none``. TLS always checks the server's certificate, against the system's CAs or the
private CA in FLAGPAL_MAIL_CA_FILE: smtplib on its own would accept any certificate.

A message that cannot be sent says why in plain words and what setting to check
(``NotSent``): the ``mail test`` command prints it, and every failure of ``send`` is
kept for the admins' Mail page (core/mail_failures.py) besides the log.
"""

import smtplib
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage

from flask import current_app

from .core import mail_failures
from .models import utcnow

# How each is named to a person.
SECURITY_WORDS = {
    "starttls": "STARTTLS",
    "tls": "implicit TLS",
    "none": "no encryption",
}
# Seconds to wait for the server at each step, so a request never hangs on mail.
TIMEOUT = 10
TEST_SUBJECT = "FlagPal Dash test mail"


@dataclass(frozen=True)
class MailSettings:
    """Where and how mail goes, from the app's config (config.py reads FLAGPAL_MAIL_*)."""

    server: str
    port: int
    security: str
    sender: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None

    @classmethod
    def from_config(cls, config: Mapping) -> "MailSettings | None":
        """None when no mail server is set. (MAIL_STARTTLS alone, as older settings and
        tests give it, means starttls or none.)"""
        if not config.get("MAIL_SERVER"):
            return None
        security = config.get("MAIL_SECURITY") or (
            "starttls" if config.get("MAIL_STARTTLS", True) else "none"
        )
        return cls(
            server=config["MAIL_SERVER"],
            port=config.get("MAIL_PORT") or 587,
            security=security,
            sender=config.get("MAIL_FROM") or "",
            username=config.get("MAIL_USERNAME") or None,
            password=config.get("MAIL_PASSWORD") or None,
            ca_file=config.get("MAIL_CA_FILE") or None,
        )

    @property
    def where(self) -> str:
        return f"{self.server} port {self.port}"

    def describe(self) -> str:
        """Server, port and security in words; never the password."""
        return f"{self.where}, {SECURITY_WORDS[self.security]}"


class NotSent(Exception):
    """A message was not sent: ``reason`` says what happened in a line, ``check`` what
    setting (or address) to look at. ``unexpected`` when it was no mail error at all."""

    def __init__(self, reason: str, check: str, *, unexpected: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.check = check
        self.unexpected = unexpected


NOT_CONFIGURED = (
    "Mail is not configured: set FLAGPAL_MAIL_SERVER and FLAGPAL_MAIL_FROM, and "
    "FLAGPAL_MAIL_PORT, FLAGPAL_MAIL_SECURITY, FLAGPAL_MAIL_USERNAME and "
    "FLAGPAL_MAIL_PASSWORD as your mail provider says"
)


class NotConfigured(Exception):
    """No mail server is set: there is nothing to send with."""

    def __init__(self) -> None:
        super().__init__(NOT_CONFIGURED)


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Certificates checked, with the system's CAs, or only the private CA in ``ca_file``."""
    return ssl.create_default_context(cafile=ca_file)


def deliver(settings: MailSettings, to: str, subject: str, body: str) -> None:
    """Send a plain-text message now; raises NotSent saying why it could not be."""
    try:
        message = EmailMessage()
        message["From"] = settings.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        if settings.security == "tls":
            connection = smtplib.SMTP_SSL(
                settings.server,
                settings.port,
                timeout=TIMEOUT,
                context=tls_context(settings.ca_file),
            )
        else:
            connection = smtplib.SMTP(settings.server, settings.port, timeout=TIMEOUT)
        with connection as smtp:
            if settings.security == "starttls":
                smtp.starttls(context=tls_context(settings.ca_file))
            if settings.username:
                smtp.login(settings.username, settings.password or "")
            smtp.send_message(message)
    except Exception as error:
        raise explained(error, settings, to) from error


def _answer(code: int, said: bytes | str) -> str:
    text = said.decode(errors="replace") if isinstance(said, bytes) else str(said)
    return f"{code} {' '.join(text.split())}".strip()


SECURITY_HINT = (
    "FLAGPAL_MAIL_SECURITY must match the port: tls for implicit TLS (usually port 465), "
    "starttls for port 587"
)


def explained(error: Exception, settings: MailSettings, to: str) -> NotSent:
    """``error``, as smtplib, ssl or the socket raised it, in plain words."""
    where = settings.where
    reach = (
        "Check FLAGPAL_MAIL_SERVER and FLAGPAL_MAIL_PORT, and that no firewall stops "
        "this server from reaching that port."
    )
    match error:
        case socket.gaierror():
            return NotSent(
                f"the mail server {settings.server} could not be found (its name does not resolve)",
                "Check FLAGPAL_MAIL_SERVER, and that this server can look up names.",
            )
        case ssl.SSLCertVerificationError():
            return NotSent(
                f"the certificate of {where} was not accepted ({error.verify_message})",
                "FLAGPAL_MAIL_SERVER must be a name the server's certificate is made for; "
                "a server whose certificate comes from a private CA needs that CA in "
                "FLAGPAL_MAIL_CA_FILE.",
            )
        case ssl.SSLError():
            return NotSent(
                f"the TLS handshake with {where} failed ({error.reason or error})",
                f"{SECURITY_HINT}; a private CA goes in FLAGPAL_MAIL_CA_FILE.",
            )
        case smtplib.SMTPNotSupportedError() if "STARTTLS" in str(error):
            return NotSent(
                f"{where} does not offer STARTTLS",
                f"{SECURITY_HINT}. (none sends mail and passwords unencrypted: only for a "
                "server on this machine or a trusted network.)",
            )
        case smtplib.SMTPNotSupportedError() if "AUTH" in str(error):
            return NotSent(
                f"{where} does not offer a login (AUTH) on this connection",
                "Many servers offer one only over TLS: check FLAGPAL_MAIL_SECURITY. For a "
                "server that needs no login, leave FLAGPAL_MAIL_USERNAME empty.",
            )
        case smtplib.SMTPAuthenticationError():
            return NotSent(
                f"{where} refused the username or password "
                f"({_answer(error.smtp_code, error.smtp_error)})",
                "Check FLAGPAL_MAIL_USERNAME and FLAGPAL_MAIL_PASSWORD (many providers "
                "want an app password or an SMTP key, not the account's password).",
            )
        case smtplib.SMTPRecipientsRefused():
            [(code, said)] = list(error.recipients.values())[:1] or [(0, "")]
            return NotSent(
                f"{where} refused the recipient {to} ({_answer(code, said)})",
                "Check the address.",
            )
        case smtplib.SMTPSenderRefused():
            return NotSent(
                f"{where} refused the From address {settings.sender} "
                f"({_answer(error.smtp_code, error.smtp_error)})",
                "Check FLAGPAL_MAIL_FROM: the provider must allow sending from it.",
            )
        case smtplib.SMTPResponseException():
            answer = _answer(error.smtp_code, error.smtp_error)
            return NotSent(
                f"{where} did not take the mail ({answer})",
                "A 4xx answer is a passing problem: try again later. A 5xx answer says "
                "why the server refuses.",
            )
        case smtplib.SMTPServerDisconnected() if "timed out" in str(error):
            # (How smtplib words a read that timed out, such as a greeting that never came.)
            return NotSent(
                f"{where} did not answer within {TIMEOUT} seconds",
                f"{SECURITY_HINT}. {reach}",
            )
        case smtplib.SMTPServerDisconnected():
            return NotSent(
                f"{where} closed the connection before the mail was sent",
                f"{SECURITY_HINT}. {reach}",
            )
        case TimeoutError():
            return NotSent(
                f"{where} did not answer within {TIMEOUT} seconds",
                f"{reach} {SECURITY_HINT}.",
            )
        case ConnectionRefusedError():
            return NotSent(f"could not connect to {where} (connection refused)", reach)
        case smtplib.SMTPException():
            return NotSent(f"{where}: {error}", "Check the FLAGPAL_MAIL_* settings.")
        case OSError():
            return NotSent(
                f"could not connect to {where} ({error.strerror or error})",
                reach,
            )
    return NotSent(
        f"unexpected error: {type(error).__name__}: {error}",
        "The server's log has the details.",
        unexpected=True,
    )


def configured() -> bool:
    return bool(current_app.config.get("MAIL_SERVER"))


def send(to: str, subject: str, body: str) -> bool:
    """Send a plain-text message; False when it could not be sent, which the log and the
    admins' Mail page then say. Never raises: whatever the mail was about (an
    invitation) is saved already, and the caller shows its link instead."""
    return why_not_sent(to, subject, body) is None


def why_not_sent(to: str, subject: str, body: str) -> str | None:
    """Send a plain-text message, like ``send``; None when it went, else why not in a
    line (the outbox keeps it on the mail's row, to say why it waits)."""
    settings = MailSettings.from_config(current_app.config)
    if settings is None:
        return NOT_CONFIGURED
    try:
        deliver(settings, to, subject, body)
    except NotSent as failure:
        note_failure(to, subject, failure)
        return failure.reason
    return None


def note_failure(to: str, subject: str, failure: NotSent) -> None:
    """The log line, with the traceback when it was no mail error, and the row."""
    current_app.logger.warning(
        "Could not send mail to %s: %s", to, failure.reason, exc_info=failure.unexpected
    )
    mail_failures.record(to, subject, failure.reason, utcnow())


def send_test(to: str) -> MailSettings:
    """Send the test mail to ``to`` now, whether from ``mail test`` or the admin's Mail
    page; the settings it went with. Raises NotConfigured, or NotSent (kept like any
    failure)."""
    settings = MailSettings.from_config(current_app.config)
    if settings is None:
        raise NotConfigured()
    try:
        deliver(
            settings,
            to,
            TEST_SUBJECT,
            "This is a test mail from FlagPal Dash: mail from this instance reaches "
            f"{to}.\n\nIt went through {settings.describe()}.\n",
        )
    except NotSent as failure:
        note_failure(to, TEST_SUBJECT, failure)
        raise
    return settings
