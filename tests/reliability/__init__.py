"""The suite that shows FlagPal Dash holds under abuse: fuzzing, concurrency, faults and
secret hygiene. Each test adds what it did to one table of figures, printed at the end of
the run (``conftest.py``).

``make test`` runs it at CI size; ``make reliability`` sets ``FLAGPAL_RELIABILITY=large``
and runs it bigger (more fuzz cases, more operations per client thread).
"""

import json
import os
from collections import defaultdict
from pathlib import Path

LARGE = os.environ.get("FLAGPAL_RELIABILITY", "ci") == "large"

# The table's columns, in order: figure -> heading.
COLUMNS = {
    "requests": "requests",
    "server_errors": "5xx",
    "lost_or_doubled": "lost/doubled",
    "fuzz_cases": "fuzz cases",
    "faults_injected": "faults",
    "faults_survived": "survived",
    "secrets_found": "secrets found",
}

# part of the suite ("concurrency, PostgreSQL") -> figure -> number
figures: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COLUMNS, 0))


def database_kind(url: str) -> str:
    """``SQLite`` or ``PostgreSQL``, for a part's name: "concurrency, SQLite"."""
    return "SQLite" if url.startswith("sqlite") else "PostgreSQL"


def scaled(ci: int, large: int) -> int:
    """``ci`` in ``make test``, ``large`` in ``make reliability``."""
    return large if LARGE else ci


def record(part: str, **counts: int) -> None:
    """Add ``counts`` (names from ``COLUMNS``) to the row of ``part``."""
    unknown = set(counts) - set(COLUMNS)
    if unknown:
        raise ValueError(f"not a figure of the table: {sorted(unknown)}")
    for name, number in counts.items():
        figures[part][name] += number


def table() -> list[str]:
    """The figures as lines of text, one row per part and a total."""
    if not figures:
        return []
    rows = {part: figures[part] for part in sorted(figures)}
    rows["total"] = {name: sum(row[name] for row in figures.values()) for name in COLUMNS}
    first = max(len(part) for part in rows)
    widths = {name: max(len(heading), 7) for name, heading in COLUMNS.items()}
    lines = [" ".join([" " * first, *(h.rjust(widths[n]) for n, h in COLUMNS.items())])]
    for part, row in rows.items():
        cells = (f"{row[name]:,}".rjust(widths[name]) for name in COLUMNS)
        lines.append(" ".join([part.ljust(first), *cells]))
    return lines


def save(path: Path) -> None:
    """Add this run's figures to those in ``path`` (``make reliability`` runs the suite
    once per database and prints one table of both)."""
    saved = json.loads(path.read_text()) if path.exists() and path.stat().st_size else {}
    for part, row in figures.items():
        into = saved.setdefault(part, dict.fromkeys(COLUMNS, 0))
        for name, number in row.items():
            into[name] = into.get(name, 0) + number
    path.write_text(json.dumps(saved, indent=1))

