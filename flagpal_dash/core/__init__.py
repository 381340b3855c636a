"""The domain core: one module per area, each owning its rules and its queries.

Callable without a request: the actor and the clock are arguments. A broken rule raises
a ``errors.DomainError``, which each front door (web page, htmx fragment, command line)
turns into its own answer.
"""
