"""The overview's per-day charts (SVG drawn on the server): a labelled y-axis with its
ticks, and a legend telling this period's bars from the previous period's line."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from designer.charts import day_chart

SVG = "{http://www.w3.org/2000/svg}"
DAYS = [("2026-03-01", 4), ("2026-03-02", 10), ("2026-03-03", None)]


def parsed(markup) -> ET.Element:
    return ET.fromstring(str(markup))


class TestYAxis:
    def test_ticks_at_zero_half_and_top_and_the_axis_is_labelled(self):
        svg = parsed(day_chart(DAYS, [2, 6, 8], title="Conversations",
                               y_label="Conversations per day"))
        axis = svg.find(f"{SVG}g[@class='y-axis']")
        ticks = [t.text for t in axis.findall(f"{SVG}text[@class='tick']")]
        assert ticks == ["0", "5", "10"]
        label = axis.find(f"{SVG}text[@class='y-label']")
        assert label.text == "Conversations per day"
        assert label.get("transform").startswith("rotate(-90")

    def test_ticks_read_as_the_figure_does(self):
        svg = parsed(day_chart([("2026-03-01", 0.5), ("2026-03-02", 1.0)], title="Share",
                               tick=lambda v: f"{v * 100:.0f}%"))
        ticks = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "tick"]
        assert ticks == ["0%", "50%", "100%"]
        # Without a y_label, the title labels the axis.
        assert [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "y-label"] == \
            ["Share"]

    def test_ticks_are_round_numbers_above_the_tallest_bar(self):
        svg = parsed(day_chart([("2026-03-01", 8915), ("2026-03-02", 310)],
                               title="Conversations"))
        ticks = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "tick"]
        assert ticks == ["0", "5k", "10k"]

    def test_the_top_tick_is_where_the_tallest_bar_ends(self):
        markup = str(day_chart(DAYS, title="Conversations"))
        tallest = re.search(r'data-value="10" x="[\d.]+" y="([\d.]+)"', markup).group(1)
        top_tick = re.search(r'<line x1="\d+" y1="([\d.]+)"[^>]*/><text class="tick"'
                             r'[^>]*>10</text>', markup).group(1)
        assert float(tallest) == float(top_tick)


class TestLegend:
    def test_it_names_this_period_and_the_previous_one_in_their_colours(self):
        svg = parsed(day_chart(DAYS, [2, 6, 8], title="Conversations"))
        legend = svg.find(f"{SVG}g[@class='legend']")
        assert [t.text for t in legend.findall(f"{SVG}text")] == ["This period",
                                                                 "Previous period"]
        bar = svg.find(f"{SVG}rect[@class='bar']")
        line = svg.find(f"{SVG}polyline[@class='previous']")
        assert legend.find(f"{SVG}rect").get("fill") == bar.get("fill")
        assert legend.find(f"{SVG}line").get("stroke") == line.get("stroke")
        assert legend.find(f"{SVG}line").get("stroke-dasharray") == \
            line.get("stroke-dasharray")

    def test_without_a_previous_period_it_names_this_one_only(self):
        svg = parsed(day_chart(DAYS, title="Conversations"))
        legend = svg.find(f"{SVG}g[@class='legend']")
        assert [t.text for t in legend.findall(f"{SVG}text")] == ["This period"]
