"""A real HTTP receiver for webhook tests, on a free port of 127.0.0.1: deliveries go
through a socket as in production, and each request that arrives is kept (method,
path, headers, body) for the test to read. It answers 200, or what it is told:
``answers`` (codes, used in turn, then 200), ``sleep`` seconds before answering, or
``redirect_to`` (a 302 with that Location)."""

import http.server
import threading
import time
from dataclasses import dataclass


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        receiver: Receiver = self.server
        with receiver.lock:
            receiver.requests.append(
                Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            code = receiver.answers.pop(0) if receiver.answers else 200
        if receiver.sleep:
            time.sleep(receiver.sleep)
        self.send_response(code)
        if receiver.redirect_to:
            self.send_header("Location", receiver.redirect_to)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format, *args) -> None:  # quiet
        pass


class Receiver(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[Received] = []
        self.answers: list[int] = []
        self.sleep = 0.0
        self.redirect_to: str | None = None
        self.lock = threading.Lock()

    def handle_error(self, request, client_address) -> None:
        pass  # a client that gave up waiting (a timeout test): nothing to report

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/flagpal"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """The requests, once at least ``count`` arrived (or the timeout passed)."""
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.requests)
