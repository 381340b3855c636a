"""Serving the app for real in tests: gunicorn (or another command) on a free loopback
port, started with the environment a test gives, waited for until ``/healthz`` answers,
then stopped with what it wrote collected.

Tests that need a real server use this, so a server that never came up fails with its
own output instead of a bare timeout, and none is left running after its test.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# gunicorn as production runs it (``make serve``): settings from ``FLAGPAL_*`` variables.
GUNICORN = [str(BIN / "gunicorn"), "-c", "python:flagpal_dash.gunicorn_conf", "wsgi:app"]
FLASK = [str(BIN / "flask"), "--app", "wsgi"]
# How long a server may take to answer its first request: a cold start of several
# workers on a busy 2-core machine.
START_SECONDS = 30


def instance_environment(database_url: str, instance: Path, **settings: str) -> dict[str, str]:
    """The environment an instance is served with: this process's, plus its database, a
    secret key, its instance folder, jobs off and each of ``settings`` as
    ``FLAGPAL_<NAME>``."""
    return {
        **os.environ,
        "FLAGPAL_JOBS": "off",
        "FLAGPAL_DATABASE_URL": database_url,
        "FLAGPAL_SECRET_KEY": "x",
        "FLAGPAL_INSTANCE_PATH": str(instance),
        **{f"FLAGPAL_{name}": value for name, value in settings.items()},
    }


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(
    process: subprocess.Popen,
    port: int,
    *,
    host: str = "127.0.0.1",
    log: Path | None = None,
    seconds: float = START_SECONDS,
) -> None:
    """Return once ``http://host:port/healthz`` answers; fail, with the end of ``log``
    if given, when ``process`` exits or ``seconds`` pass first."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=2):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                said = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
                message = f"{process.args[0]} did not serve on {port}:\n{said}"
                raise AssertionError(message) from None
            time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    """Stop ``process`` as a process manager would, killing it if it does not stop."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Server:
    """A server process serving on ``port``, its stdout and stderr in ``log``."""

    def __init__(self, process: subprocess.Popen, port: int, log: Path):
        self.process, self.port, self.log = process, port, log
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> str:
        """Stop the server; what it wrote."""
        stop(self.process)
        return self.log.read_text(errors="replace")


def serve(
    env: dict[str, str],
    log: Path,
    *,
    workers: int = 1,
    threads: int | None = None,
    port: int | None = None,
    configured: bool = True,
    gunicorn_args: str | None = None,
) -> Server:
    """gunicorn on a free loopback port (or ``port``) with ``workers`` workers of
    ``threads`` threads, returned once it answers ``/healthz``.

    ``env`` is the whole environment it runs with, its ``GUNICORN_CMD_ARGS`` replaced
    by ``gunicorn_args`` (so a developer's own flags do not change what is tested).
    ``configured`` runs it as production does, with the project's settings file
    (``FLAGPAL_BIND``, ``FLAGPAL_WORKERS`` and ``FLAGPAL_THREADS`` set here unless
    ``env`` has them); otherwise bare gunicorn with the same on its command line, for
    tests of the app without the settings file's logging and proxy handling. Jobs are
    off (``FLAGPAL_JOBS``), and webhook deliveries (``FLAGPAL_DELIVERIES``), unless ``env``
    turns them on. Its stdout
    and stderr go to ``log`` (added to what is there), which ``Server.stop`` returns."""
    port = port or free_port()
    environment = {key: value for key, value in env.items() if key != "GUNICORN_CMD_ARGS"}
    # No jobs at some moment of the test (audit events, revoked tokens, deleted usage),
    # unless the test asks for them.
    environment.setdefault("FLAGPAL_JOBS", "off")
    environment.setdefault("FLAGPAL_DELIVERIES", "off")
    if gunicorn_args:
        environment["GUNICORN_CMD_ARGS"] = gunicorn_args
    if configured:
        command = GUNICORN
        environment.setdefault("FLAGPAL_BIND", f"127.0.0.1:{port}")
        environment.setdefault("FLAGPAL_WORKERS", str(workers))
        if threads:
            environment.setdefault("FLAGPAL_THREADS", str(threads))
    else:
        command = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}"]
        command += ["--workers", str(workers), "--log-level", "warning"]
        command += ["--threads", str(threads)] if threads else []
        command += ["wsgi:app"]
    with log.open("ab") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=output, stderr=output)
    try:
        wait_until_serving(process, port, log=log)
    except BaseException:
        stop(process)
        raise
    return Server(process, port, log)
