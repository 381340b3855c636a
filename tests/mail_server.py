"""A real SMTP server for tests, on a free port of 127.0.0.1: the app's mail goes through
``smtplib`` and a socket as in production, and each message that arrives is kept
(parsed) for the test to read. It speaks the little of SMTP a client sending mail needs
(EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), with no TLS and no login."""

import email
import email.policy
import socketserver
import threading
from email.message import EmailMessage


class _Conversation(socketserver.StreamRequestHandler):
    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 localhost test SMTP server")
        recipients: list[str] = []
        while line := self.rfile.readline():
            command = line.decode().strip()
            verb = command[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 localhost")
            elif verb == "MAIL":
                recipients = []
                self.reply("250 OK")
            elif verb == "RCPT":
                recipients.append(command.partition(":")[2].strip(" <>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                self.server.arrived(self.read_data(), recipients)
                self.reply("250 OK: queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")

    def read_data(self) -> bytes:
        lines = []
        while (line := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)
        return b"".join(lines)


class MailServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Conversation)
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def arrived(self, data: bytes, recipients: list[str]) -> None:
        message = email.message_from_bytes(data, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
            self.recipients.append(list(recipients))

    def settings(self) -> dict:
        """The app's mail settings (FLAGPAL_MAIL_*) for sending through this server."""
        return {
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": self.port,
            "MAIL_STARTTLS": False,
            "MAIL_USERNAME": None,
            "MAIL_PASSWORD": None,
            "MAIL_FROM": "flags@example.com",
        }
