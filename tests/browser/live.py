"""What the browser tests and `make screenshots` share: Debian's Chromium, and the app
served on 127.0.0.1 from a thread of the test process."""

import os
import threading
from pathlib import Path

from werkzeug.serving import make_server

from ..support import PASSWORD

CHROMIUM = Path(os.environ.get("FLAGPAL_CHROMIUM", "/usr/bin/chromium"))
# Headless, as root in CI, on a machine with no way out: nothing may phone home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def read_whole(app):
    """``app`` with each response read whole, and closed, before the server sends it.

    When a browser drops a connection (Chromium cuts a favicon fetch short as the page
    moves on), Werkzeug's development server can fail while draining the socket and
    skip closing the response, leaving a static file open until garbage collection;
    pytest then reports the ResourceWarning in whichever test is running.
    """

    def wsgi(environ, start_response):
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            if hasattr(body, "close"):
                body.close()

    return wsgi


class LiveServer:
    """``app`` served by Werkzeug on a free port of 127.0.0.1 until ``stop()``."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, read_whole(app), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # As make run and gunicorn_conf.py do: links that leave a page are built on it.
        app.config["SERVED_AT"] = self.url
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join()


def launch(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def sign_in(page, user) -> None:
    """Sign in through the form, as a person would."""
    page.goto("/sign-in")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
