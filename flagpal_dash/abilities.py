"""What a token may do. Plain Python, no Flask.

``*`` is "Full access": everything, including abilities added later. Every other
ability grants only itself.
"""

FULL_ACCESS = "*"
READ = "read"
WRITE = "write"
METRICS = "metrics"
# Only for the token's own replacement: POST /api/v1/token/rotate (core/tokens.py).
ROTATE = "rotate"

# In the order the dashboard offers them.
LABELS: dict[str, str] = {
    FULL_ACCESS: "Full access",
    READ: "Read",
    WRITE: "Write",
    METRICS: "Metrics",
    ROTATE: "Rotate itself",
}
DESCRIPTIONS: dict[str, str] = {
    FULL_ACCESS: "Everything, including abilities added later",
    READ: "Read features, funnels and actors",
    WRITE: "Save actors",
    METRICS: "Send metric time series",
    ROTATE: "Replace itself with a new token, so an app or CI job can renew its own",
}
ALL = frozenset(LABELS)


def normalize(abilities: set[str] | frozenset[str]) -> frozenset[str]:
    """Full access makes every other ability redundant, so it is stored alone."""
    if FULL_ACCESS in abilities:
        return frozenset({FULL_ACCESS})
    return frozenset(abilities)


def grants(abilities: frozenset[str], needed: str) -> bool:
    """Whether a token with ``abilities`` may do what ``needed`` names."""
    return FULL_ACCESS in abilities or needed in abilities


def ordered(abilities: frozenset[str]) -> list[str]:
    """Abilities in the dashboard's order, for display and storage."""
    return [ability for ability in LABELS if ability in abilities]
