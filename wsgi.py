"""The app for servers and the command line: ``gunicorn wsgi:app``, ``flask --app wsgi``."""

from flagpal_dash import create_app

app = create_app()
