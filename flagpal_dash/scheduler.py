"""The jobs' thread in a serving process: it wakes now and then, asks which jobs are due
(core/jobs.py) and runs them, in its own app context and database session, so it never
holds up a request. gunicorn starts one in each worker (gunicorn_conf.py's
``post_worker_init``), where the token check's process already lives; with several
workers and servers every thread asks, and each job's claim lets one run it a period.

Off with ``FLAGPAL_JOBS=off`` (for those who run ``flagpal-dash jobs run`` from a
timer instead). ``flask run`` starts none: the development server runs no jobs.
"""

import atexit
import logging
import os
import socket
import threading

from flask import Flask

from .core import jobs
from .extensions import db
from .models import utcnow

logger = logging.getLogger(__name__)

# How long the thread sleeps between looks at most (a daily job starts within a minute
# of its period), and at least a quarter of the period, so a short one is not missed.
LONGEST_SLEEP = 60.0


def runner() -> str:
    """Who runs, as ``job_runs`` and ``jobs list`` name it: host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


class JobsThread:
    """A running jobs' thread; ``stop`` ends it after the job it may be running."""

    def __init__(self, app: Flask, settings: jobs.JobSettings, sleep: float):
        self.stopping = threading.Event()
        self.thread = threading.Thread(
            target=run_due_jobs,
            args=(app, settings, sleep, self.stopping),
            name="flagpal-jobs",
            daemon=True,
        )
        self.thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self.stopping.set()
        self.thread.join(timeout)


def start(app: Flask) -> JobsThread | None:
    """Start the jobs' thread for ``app``, unless its settings turn jobs off."""
    if not app.config["JOBS"]:
        return None
    settings = jobs.JobSettings.from_config(app.config)
    # The app's logger gets its handler when first used: each run's line needs it.
    app.logger.debug("Starting the jobs thread")
    started = JobsThread(app, settings, min(LONGEST_SLEEP, settings.period.total_seconds() / 4))
    # At exit no new job starts (one running is cut short; its lease frees it later).
    atexit.register(started.stopping.set)
    return started


def run_due_jobs(app: Flask, settings: jobs.JobSettings, sleep: float, stopping) -> None:
    """The thread's loop: every ``sleep`` seconds, run the jobs that are due."""
    who = runner()
    while not stopping.wait(sleep):
        with app.app_context():
            try:
                for name in jobs.due(utcnow(), settings):
                    if stopping.is_set():
                        break
                    jobs.run(name, utcnow(), settings, runner=who)
            except Exception:  # the database gone a while, say: try again next time
                logger.exception("Running the due jobs failed")
            finally:
                db.session.remove()
