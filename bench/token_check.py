"""How much a token check costs, served the way FlagPal Dash is served.

gunicorn serves the app on loopback (gthread workers, keep-alive); wrk, a separate
process on the other CPU, loads it. Each round measures requests per second for a
bare route of the same app that touches nothing (`GET /healthz`) and for
`GET /api/v1/token` with a valid token, in the order bare, token, token, bare, and
takes their ratio; the median over the rounds is the figure. The targets: at least 1.0
on SQLite (the token route answers at least as fast as a bare Flask route: the hot path,
api/hot_path.py, skips Flask's per-request work that the bare route pays), and at least
0.85 on PostgreSQL, where a check is a round trip to the database server, measured at
the threads per worker `make serve` runs (FLAGPAL_THREADS' default), as one thread
waits on the database while another works.

The same again with FLAGPAL_LAST_USED_INTERVAL=0 (a database write on every request,
as some frameworks do) shows what the interval buys. Last, microseconds for one
verification in-process, and the check a route makes with metrics off and on.

Usage counting is always on, so every ratio above includes it: each checked request
adds one to a count in memory, written to `token_usage` every few seconds and when the
server stops. After each server stops, the requests it counted there are compared with
the requests wrk completed, and the in-process figures include one count on its own.

All of it runs on SQLite, then on PostgreSQL: the scratch database in
FLAGPAL_BENCH_DATABASE_URL, by default `flagpal_bench` on the local server (made when
missing, emptied first). When PostgreSQL cannot be reached, that part is skipped with
the reason. For each database it also prints the resident memory (VmRSS) of the gunicorn
worker after the benchmark (target: under 80 MB).

    make bench                                                     # SQLite, PostgreSQL
    FLAGPAL_BENCH_DATABASE_URL=postgresql+psycopg://… make bench   # another PostgreSQL
    make bench BENCH_ARGS="--databases sqlite"                     # SQLite alone
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import timeit

from serving import BIN, COMPLETED, ROOT, Server, serving_options, worker_rss_mb, wrk

DEFAULT_POSTGRESQL = "postgresql+psycopg://postgres@127.0.0.1:5432/flagpal_bench"
RATIO_TARGETS = {"SQLite": 1.0, "PostgreSQL": 0.85}
# Threads per gunicorn worker by database, unless --threads says: on PostgreSQL those of
# `make serve` (gunicorn_conf.py's FLAGPAL_THREADS default).
THREADS = {"SQLite": 1, "PostgreSQL": 4}
RSS_TARGET_MB = 80


def empty(database_url: str) -> None:
    """Drop every table of a scratch database, so each run starts from nothing."""
    from sqlalchemy import MetaData, create_engine

    engine = create_engine(database_url)
    tables = MetaData()
    tables.reflect(engine)
    tables.drop_all(engine)
    engine.dispose()


def reachable_postgresql(database_url: str) -> str | None:
    """Make sure the scratch database exists (creating it when the server has none of
    that name); None if it is ready, else why it cannot be used."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    def first_line(error: DBAPIError) -> str:
        return str(error.orig).strip().splitlines()[0]

    url = make_url(database_url)
    quick = {"connect_args": {"connect_timeout": 3}}
    target = create_engine(url, **quick)
    try:
        with target.connect():
            return None
    except DBAPIError as error:
        problem = first_line(error)
    finally:
        target.dispose()
    # Perhaps only the database is missing: ask the server's maintenance database.
    server = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT", **quick)
    try:
        with server.connect() as connection:
            known = text("SELECT 1 FROM pg_database WHERE datname = :name")
            if connection.scalar(known, {"name": url.database}):
                return problem
            name = connection.scalar(text("SELECT quote_ident(:name)"), {"name": url.database})
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
    except DBAPIError:
        return problem
    finally:
        server.dispose()
    return None


def prepare(env: dict) -> str:
    """Migrate a fresh database, make a project with one token; return the token."""

    def flask(*args: str, stdin: str | None = None) -> str:
        return subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", *args],
            cwd=ROOT,
            env=env,
            input=stdin,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    flask("db", "upgrade")
    flask(
        "users",
        "create",
        "bench@example.com",
        "--name",
        "Bench",
        "--password-stdin",
        stdin="benchmark password\n",
    )
    slug = flask("projects", "create", "Bench", "--owner", "bench@example.com")
    return flask("tokens", "create", slug, "--name", "bench", "--ability", "read")


