"""FlagPal Dash's token check beside a Django REST framework peer's, in one run.

The peer (bench/peer/) is a small Django + Django REST framework +
djangorestframework-api-key service: a bare route, and a route that checks an API key
(``Authorization: Api-Key <key>``, the library's HasAPIKey) and answers a small JSON,
like FlagPal Dash's ``GET /api/v1/token``. It runs from its own virtualenv,
bench/.peer-venv, which `make bench` makes from bench/peer/requirements.txt (pinned).
Both apps use SQLite in a fresh temporary folder, each with one token or key, and are
served alike (serving.py): gunicorn with the same workers and threads on one CPU, wrk
on the other, both servers up for the whole run.

Each round loads five routes in turn, and the next round in the reverse order, so that
a slow drift of the shared machine weighs on all of them alike: FlagPal Dash's bare
route (``/healthz``), ``GET /api/v1/token``, forward-auth (``GET /api/v1/auth`` as nginx
sends it: the token, X-Original-Method and X-Original-URI), the peer's bare route and
its key check. It prints the median requests per second of each, and the ratios taken
within each round (median, and range over rounds): FlagPal Dash's token check and
forward-auth against the peer's key check (target: at least 3), and each check against
its own app's bare route.

Then latency: p50 and p99 of FlagPal Dash's token check, its forward-auth and the
peer's key check, in turn in each round at the same constant rate (``--rate``, well
below what either serves), measured by latency.py, an open-loop load generator that
times each request from the moment it was due (see its docstring for why not wrk's);
the median over rounds. On a machine that runs other work, a request that waits for
the CPU waits in p99 too: the range of p99 over rounds shows how much that moved it.
Last, the resident memory (VmRSS) of each app's gunicorn worker.

    make bench                                   # this after bench/token_check.py
    make bench BENCH_ARGS="--rounds 9"           # the options are token_check.py's
    make bench-peer && .venv/bin/python bench/peer_compare.py --rate 200
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from serving import BIN, ROOT, Server, pinned, serving_options, worker_rss_mb, wrk
from token_check import prepare

PEER = ROOT / "bench" / "peer"
PEER_VENV = ROOT / "bench" / ".peer-venv"
PEER_TARGET = 3.0

# (what, app, path, needs the credential); app is "flagpal" or "peer".
ROUTES = [
    ("FlagPal Dash  GET /healthz (bare)", "flagpal", "/healthz", False),
    ("FlagPal Dash  GET /api/v1/token", "flagpal", "/api/v1/token", True),
    ("FlagPal Dash  GET /api/v1/auth (forward-auth)", "flagpal", "/api/v1/auth", True),
    ("DRF peer      GET /healthz (bare)", "peer", "/healthz", False),
    ("DRF peer      GET /api/v1/token (API key)", "peer", "/api/v1/token", True),
]
BARE, TOKEN, AUTH, PEER_BARE, PEER_KEY = (route[0] for route in ROUTES)
# As nginx's auth_request sends it for a GET of the upstream (the README's snippet).
FORWARD_AUTH_HEADERS = ("X-Original-Method: GET", "X-Original-URI: /flags")


def prepare_peer(env: dict) -> str:
    """Migrate the peer's database and create its one API key; return the key."""
    if not (PEER_VENV / "bin" / "gunicorn").exists():
        raise SystemExit(f"The peer's virtualenv is missing: make bench-peer (makes {PEER_VENV})")
    return subprocess.run(
        [str(PEER_VENV / "bin" / "python"), "prepare.py"],
        cwd=PEER,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def headers_for(what: str, token: str, key: str) -> tuple[str, ...]:
    app, needs_credential = next((r[1], r[3]) for r in ROUTES if r[0] == what)
    if not needs_credential:
        return ()
    if app == "peer":
        return (f"Authorization: Api-Key {key}",)
    extra = FORWARD_AUTH_HEADERS if what == AUTH else ()
    return (f"Authorization: Bearer {token}", *extra)


def throughput(urls: dict, token: str, key: str, args) -> dict:
    """Requests per second of each route by round, and the ratios within each round."""
    for what in urls:
        wrk(urls[what], 1, args.connections, *headers_for(what, token, key))  # warm up
    rates = {what: [] for what in urls}
    ratios = {
        "token / peer key": [],
        "forward-auth / peer key": [],
        "token / own bare": [],
        "forward-auth / own bare": [],
        "peer key / own bare": [],
    }
    for round_number in range(args.rounds):
        order = list(urls) if round_number % 2 == 0 else list(reversed(urls))
        got = {
            what: wrk(urls[what], args.seconds, args.connections, *headers_for(what, token, key))
            for what in order
        }
        for what, rate in got.items():
            rates[what].append(rate)
        ratios["token / peer key"].append(got[TOKEN] / got[PEER_KEY])
        ratios["forward-auth / peer key"].append(got[AUTH] / got[PEER_KEY])
        ratios["token / own bare"].append(got[TOKEN] / got[BARE])
        ratios["forward-auth / own bare"].append(got[AUTH] / got[BARE])
        ratios["peer key / own bare"].append(got[PEER_KEY] / got[PEER_BARE])
    return {
        "rates": {what: statistics.median(values) for what, values in rates.items()},
        "ratios": {
            name: (statistics.median(values), min(values), max(values))
            for name, values in ratios.items()
        },
    }


def latency(url: str, headers: tuple[str, ...], args) -> dict:
    """latency.py's figures for one route, the load pinned to the load's CPU."""
    output = subprocess.run(
        [
            *pinned(1),
            str(BIN / "python"),
            str(ROOT / "bench" / "latency.py"),
            url,
            *(part for header in headers for part in ("--header", header)),
            "--rate",
            str(args.rate),
            "--seconds",
            str(args.latency_seconds),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output)


def latencies(urls: dict, token: str, key: str, args) -> dict:
    """p50 and p99 of the three checks, taken in turn in each round; the median of the
    rounds, and the range of p99 (the figure a busy machine moves most)."""
    runs = {what: [] for what in (TOKEN, AUTH, PEER_KEY)}
    for _ in range(args.rounds):
        for what, results in runs.items():
            results.append(latency(urls[what], headers_for(what, token, key), args))
    return {
        what: {
            "p50_ms": statistics.median(run["p50_ms"] for run in results),
            "p99_ms": statistics.median(run["p99_ms"] for run in results),
            "p99_low": min(run["p99_ms"] for run in results),
            "p99_high": max(run["p99_ms"] for run in results),
        }
        for what, results in runs.items()
    }


def report(figures: dict, args) -> None:
    print(
        f"\nFlagPal Dash beside the Django REST framework peer, on SQLite: gunicorn "
        f"{args.workers} worker(s) x {args.threads} threads each, wrk {args.connections} "
        f"connections, {args.rounds} rounds of the five routes x {args.seconds}s"
    )
    print(f"{'':50} {'req/s':>7}")
    for what, rate in figures["rates"].items():
        print(f"  {what:48} {rate:7.0f}")
    print(f"\n{'':50} {'ratio':>7}  (range over rounds)")
    for name, (median, low, high) in figures["ratios"].items():
        target = ""
        if name.endswith("/ peer key"):
            met = "met" if median >= PEER_TARGET else "NOT MET"
            target = f"  target >= {PEER_TARGET}: {met}"
        print(f"  {name:48} {median:7.2f}  ({low:.2f}-{high:.2f}){target}")
    print(
        f"\nLatency at a constant {args.rate:g} requests/s, {args.rounds} rounds of "
        f"{args.latency_seconds:g}s each (latency.py: open loop, from each request's due "
        "time; median of rounds):"
    )
    print(f"{'':50} {'p50 ms':>7} {'p99 ms':>7}  (p99's range over rounds)")
    for what, result in figures["latency"].items():
        print(
            f"  {what:48} {result['p50_ms']:7.2f} {result['p99_ms']:7.2f}"
            f"  ({result['p99_low']:.2f}-{result['p99_high']:.2f})"
        )
    rss = figures["rss"]
    print(
        f"\nResident memory (VmRSS) of the gunicorn worker afterwards: FlagPal Dash "
        f"{rss['flagpal']:.1f} MB, the peer {rss['peer']:.1f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    serving_options(parser)
    parser.add_argument(
        "--databases",
        default="sqlite",
        help="accepted for token_check.py's sake; the comparison is on SQLite only",
    )
    parser.add_argument(
        "--rate", type=float, default=300, help="requests per second of the latency runs"
    )
    parser.add_argument(
        "--latency-seconds", type=float, default=5, help="length of each latency run"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("The benchmark needs wrk: sudo apt-get install wrk")

    with tempfile.TemporaryDirectory() as instance:
        env = {
            **os.environ,
            "FLAGPAL_INSTANCE_PATH": instance,
            "FLAGPAL_DATABASE_URL": f"sqlite:///{instance}/flagpal-dash.sqlite3",
        }
        peer_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "settings",
            "PEER_DATABASE": str(Path(instance) / "peer.sqlite3"),
        }
        token, key = prepare(env), prepare_peer(peer_env)
        flagpal = Server(env, args.workers, args.threads)
        try:
            peer = Server(
                peer_env,
                args.workers,
                args.threads,
                app="wsgi:application",
                gunicorn=PEER_VENV / "bin" / "gunicorn",
                cwd=PEER,
            )
        except BaseException:
            flagpal.stop()
            raise
        try:
            servers = {"flagpal": flagpal, "peer": peer}
            urls = {what: servers[app].url + path for what, app, path, _ in ROUTES}
            figures = throughput(urls, token, key, args)
            figures["latency"] = latencies(urls, token, key, args)
            figures["rss"] = {app: worker_rss_mb(s.process.pid) for app, s in servers.items()}
        finally:
            flagpal.stop()
            peer.stop()
    report(figures, args)


if __name__ == "__main__":
    main()
