"""A real SMTP server for tests (aiosmtpd), on a free port of 127.0.0.1: the app's mail goes
through ``smtplib`` and a socket as in production, and each message that arrives is kept
(parsed) for the test to read.

By default it speaks plain SMTP with no login, as most tests need. A test of how mail is
secured asks for more: ``security="starttls"`` or ``"tls"`` (implicit TLS, as on port
465) with a certificate made for the test by a private CA (``Certificates``), ``users``
whose username and password it checks (AUTH PLAIN and LOGIN), and recipients it refuses
(``refuse``). ``stop()`` takes it down, for "the server is not there".
"""

import asyncio
import email
import email.policy
import logging
import ssl
import subprocess
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

# aiosmtpd logs each connection, and a deprecation of its own on every login: not news.
logging.getLogger("mail.log").setLevel(logging.ERROR)

OPENSSL_CONFIG = """\
[req]
distinguished_name = name
prompt = no
[name]
CN = {name}
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


@dataclass(frozen=True)
class Certificates:
    """A private CA (``ca_file``, what FLAGPAL_MAIL_CA_FILE names) and the server
    certificate it signed for 127.0.0.1 and localhost; made by the ``openssl`` command."""

    ca_file: Path
    certificate: Path
    key: Path

    @classmethod
    def make(cls, folder: Path) -> "Certificates":
        def openssl(*args: str, name: str) -> None:
            config = folder / f"{name}.cnf"
            config.write_text(OPENSSL_CONFIG.format(name=name))
            subprocess.run(["openssl", *args, "-config", config], check=True, capture_output=True)

        ca, ca_key = folder / "ca.pem", folder / "ca-key.pem"
        cert, key, request = folder / "server.pem", folder / "server-key.pem", folder / "req.pem"
        new_key = ["-newkey", "rsa:2048", "-nodes"]
        openssl(
            "req", "-x509", *new_key, "-keyout", str(ca_key), "-out", str(ca), "-days", "2",
            "-extensions", "ca", name="FlagPal Dash test CA",
        )  # fmt: skip
        openssl(
            "req", "-new", *new_key, "-keyout", str(key), "-out", str(request), name="localhost"
        )
        subprocess.run(
            [
                "openssl", "x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key,
                "-CAcreateserial", "-out", cert, "-days", "2",
                "-extfile", folder / "localhost.cnf", "-extensions", "server",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return cls(ca, cert, key)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certificate, self.key)
        return context


class _Handler:
    def __init__(self, server: "MailServer") -> None:
        self.server = server

    async def handle_RCPT(self, smtp, session, envelope, address, rcpt_options):
        if address in self.server.refuse:
            return self.server.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp, session, envelope):
        self.server.arrived(envelope.original_content, envelope.rcpt_tos)
        return "250 OK: queued"


class MailServer:
    def __init__(
        self,
        *,
        security: str = "none",
        certificates: Certificates | None = None,
        users: dict[str, str] | None = None,
        refuse: dict[str, str] | None = None,
    ) -> None:
        assert security in ("none", "starttls", "tls")
        assert (security == "none") == (certificates is None), "TLS needs certificates"
        self.security = security
        self.certificates = certificates
        self.users = users or {}
        # Recipient address -> the reply to its RCPT, like "550 5.1.1 No such user".
        self.refuse = refuse or {}
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        # (mechanism, username) of each login the server accepted.
        self.logins: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.port = 0

    # Starting and stopping.

    def start(self) -> "MailServer":
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _listen(self) -> asyncio.Server:
        context = self.certificates.server_context() if self.certificates else None
        return await self._loop.create_server(
            self._conversation,
            "127.0.0.1",
            self.port,
            ssl=context if self.security == "tls" else None,
        )

    def _conversation(self) -> SMTP:
        starttls = self.security == "starttls"
        return SMTP(
            _Handler(self),
            hostname="localhost",
            tls_context=self.certificates.server_context() if starttls else None,
            require_starttls=starttls,
            # With STARTTLS, logins only once the connection is encrypted, as a provider's
            # server does. (With implicit TLS it is from the start, which aiosmtpd does not
            # know; on a plain test server logins go in the clear, and are never required.)
            auth_require_tls=starttls,
            auth_required=bool(self.users) and starttls,
            authenticator=self._authenticate,
            loop=self._loop,
        )

    def stop(self) -> None:
        """Close the port: from now on a connection is refused. (Closed by the loop's own
        thread: asyncio's server is not safe to touch from another.)"""
        if self._server is not None:
            server, self._server = self._server, None

            async def close() -> None:
                server.close()

            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> "MailServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    # What happened.

    def _authenticate(self, smtp, session, envelope, mechanism, auth_data) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        username, password = auth_data.login.decode(), auth_data.password.decode()
        if self.users.get(username) != password:
            return AuthResult(success=False, handled=False)
        with self._lock:
            self.logins.append((mechanism, username))
        return AuthResult(success=True)

    def arrived(self, data: bytes, recipients: list[str]) -> None:
        message = email.message_from_bytes(data, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
            self.recipients.append(list(recipients))

    def settings(self, **changes) -> dict:
        """The app's mail settings (FLAGPAL_MAIL_*) for sending through this server;
        ``changes`` to any of them (``MAIL_PASSWORD="wrong"``)."""
        [(username, password)] = self.users.items() if self.users else [(None, None)]
        return {
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": self.port,
            "MAIL_SECURITY": self.security,
            "MAIL_STARTTLS": self.security == "starttls",
            "MAIL_USERNAME": username,
            "MAIL_PASSWORD": password,
            "MAIL_FROM": "flags@example.com",
            "MAIL_CA_FILE": str(self.certificates.ca_file) if self.certificates else None,
            **changes,
        }
