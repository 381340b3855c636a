"""Prints the reliability figures at the end of a run that collected any, and saves
them where ``FLAGPAL_RELIABILITY_FIGURES`` says (``make reliability``)."""

import os
from pathlib import Path

from . import LARGE, save, table


def pytest_sessionfinish(session):
    if path := os.environ.get("FLAGPAL_RELIABILITY_FIGURES"):
        save(Path(path))


def pytest_terminal_summary(terminalreporter):
    lines = table()
    if not lines:
        return
    size = "large (make reliability)" if LARGE else "CI size (make test)"
    terminalreporter.section(f"reliability figures, {size}")
    for line in lines:
        terminalreporter.write_line(line)
