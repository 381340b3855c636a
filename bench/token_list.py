"""How long the API Tokens page takes for a project with 10,000 tokens, against one with 10.

Builds a fresh database (SQLite in a temporary folder, or the scratch database in
FLAGPAL_BENCH_DATABASE_URL, emptied first) with projects a developer belongs to:
"Small" with 10 tokens, "Hundred" with 100 and "Large" with 10,000, each about 40%
active and the rest revoked or expired history, made by a handful of people, with 30
days of usage, every hour, for the 40 newest active ones (hourly rows and their daily
sums, as the flush writes them). Then it signs the developer in and asks the
Flask test client (in-process: no server, no network) for each page in turn, after a
warm-up, and prints the median time per page, its ratio to Small's (target for Large:
under 1.5) and the SQL statements each page sent.

A page shows at most 20 rows (--page-size to try others): Small's page has 10, Large's
20. Hundred's page has the same 20 rows as Large's from a hundredth of the tokens, so
Large against Hundred is what the 9,900 tokens more cost; Large against Small adds the
10 rows more drawn.
A few more pages of Large show that paging deep and filtering cost no more.

    make bench                                                  # SQLite (and token_check)
    .venv/bin/python bench/token_list.py --repetitions 200      # this one alone
    FLAGPAL_BENCH_DATABASE_URL=postgresql+psycopg://… .venv/bin/python bench/token_list.py
"""

import argparse
import contextlib
import hashlib
import io
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# (Run as a script, this folder is on sys.path.) The same "drop every table" as the
# token check's bench.
from token_check import empty

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "benchmark password"
PEOPLE = 5


def token_rows(project_id: int, count: int, people: list[int], now: datetime) -> list[dict]:
    """``count`` tokens, one made every few hours back from ``now``: 40% active (one
    expiring within the week), 30% revoked, 30% expired; unique fake hashes."""
    rows = []
    for i in range(count):
        created = now - timedelta(hours=3 * (count - i))
        kind = i % 10
        expires = revoked = None
        if kind in (4, 5, 6):
            revoked = created + timedelta(hours=1)
        elif kind in (7, 8, 9):
            expires = created + timedelta(minutes=30)
        elif kind == 0:
            expires = now + timedelta(days=90)
        if i == count - 2:
            expires, revoked = now + timedelta(days=3), None  # the banner shows one
        rows.append({
            "project_id": project_id,
            "name": f"App {i} ({'production' if i % 2 else 'staging'})",
            "abilities": frozenset({"read", "metrics"} if i % 3 else {"*"}),
            "token_hash": hashlib.sha256(f"{project_id}:{i}".encode()).hexdigest(),
            "hint": f"{i:04d}"[-4:],
            "created_at": created,
            "created_by_id": people[i % len(people)],
            "expires_at": expires,
            "revoked_at": revoked,
            "revoked_by_id": people[(i + 1) % len(people)] if revoked else None,
            "last_used_at": now - timedelta(minutes=i % 600) if revoked is None else None,
        })
    return rows


def build(app, now: datetime) -> dict[str, str]:
    """The schema, people, the two projects and their tokens; returns name -> slug."""
    import flask_migrate
    from sqlalchemy import insert, select

    from flagpal_dash.core import accounts, projects, tokens
    from flagpal_dash.core.usage import daily_sums
    from flagpal_dash.extensions import db
    from flagpal_dash.models import ApiToken, TokenUsage, TokenUsageDay
    from flagpal_dash.permissions import Role

    with app.app_context():
        with contextlib.redirect_stderr(io.StringIO()):  # Alembic's log of each step
            flask_migrate.upgrade()
        rounds = app.config["BCRYPT_ROUNDS"]
        people = [accounts.create_user(f"person{n}@example.com", f"Person {n}", PASSWORD,
                                       actor=None, rounds=rounds, by_themselves=True)
                  for n in range(PEOPLE)]
        developer = people[0]
        slugs = {}
        for name, count in [("Small", 10), ("Hundred", 100), ("Large", 10_000)]:
            project = projects.create_project(name, actor=None)
            projects.add_member(project, developer, Role.DEVELOPER, actor=None)
            db.session.flush()
            rows = token_rows(project.id, count, [p.id for p in people], now)
            db.session.execute(insert(ApiToken), rows)
            # The 40 newest active tokens used every hour of the last 30 days: 720 hours
            # each, and their sums per day.
            active = db.session.scalars(
                select(ApiToken.id)
                .where(ApiToken.project_id == project.id, tokens.is_active_sql(now))
                .order_by(ApiToken.created_at.desc()).limit(40)
            ).all()
            last_hour = now.replace(minute=0, second=0, microsecond=0)
            usage = [{"token_id": token_id, "hour": last_hour - timedelta(hours=h),
                      "count": (token_id + h) % 50 + 1}
                     for token_id in active for h in range(30 * 24)]
            db.session.execute(insert(TokenUsage), usage)
            db.session.execute(insert(TokenUsageDay), daily_sums(usage))
            slugs[name] = project.slug
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            # What autovacuum does to a table this size within a minute of the load: row
            # counts for the planner and a visibility map for index-only counts. Without
            # them the planner guesses a project has a handful of tokens and sorts every
            # active one instead of reading the page from the index.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as bare:
                bare.exec_driver_sql("VACUUM ANALYZE")
        return slugs


