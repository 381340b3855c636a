"""How much a token check costs, served the way FlagPal Dash is served.

gunicorn serves the app on loopback; wrk (a separate process) loads it. Each round
measures requests per second for a bare route of the same app that touches nothing
(`/healthz`) and for `GET /api/v1/token` with a valid token, back to back, so both
see the same machine; the medians over the rounds are compared. The target is a
ratio of at least 0.85: a token check costs at most 15% of a bare request.

Then the same with FLAGPAL_LAST_USED_INTERVAL=0 (a database write on every request,
as some frameworks do) to show what the interval buys, and the microseconds one
verification takes in-process.

    make bench                         # SQLite
    FLAGPAL_BENCH_DATABASE_URL=postgresql+psycopg://… make bench
"""

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(env: dict) -> str:
    """Migrate a fresh database and make a project with one token; return its value."""
    flask = [str(BIN / "flask"), "--app", "wsgi"]
    run = lambda *args, **kw: subprocess.run(  # noqa: E731
        [*flask, *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True, **kw
    )
    run("db", "upgrade")
    run("users", "create", "bench@example.com", "--name", "Bench", "--password-stdin",
        input="benchmark password\n")
    slug = run("projects", "create", "Bench", "--owner", "bench@example.com").stdout.strip()
    return run("tokens", "create", slug, "--name", "bench", "--ability", "read").stdout.strip()


class Server:
    def __init__(self, env: dict, workers: int):
        self.port = free_port()
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers),
             "--log-level", "warning", "wsgi:app"],
            cwd=ROOT, env=env,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1).read()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise SystemExit("gunicorn did not start")
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def wrk(url: str, seconds: int, connections: int, header: str | None = None) -> float:
    command = ["wrk", "--threads", "1", "--connections", str(connections),
               "--duration", f"{seconds}s", url]
    if header:
        command[1:1] = ["--header", header]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        raise SystemExit(f"{url} answered {non_2xx.group(1)} errors:\n{output}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))


def measure(server: Server, token: str, args) -> tuple[float, float]:
    bare, checked = [], []
    header = f"Authorization: Bearer {token}"
    wrk(server.url + "/healthz", 1, args.connections)  # warm up every worker
    wrk(server.url + "/api/v1/token", 1, args.connections, header)
    for _ in range(args.rounds):
        bare.append(wrk(server.url + "/healthz", args.seconds, args.connections))
        checked.append(wrk(server.url + "/api/v1/token", args.seconds, args.connections, header))
    return statistics.median(bare), statistics.median(checked)


def microseconds_per_verification(env: dict, token: str, number: int = 20_000) -> dict[str, float]:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    from flagpal_dash import create_app, token_format
    from flagpal_dash.api.verification import ApiError, verify

    app = create_app()
    malformed = token[:-1] + ("A" if token[-1] != "A" else "B")
    unknown = token_format.generate()

    def refused(value):
        try:
            verify(value)
        except ApiError:
            pass

    with app.app_context():
        figures = {}
        for label, call in [("valid token", lambda: verify(token)),
                            ("bad checksum (no database)", lambda: refused(malformed)),
                            ("unknown token", lambda: refused(unknown))]:
            call()
            best = min(timeit.repeat(call, number=number // 10, repeat=5))
            figures[label] = best / (number // 10) * 1e6
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1,
                        help="gunicorn workers (1 keeps wrk on the other core)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("The benchmark needs wrk: sudo apt-get install wrk")

    with tempfile.TemporaryDirectory() as instance:
        env = {**os.environ, "FLAGPAL_INSTANCE_PATH": instance}
        database = os.environ.get("FLAGPAL_BENCH_DATABASE_URL")
        if database:
            env["FLAGPAL_DATABASE_URL"] = database
        token = prepare(env)
        label = "PostgreSQL" if database else "SQLite"

        results = {}
        for interval in ("60", "0"):
            server = Server({**env, "FLAGPAL_LAST_USED_INTERVAL": interval}, args.workers)
            try:
                results[interval] = measure(server, token, args)
            finally:
                server.stop()
        micro = microseconds_per_verification(env, token)

    bare, checked = results["60"]
    bare0, checked0 = results["0"]
    print(f"\nToken check benchmark on {label}: gunicorn, {args.workers} sync worker(s); wrk, "
          f"{args.connections} connections; median of {args.rounds} x {args.seconds}s")
    print(f"{'':44} {'req/s':>9}  {'ratio':>6}")
    print(f"{'bare route GET /healthz':44} {bare:9.0f}  {1:6.3f}")
    print(f"{'GET /api/v1/token, last_used every 60 s':44} {checked:9.0f}  {checked / bare:6.3f}"
          f"   target >= 0.85: {'met' if checked / bare >= 0.85 else 'NOT MET'}")
    print(f"{'bare route again (interval 0 server)':44} {bare0:9.0f}  {1:6.3f}")
    print(f"{'GET /api/v1/token, last_used on every request':44} {checked0:9.0f}  {checked0 / bare0:6.3f}")
    print("\nIn-process, one verify() call:")
    for name, micros in micro.items():
        print(f"  {name:30} {micros:8.1f} µs")


if __name__ == "__main__":
    main()