def counted_requests(database_url: str) -> int:
    """Requests the token_usage table holds, for every token and hour."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.connect() as connection:
        counted = connection.execute(text("SELECT coalesce(sum(count), 0) FROM token_usage"))
        total = int(counted.scalar())
    engine.dispose()
    return total


def measure(server: Server, token: str, args) -> dict:
    """Requests per second of the bare and the token route, and their ratio, by round.

    Each round runs bare, token, token, bare, so a slow drift of the machine weighs
    on both alike; the ratio is taken within each round, then the median of rounds.
    """
    header = f"Authorization: Bearer {token}"
    bare_url, token_url = server.url + "/healthz", server.url + "/api/v1/token"
    wrk(bare_url, 1, args.connections)  # warm up
    wrk(token_url, 1, args.connections, header)
    bare, checked, ratios = [], [], []
    for _ in range(args.rounds):
        b1 = wrk(bare_url, args.seconds, args.connections)
        t1 = wrk(token_url, args.seconds, args.connections, header)
        t2 = wrk(token_url, args.seconds, args.connections, header)
        b2 = wrk(bare_url, args.seconds, args.connections)
        bare.append((b1 + b2) / 2)
        checked.append((t1 + t2) / 2)
        ratios.append(checked[-1] / bare[-1])
    return {
        "bare": statistics.median(bare),
        "checked": statistics.median(checked),
        "ratio": statistics.median(ratios),
        "low": min(ratios),
        "high": max(ratios),
    }


def microseconds_per_verification(env: dict, token: str) -> dict[str, float]:
    """One verify() call in-process, best of several repeats, for three kinds of token."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    from prometheus_client import CollectorRegistry

    from flagpal_dash import create_app, token_format
    from flagpal_dash.api.verification import EXTENSION_KEY, ApiError, checked, verify
    from flagpal_dash.extensions import db
    from flagpal_dash.metrics import Metrics
    from flagpal_dash.models import utcnow

    def refused(value: str) -> None:
        try:
            verify(value, utcnow())
        except ApiError:
            pass

    bad_checksum = token[:-1] + ("A" if token[-1] != "A" else "B")
    unknown = token_format.generate()
    cases = {
        "valid token": lambda: verify(token, utcnow()),
        "bad checksum (no database)": lambda: refused(bad_checksum),
        "unknown token": lambda: refused(unknown),
    }
    app = create_app()
    with app.app_context():
        counter = app.extensions[EXTENSION_KEY].usage
        token_id = verify(token, utcnow()).id
        cases["count one use (in memory)"] = lambda: counter.record(token_id, utcnow())
        # The check a route makes (header, token, ability), with metrics off (what
        # `guarded` calls then) and on (counted and timed, as FLAGPAL_METRICS=on does).
        authority = app.extensions[EXTENSION_KEY]
        metrics = Metrics(CollectorRegistry())
        environ = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        cases["route's check, metrics off"] = lambda: checked(authority, "read", utcnow(), environ)
        cases["route's check, metrics on"] = lambda: metrics.token_check(
            checked, authority, "read", utcnow(), environ
        )
        figures = {}
        for label, call in cases.items():
            call()
            figures[label] = min(timeit.repeat(call, number=2000, repeat=5)) / 2000 * 1e6
        counter.take()  # not real requests: dropped, not written
        db.engine.dispose()  # (closes the token lookup's connection too)
        return figures


def run(database_url: str, instance: str, args, threads: int) -> dict:
    """Every figure for one database, from a fresh schema with one token."""
    env = {**os.environ, "FLAGPAL_INSTANCE_PATH": instance, "FLAGPAL_DATABASE_URL": database_url}
    if not database_url.startswith("sqlite"):
        empty(database_url)
    token = prepare(env)
    results, counted, rss = {}, {}, {}
    for interval in ("60", "0"):
        server = Server({**env, "FLAGPAL_LAST_USED_INTERVAL": interval}, args.workers, threads)
        COMPLETED.clear()
        before = counted_requests(database_url)
        try:
            results[interval] = measure(server, token, args)
            rss[interval] = worker_rss_mb(server.process.pid)
        finally:
            server.stop()  # each worker writes the counts it still holds as it exits
        counted[interval] = (
            counted_requests(database_url) - before,
            COMPLETED[server.url + "/api/v1/token"],
        )
    return {
        "results": results,
        "counted": counted,
        "rss": rss,
        "micro": microseconds_per_verification(env, token),
    }


