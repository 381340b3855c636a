"""A token's 30-day usage as its row shows it: bars in an inline SVG with a sentence
saying the same for those who cannot see it, and a few words beside the bars for those
who can see them but cannot read a bar chart. The counts come from ``core.usage``."""

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from markupsafe import Markup, escape

from ..core import usage


@functools.cache
def bar_outline(x: int, height: int) -> str:
    """One sparkline bar as an SVG path outline: from its top left corner across, down to
    the baseline, back. Cached: there are only so many places and heights (30 × 24),
    and a busy page draws hundreds of bars."""
    width, full = Sparkline.BAR_WIDTH, Sparkline.HEIGHT
    return f"M{x} {full - height}h{width}v{height}h-{width}z"


@dataclass(frozen=True)
class Sparkline:
    """A token's requests per day, oldest first, ending on ``last_day``.

    Frozen, so equal figures hash alike: a page draws each distinct one once (most
    history rows share the empty one)."""

    counts: tuple[int, ...]
    last_day: date

    BAR_WIDTH = 2
    GAP = 1
    HEIGHT = 24

    @property
    def width(self) -> int:
        return len(self.counts) * (self.BAR_WIDTH + self.GAP) - self.GAP

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def busiest_day(self) -> date | None:
        """The day with the most requests (the latest, on a tie); None without any."""
        if not self.total:
            return None
        peak = max(self.counts)
        index = max(i for i, count in enumerate(self.counts) if count == peak)
        return self.last_day - timedelta(days=len(self.counts) - 1 - index)

    @property
    def label(self) -> str:
        """``1,204 requests in the last 30 days, most on 3 Nov``."""
        days = len(self.counts)
        total, busiest = self.total, self.busiest_day
        if busiest is None:
            return f"No requests in the last {days} days"
        requests = "1 request" if total == 1 else f"{total:,} requests"
        on = f"{busiest.day} {busiest:%b}"
        if max(self.counts) == total:
            return f"{requests} in the last {days} days, {'' if total == 1 else 'all '}on {on}"
        return f"{requests} in the last {days} days, most on {on}"

    @property
    def words(self) -> str:
        """``1,204 requests in 30 days``: the total, in words a person reads at a glance."""
        days, total = len(self.counts), self.total
        if not total:
            return f"No requests in {days} days"
        return f"{'1 request' if total == 1 else f'{total:,} requests'} in {days} days"

    @property
    def paths(self) -> tuple[str, str]:
        """The bars as two SVG path outlines: days with requests, and the empty days'
        ticks. Two elements per row instead of thirty keep a long page quick.

        One bar per day, as tall as its share of the busiest day (at least 2 units, so a
        quiet day still shows); a day without requests is a 1-unit tick on the baseline
        so the 30 days still read as such."""
        peak = max(self.counts, default=0) or 1
        step = self.BAR_WIDTH + self.GAP
        used, empty = [], []
        for day, count in enumerate(self.counts):
            if count:
                used.append(bar_outline(day * step, max(2, round(count / peak * self.HEIGHT))))
            else:
                empty.append(bar_outline(day * step, 1))
        return "".join(used), "".join(empty)

    @property
    def svg(self) -> Markup:
        """The inline SVG (a ``Markup``, safe in a template as it is), named for screen
        readers by its aria-label. Sizes are SVG attributes and colours come from app.css
        (``.spark-bar``, ``.spark-empty``), so it needs no inline style. Built here, not
        in a template macro, which is several times slower: a busy page draws a couple of
        dozen distinct ones."""
        used, empty = self.paths
        width, height = self.width, self.HEIGHT
        # Only the label is text; the rest are numbers.
        return Markup(
            f'<svg class="sparkline" role="img" aria-label="{escape(self.label)}"'
            f' width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
            f' data-counts="{",".join(map(str, self.counts))}">'
            + (f'<path class="spark-empty" d="{empty}"/>' if empty else "")
            + (f'<path class="spark-bar" d="{used}"/>' if used else "")
            + "</svg>"
        )

    @property
    def figure(self) -> Markup:
        """The bars with their words beside them, as a row shows them. The words are
        hidden from screen readers, which read the SVG's fuller label instead."""
        return Markup(
            f'<span class="usage-figure">{self.svg}'
            f'<span class="spark-words" aria-hidden="true">{escape(self.words)}</span></span>'
        )


def sparklines(token_ids, now: datetime) -> dict[int, Sparkline]:
    """The 30-day sparkline of each token, in one query."""
    today = now.astimezone(UTC).date()
    return {
        token_id: Sparkline(tuple(counts), today)
        for token_id, counts in usage.daily_counts(token_ids, now).items()
    }


def drawn(token_ids, now: datetime) -> dict[int, Markup]:
    """Each token's sparkline as SVG with its words, in one query, drawing each distinct
    figure once: on a long list most rows are history without use, and share one."""
    svgs: dict[Sparkline, Markup] = {}
    return {
        token_id: svgs.get(spark) or svgs.setdefault(spark, spark.figure)
        for token_id, spark in sparklines(token_ids, now).items()
    }
