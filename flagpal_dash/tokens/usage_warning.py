"""What revoking or rotating a token would interrupt, in one sentence for its dialog,
from ``core.usage.recent_use``."""

from datetime import datetime

from ..core import usage
from ..dates import relative
from ..models import ApiToken

REVOKING = "apps using it will stop working"
ROTATING = "update those apps before the old token stops working"


def usage_warning(token: ApiToken, now: datetime, consequence: str = REVOKING) -> str:
    """The sentence; ``consequence`` ends it when the token is in use."""
    use = usage.recent_use(token, now)
    last = use.last_used_at
    if use.in_last_day:
        count = use.last_day
        times = "" if not count else " once" if count == 1 else f" {count:,} times"
        when = f", last used {relative(last, now)}" if last is not None else ""
        return f"Used{times} in the last 24 hours{when} — {consequence}."
    if use.in_window:
        when = f"; last used {relative(last, now)}" if last is not None else ""
        return f"Not used in the last 24 hours{when}."
    if last is None:
        # Not "not used in the last 30 days" of a token made a minute ago.
        return "Never used."
    return f"Not used in the last {usage.WINDOW_DAYS} days."