def sign_in(client) -> None:
    form = client.get("/sign-in").text
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
    response = client.post("/sign-in", data={"email": "person0@example.com",
                                              "password": PASSWORD, "csrf_token": csrf})
    if response.status_code != 302:
        raise SystemExit(f"could not sign in: {response.status_code}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repetitions", type=int, default=150,
                        help="timed requests of each page")
    parser.add_argument("--warm-up", type=int, default=20)
    parser.add_argument("--page-size", type=int,
                        help="rows per page instead of the app's (to see what it costs)")
    args = parser.parse_args()

    started = time.monotonic()
    with tempfile.TemporaryDirectory() as instance:
        database = os.environ.get("FLAGPAL_BENCH_DATABASE_URL")
        os.environ.update({"FLAGPAL_INSTANCE_PATH": instance, "FLAGPAL_BCRYPT_ROUNDS": "4"})
        if database:
            os.environ["FLAGPAL_DATABASE_URL"] = database
            empty(database)
        else:
            os.environ.pop("FLAGPAL_DATABASE_URL", None)
        sys.path.insert(0, str(ROOT))
        from sqlalchemy import event

        from flagpal_dash import create_app
        from flagpal_dash.extensions import db
        from flagpal_dash.tokens import listing

        if args.page_size:
            listing.PAGE_SIZE = args.page_size

        app = create_app()
        now = datetime.now(UTC)
        slugs = build(app, now)
        client = app.test_client()
        sign_in(client)

        pages = {
            "Small, 10 tokens": f"/projects/{slugs['Small']}/tokens",
            "Hundred, 100 tokens": f"/projects/{slugs['Hundred']}/tokens",
            "Large, 10,000 tokens": f"/projects/{slugs['Large']}/tokens",
            "Large, page 50": f"/projects/{slugs['Large']}/tokens?page=50",
            "Large, name contains \"9 (prod\"": f"/projects/{slugs['Large']}/tokens?name=9+(prod",
            "Large, revoked": f"/projects/{slugs['Large']}/tokens?status=revoked",
        }
        statements: list[str] = []
        with app.app_context():
            event.listen(db.engine, "before_cursor_execute",
                         lambda *args: statements.append(args[2]))
        counts, rows, times = {}, {}, {label: [] for label in pages}
        for label, url in pages.items():
            for _ in range(args.warm_up):
                response = client.get(url)
                if response.status_code != 200:
                    raise SystemExit(f"{url} answered {response.status_code}")
            statements.clear()
            response = client.get(url)
            counts[label] = len(statements)
            rows[label] = response.text.count('class="token-row')
        # Taken in turns, so a slow moment of the machine weighs on every page alike.
        for _ in range(args.repetitions):
            for label, url in pages.items():
                start = time.perf_counter()
                client.get(url)
                times[label].append(time.perf_counter() - start)
        with app.app_context():
            db.engine.dispose()

    median = {label: statistics.median(samples) * 1000 for label, samples in times.items()}
    small = median["Small, 10 tokens"]
    print(f"\nAPI Tokens page on {'PostgreSQL' if database else 'SQLite'}, signed in as a "
          f"developer, in-process (Flask test client): median of {args.repetitions} "
          f"after {args.warm_up} warm-up requests, at most {listing.PAGE_SIZE} rows a page")
    print(f"  {'':34} {'ms/page':>8} {'vs Small':>8} {'rows':>5} {'SQL statements':>15}")
    for label in pages:
        print(f"  {label:34} {median[label]:8.2f} {median[label] / small:7.2f}x "
              f"{rows[label]:5} {counts[label]:15}")
    large = median["Large, 10,000 tokens"]
    ratio = large / small
    print(f"  target: 10,000 tokens under 1.5x the time of 10: "
          f"{'met' if ratio < 1.5 else 'NOT MET'} ({ratio:.2f}x)")
    print(f"  the same {listing.PAGE_SIZE} rows from 10,000 tokens as from 100: "
          f"{large / median['Hundred, 100 tokens']:.2f}x; the same statements on every "
          f"page: {'yes' if len(set(counts.values())) == 1 else 'NO'}")
    print(f"  ({time.monotonic() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
