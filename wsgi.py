"""The app for servers and the command line: ``gunicorn wsgi:app``, ``flask --app wsgi``.

Settings come from the environment, and from the settings file ``FLAGPAL_ENV_FILE``
names (flagpal_dash/settings_file.py) for what the environment does not set.
"""

import sys

from flagpal_dash import create_app, settings_file
from flagpal_dash.config import ConfigError

# gunicorn's exit status for "the app cannot load": its master stops at once instead of
# starting the worker again and again. Any non-zero status serves the command line.
APP_LOAD_ERROR = 4

try:
    settings_file.load()
    app = create_app()
except ConfigError as error:
    # A setting the app cannot use: one line naming it, no traceback.
    print(f"Error: {error}", file=sys.stderr)
    sys.exit(APP_LOAD_ERROR)
