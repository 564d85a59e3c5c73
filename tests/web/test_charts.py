"""The server-drawn SVG charts and the figures around them, without a browser or database."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from escrowd.transactions.domain import Period
from escrowd.web.charts import HEIGHT, Bar, bar_chart
from escrowd.web.figures import SPAN, label, percent, window

SVG = "{http://www.w3.org/2000/svg}"


def parsed(markup: str) -> ET.Element:
    return ET.fromstring(markup)  # noqa: S314  (our own markup)


def test_bars_are_proportional_and_negative_ones_hang_below_the_zero_line() -> None:
    bars = [Bar("Mar 4", 1000, "10.00 USD"), Bar("Mar 11", 500, "5.00 USD"),
            Bar("Mar 18", -250, "-2.50 USD"), Bar("Mar 25", 0, "0.00 USD")]  # fmt: skip
    svg = parsed(bar_chart(bars, title="Earnings", description="per week", axis=str))
    assert svg.get("role") == "img"
    assert svg.get("aria-label") == "Earnings"
    assert svg.findtext(f"{SVG}title") == "Earnings"
    rects = svg.findall(f"{SVG}rect")
    assert [int(r.get("data-value", "")) for r in rects] == [1000, 500, -250, 0]
    tall, half, negative, empty = (float(r.get("height", "")) for r in rects)
    assert abs(tall - 2 * half) < 0.2
    assert abs(tall - 4 * negative) < 0.2
    assert empty == 0
    # The positive bars end on the zero line where the negative one starts.
    zero = float(rects[2].get("y", ""))
    assert abs(float(rects[0].get("y", "")) + tall - zero) < 0.2
    assert rects[2].get("fill") != rects[0].get("fill")
    assert [r.findtext(f"{SVG}title") for r in rects][:2] == [
        "Mar 4: 10.00 USD",
        "Mar 11: 5.00 USD",
    ]
    # Gridlines at the bottom, zero and the top, labelled by ``axis``.
    labels = [t.text for t in svg.findall(f"{SVG}text")]
    assert {"-250", "0", "1000"} <= set(labels)


def test_text_is_escaped_and_a_chart_without_bars_says_so() -> None:
    markup = bar_chart(
        [Bar("<script>x</script>", 5, "a & b")], title='"T"', description="<d>", axis=str
    )
    assert "<script>" not in markup
    assert "&lt;script&gt;" in markup
    parsed(markup)  # well-formed
    empty = parsed(bar_chart([], title="None", description="none", axis=str))
    assert [t.text for t in empty.findall(f"{SVG}text")][-1] == "No data yet"
    assert empty.findall(f"{SVG}rect") == []


def test_a_fixed_top_scales_rates() -> None:
    svg = parsed(
        bar_chart([Bar("a", 5000, "50 %")], title="r", description="r", axis=percent, top=10_000)
    )
    (rect,) = svg.findall(f"{SVG}rect")
    plot = HEIGHT - 10 - 34
    assert abs(float(rect.get("height", "")) - plot / 2) < 0.2
    assert "100 %" in [t.text for t in svg.findall(f"{SVG}text")]


def test_percent_labels_and_windows() -> None:
    assert [percent(b) for b in (None, 0, 6667, 9650, 10_000, 4)] == [
        "–", "0 %", "66.7 %", "96.5 %", "100 %", "0 %"
    ]  # fmt: skip
    now = datetime(2031, 3, 12, 15, tzinfo=UTC)  # a Wednesday
    since, until = window(now, Period.week)
    assert (since, until) == (datetime(2030, 12, 16, tzinfo=UTC), datetime(2031, 3, 17, tzinfo=UTC))
    assert (until - since).days == 7 * SPAN[Period.week]
    assert window(now, Period.month) == (
        datetime(2030, 4, 1, tzinfo=UTC),
        datetime(2031, 4, 1, tzinfo=UTC),
    )
    assert window(now, Period.day)[1] == datetime(2031, 3, 13, tzinfo=UTC)
    assert (label(since, Period.week), label(since, Period.month)) == ("Dec 16", "Dec 2030")