def report(database: str, where: str, figures: dict, args, threads: int) -> None:
    results, counted, rss = figures["results"], figures["counted"], figures["rss"]
    target = RATIO_TARGETS[database]
    print(
        f"\nToken check on {database}{where}: gunicorn "
        f"{args.workers} worker(s) x {threads} threads, wrk {args.connections} "
        f"connections, {args.rounds} rounds of bare/token/token/bare x {args.seconds}s"
    )
    print(f"{'':58} {'req/s':>7} {'ratio':>6}  (range over rounds)")
    for interval, title in [
        ("60", "last_used_at at most once a minute"),
        ("0", "last_used_at written every request"),
    ]:
        r = results[interval]
        print(f"  {'GET /healthz (bare route)':56} {r['bare']:7.0f}")
        print(
            f"  {'GET /api/v1/token, ' + title:56} {r['checked']:7.0f} {r['ratio']:6.3f}"
            f"  ({r['low']:.3f}-{r['high']:.3f})"
        )
    verdict = "met" if results["60"]["ratio"] >= target else "NOT MET"
    print(f"  target: ratio >= {target} with the default interval (usage counting on): {verdict}")
    print("\nUsage counted in token_usage, against the token requests wrk completed:")
    for interval, (stored, completed) in counted.items():
        print(
            f"  FLAGPAL_LAST_USED_INTERVAL={interval:2}  {stored:9,} counted of {completed:9,}"
            f"  ({stored / completed:.2%})"
        )
    print(
        "\nIn-process, one call (verify(), the usage count a request adds, and the "
        "route's whole check with FLAGPAL_METRICS off and on):"
    )
    for name, micros in figures["micro"].items():
        print(f"  {name:30} {micros:6.1f} µs")
    largest = max(rss.values())
    verdict = "met" if largest < RSS_TARGET_MB else "NOT MET"
    print(
        f"\nResident memory (VmRSS) of the gunicorn worker after the benchmark: "
        f"{rss['60']:.1f} MB, {rss['0']:.1f} MB with the interval 0; "
        f"target under {RSS_TARGET_MB} MB: {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    serving_options(parser)
    parser.set_defaults(threads=None)
    parser.add_argument(
        "--databases",
        default="sqlite,postgresql",
        help="which to measure, comma-separated (default: both)",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("The benchmark needs wrk: sudo apt-get install wrk")
    databases = [name.strip().lower() for name in args.databases.split(",")]
    unknown = set(databases) - {"sqlite", "postgresql"}
    if unknown:
        raise SystemExit(f"--databases: sqlite or postgresql, not {', '.join(sorted(unknown))}")

    if "sqlite" in databases:
        with tempfile.TemporaryDirectory() as instance:
            database_url = f"sqlite:///{instance}/flagpal-dash.sqlite3"
            threads = args.threads or THREADS["SQLite"]
            report("SQLite", "", run(database_url, instance, args, threads), args, threads)
    if "postgresql" in databases:
        from sqlalchemy.engine import make_url

        database_url = os.environ.get("FLAGPAL_BENCH_DATABASE_URL") or DEFAULT_POSTGRESQL
        where = make_url(database_url).render_as_string(hide_password=True)
        problem = reachable_postgresql(database_url)
        if problem:
            print(
                f"\nToken check on PostgreSQL: skipped, {where} cannot be used: {problem}\n"
                "  (set FLAGPAL_BENCH_DATABASE_URL to a scratch database; it is emptied)"
            )
            return
        threads = args.threads or THREADS["PostgreSQL"]
        with tempfile.TemporaryDirectory() as instance:
            figures = run(database_url, instance, args, threads)
            report("PostgreSQL", f" ({where})", figures, args, threads)


if __name__ == "__main__":
    main()
