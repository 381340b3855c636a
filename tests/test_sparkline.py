"""A token's 30-day sparkline as drawn in Python (``tokens/sparkline.py``): what a screen
reader is told and what is drawn, with no app or database. test_usage.py checks the
same figure on the API Tokens page."""

import re
from datetime import date

import pytest
from jinja2 import Environment
from markupsafe import Markup

from flagpal_dash.tokens.sparkline import Sparkline

from .support import soup

LAST_DAY = date(2026, 11, 20)


def svg_of(counts: list[int]):
    """The drawn sparkline of ``counts``, parsed, and the markup itself."""
    markup = Sparkline(tuple(counts), LAST_DAY).svg
    return soup(markup).find("svg"), markup


def bars_in(path) -> list[tuple[int, int, int]]:
    """(x, y, height) of each bar in a path's outline."""
    return [tuple(map(int, bar)) for bar in re.findall(r"M(\d+) (\d+)h2v(\d+)h-2z", path["d"])]


def test_the_svg_names_its_figure_and_draws_one_path_per_kind():
    counts = [0] * 30
    counts[0], counts[12], counts[28], counts[29] = 2, 1000, 198, 4
    svg, markup = svg_of(counts)
    assert isinstance(markup, Markup), "safe to put in a template as it is"
    assert svg["class"] == ["sparkline"] and svg["role"] == "img"
    assert svg["aria-label"] == "1,204 requests in the last 30 days, most on 3 Nov"
    assert (svg["width"], svg["height"], svg["viewbox"]) == ("89", "24", "0 0 89 24")
    assert svg["data-counts"] == ",".join(map(str, counts))
    # The empty days' ticks first, then the bars over them: one element each.
    assert [path["class"] for path in svg("path")] == [["spark-empty"], ["spark-bar"]]
    used, empty = (svg.find("path", class_=kind) for kind in ("spark-bar", "spark-empty"))
    # The busiest day full height; a quiet day still 2 units tall; all on the baseline.
    assert bars_in(used) == [(0, 22, 2), (36, 0, 24), (84, 19, 5), (87, 22, 2)]
    assert len(bars_in(empty)) == 26 and {(y, h) for _, y, h in bars_in(empty)} == {(23, 1)}
    assert not any(element.has_attr("style") for element in [svg, *svg("path")])


@pytest.mark.parametrize(
    "counts, label, kinds",
    [
        ([0] * 30, "No requests in the last 30 days", [["spark-empty"]]),
        (
            [0] * 29 + [1],
            "1 request in the last 30 days, on 20 Nov",
            [["spark-empty"], ["spark-bar"]],
        ),
        (list(range(1, 31)), "465 requests in the last 30 days, most on 20 Nov", [["spark-bar"]]),
    ],
)
def test_a_kind_of_day_that_is_missing_gets_no_path(counts, label, kinds):
    svg, _ = svg_of(counts)
    assert svg["aria-label"] == label
    assert [path["class"] for path in svg("path")] == kinds


def test_a_template_puts_it_in_unescaped():
    markup = Sparkline((0,) * 29 + (3,), LAST_DAY).svg
    template = Environment(autoescape=True).from_string("<td>{{ spark }}</td>")
    assert template.render(spark=markup) == f"<td>{markup}</td>"


@pytest.mark.parametrize(
    "counts, words",
    [
        ([0] * 30, "No requests in 30 days"),
        ([0] * 29 + [1], "1 request in 30 days"),
        ([0] * 28 + [1000, 204], "1,204 requests in 30 days"),
    ],
)
def test_the_figure_says_the_total_in_words_beside_the_bars(counts, words):
    """For a person who sees the bars but cannot read a chart; a screen reader gets the
    SVG's label instead, so the words are hidden from it."""
    figure = soup(Sparkline(tuple(counts), LAST_DAY).figure)
    svg, said = figure.select_one(".usage-figure").find_all(recursive=False)
    assert svg.name == "svg" and svg["role"] == "img"
    assert said["class"] == ["spark-words"] and said["aria-hidden"] == "true"
    assert said.get_text() == words
