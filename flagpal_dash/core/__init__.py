"""The domain core: one module per area, each owning its rules and its queries.

Callable without a request: who acts and when are arguments, settings are passed in.
Rules refuse with the errors in ``errors.py``; each front door (a page, an htmx
fragment, a CLI ``Error:`` line) words them its own way.
"""
