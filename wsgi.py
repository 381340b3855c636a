"""The app for servers and the command line: ``gunicorn wsgi:app``, ``flask --app wsgi``."""

import sys

from flagpal_dash import create_app
from flagpal_dash.config import ConfigError

# gunicorn's exit status for "the app cannot load": its master stops at once instead of
# starting the worker again and again. Any non-zero status serves the command line.
APP_LOAD_ERROR = 4

try:
    app = create_app()
except ConfigError as error:
    # A setting the app cannot use: one line naming it, no traceback.
    print(f"Error: {error}", file=sys.stderr)
    sys.exit(APP_LOAD_ERROR)
