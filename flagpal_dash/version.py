"""The app's version: what the installed package's metadata says (pyproject.toml's
``version``), so the command line, the readiness probe and the footer never disagree
with what pip installed."""

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "flagpal-dash"


def app_version() -> str:
    """The installed version, e.g. ``0.1.0``."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        # Imported from a checkout that was never installed (not even editable): there
        # is no metadata to read, and a made-up number would be worse than saying so.
        return "unknown (not installed)"
