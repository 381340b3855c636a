"""What the core raises when a rule refuses. Each error carries a ``code`` and the facts;
the door that called words it. A rule whose sentence is the same at every door gives it
as ``message`` (``str()`` of the error); otherwise ``str()`` is only the code."""


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, code: str | None = None, *, message: str | None = None, **facts):
        self.code = code or type(self).code
        self.facts = facts
        super().__init__(message or self.code)

    def __getattr__(self, name):
        try:
            return self.__dict__["facts"][name]
        except KeyError:
            raise AttributeError(name) from None


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    """The change would break a rule about what exists (the last owner, a taken slug);
    the web answers 409."""

    code = "conflict"
