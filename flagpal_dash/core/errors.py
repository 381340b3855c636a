"""What the core raises when a rule says no; ``str()`` is the message to show."""


class DomainError(Exception):
    """A rule of the domain refused the action; nothing was changed."""


class NotFound(DomainError):
    """The thing asked for does not exist (or may not be seen)."""


class Conflict(DomainError):
    """The action clashes with what exists already, like a name in use."""
