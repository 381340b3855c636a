"""How the benchmarks serve and load an app: gunicorn on one CPU, wrk on the other.

Shared by token_check.py and peer_compare.py, so that FlagPal Dash and the Django peer
are served and loaded the same way.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def pinned(cpu: int) -> list[str]:
    """Run on one CPU (the server on one, the load on the other) when there are two,
    so they do not take turns on the same core and the figures wander less."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "--cpu-list", str(cpu)]
    return []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serving_options(parser) -> None:
    """The command-line options every served benchmark takes, with the same defaults."""
    parser.add_argument("--seconds", type=int, default=3, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--workers", type=int, default=1, help="gunicorn workers (1 leaves the other CPU to wrk)"
    )
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")


def worker_rss_mb(master_pid: int) -> float:
    """Resident memory (VmRSS) of the largest gunicorn worker (child) of ``master_pid``."""
    sizes = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines())
        except (OSError, ValueError):
            continue  # gone meanwhile
        if fields.get("PPid", "").strip() == str(master_pid) and "VmRSS" in fields:
            sizes.append(int(fields["VmRSS"].split()[0]) / 1024)
    return max(sizes, default=float("nan"))


class Server:
    """gunicorn serving ``app`` (FlagPal Dash's wsgi:app unless told) on a free loopback
    port, pinned to the first CPU, until stop(). ``gunicorn`` and ``cwd`` serve another
    virtualenv's app the same way; ``ready`` is a path that answers once it is up."""

    def __init__(
        self,
        env: dict,
        workers: int,
        threads: int,
        *,
        app: str = "wsgi:app",
        gunicorn: Path = BIN / "gunicorn",
        cwd: Path = ROOT,
        ready: str = "/healthz",
    ):
        self.url = f"http://127.0.0.1:{free_port()}"
        self.process = subprocess.Popen(
            [
                *pinned(0),
                str(gunicorn),
                "--bind",
                self.url.removeprefix("http://"),
                "--workers",
                str(workers),
                "--worker-class",
                "gthread",
                "--threads",
                str(threads),
                "--log-level",
                "warning",
                app,
            ],
            cwd=cwd,
            env=env,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(self.url + ready, timeout=1).read()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise SystemExit(f"gunicorn did not start {app}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def wrk(url: str, seconds: int, connections: int, *headers: str) -> float:
    """Requests per second that wrk reached; any error response stops the benchmark.
    The requests it completed are added to COMPLETED[url]."""
    command = [
        *pinned(1),
        "wrk",
        "--threads",
        "1",
        "--connections",
        str(connections),
        "--duration",
        f"{seconds}s",
        *(part for header in headers for part in ("--header", header)),
        url,
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    failures = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if failures:
        raise SystemExit(f"{url} answered {failures.group(1)} errors:\n{output}")
    completed = int(re.search(r"(\d+) requests in", output).group(1))
    COMPLETED[url] = COMPLETED.get(url, 0) + completed
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))


COMPLETED: dict[str, int] = {}
