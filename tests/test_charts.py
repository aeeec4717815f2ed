"""The server-side SVG chart: points inside the plot, bands, cut-off, labels escaped, nothing the CSP refuses."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from rom_portal.paths import resource_dir
from rom_portal.questionnaires import Catalogue, load_catalogue
from rom_portal.web import charts
from rom_portal.web.charts import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH, ChartBand, Cutoff, Point, Series

SVG = "{http://www.w3.org/2000/svg}"
START = date(2025, 1, 6)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(resource_dir("questionnaires"))


def parse(markup: str) -> ET.Element:
    # Our own output, no DTD or entities: the standard parser is fine here.
    return ET.fromstring(str(markup))  # noqa: S314


def draw(values: list[float], **options: object) -> ET.Element:
    points = [Point(START + timedelta(days=28 * n), value) for n, value in enumerate(values)]
    defaults: dict[str, object] = {"low": 0, "high": 27, "title": "PHQ-9", "summary": "Scores", "chart_id": "c"}
    markup = charts.line_chart([Series("Client", points)], **{**defaults, **options})  # type: ignore[arg-type]
    return parse(markup)


def points_of(svg: ET.Element) -> list[tuple[float, float]]:
    return [(float(c.get("cx", 0)), float(c.get("cy", 0))) for c in svg.iter(f"{SVG}circle")]


def test_points_lie_inside_the_plot_in_order_of_time_and_value() -> None:
    svg = draw([19, 16, 12, 8, 27, 0])
    points = points_of(svg)
    assert len(points) == 6
    for x, y in points:
        assert LEFT < x < WIDTH - RIGHT
        assert TOP <= y <= HEIGHT - BOTTOM
    xs = [x for x, _ in points]
    assert xs == sorted(xs) and len(set(xs)) == 6
    ys = [y for _, y in points]
    assert ys[0] < ys[1] < ys[2] < ys[3]  # lower scores are drawn lower
    assert ys[4] == TOP and ys[5] == HEIGHT - BOTTOM  # the ends of the range are the edges of the plot
    line = next(svg.iter(f"{SVG}polyline"))
    assert len(line.get("points", "").split()) == 6


def test_a_single_point_sits_in_the_middle_without_a_line() -> None:
    svg = draw([12])
    [(x, _)] = points_of(svg)
    assert x == pytest.approx((LEFT + WIDTH - RIGHT) / 2)
    assert list(svg.iter(f"{SVG}polyline")) == []


def test_bands_are_shaded_in_order_and_fill_the_range(catalogue: Catalogue) -> None:
    bands = charts.scale_bands(catalogue["phq9"].scale("total"), "en")
    assert [(b.low, b.high) for b in bands] == [(0, 4.5), (4.5, 9.5), (9.5, 14.5), (14.5, 19.5), (19.5, 27)]
    assert [b.level for b in bands] == [0, 1, 2, 3, 4]  # higher is worse: the top band is the least favourable
    svg = draw([10], bands=bands)
    rects = [r for r in svg.iter(f"{SVG}rect") if "chart__band" in r.get("class", "")]
    assert len(rects) == 5
    tops = sorted(float(r.get("y", 0)) for r in rects)
    assert tops[0] == TOP
    bottom = max(float(r.get("y", 0)) + float(r.get("height", 0)) for r in rects)
    assert bottom == pytest.approx(HEIGHT - BOTTOM)
    assert sum(float(r.get("height", 0)) for r in rects) == pytest.approx(HEIGHT - BOTTOM - TOP, abs=0.5)
    labels = [t.text for t in svg.iter(f"{SVG}text") if "chart__band-label" in t.get("class", "")]
    assert labels == ["None or minimal", "Mild", "Moderate", "Moderately severe", "Severe"]


def test_bands_of_a_scale_where_higher_is_better_are_shaded_the_other_way(catalogue: Catalogue) -> None:
    bands = charts.scale_bands(catalogue["who5"].scale("total"), "nl")
    assert [b.label for b in bands] == ["Mogelijk depressie", "Verminderd welbevinden", "Voldoende welbevinden"]
    assert [b.level for b in bands] == [4, 2, 0]


def test_the_cut_off_is_a_dashed_line_at_its_score() -> None:
    svg = draw([12, 8], cutoff=Cutoff(10, "Cut-off: 10"))
    [line] = [e for e in svg.iter(f"{SVG}line") if e.get("class") == "chart__cutoff"]
    expected = HEIGHT - BOTTOM - 10 / 27 * (HEIGHT - BOTTOM - TOP)
    assert float(line.get("y1", 0)) == pytest.approx(expected, abs=0.05)
    assert line.get("y1") == line.get("y2")
    assert line.get("stroke-dasharray")
    assert any(t.text == "Cut-off: 10" for t in svg.iter(f"{SVG}text"))


def test_no_cut_off_line_without_a_cut_off() -> None:
    svg = draw([12, 8])
    assert [e for e in svg.iter(f"{SVG}line") if e.get("class") == "chart__cutoff"] == []


def test_axes_are_labelled_with_values_and_dates() -> None:
    svg = draw([19, 8], date_label=lambda day: day.strftime("%d-%m"))
    ticks = [t.text for t in svg.iter(f"{SVG}text") if "chart__tick" in t.get("class", "")]
    assert ticks == ["0", "5", "10", "15", "20", "25"]
    dates = {t.text for t in svg.iter(f"{SVG}text") if "chart__date" in t.get("class", "")}
    assert dates == {"06-01", "03-02"}


def test_date_labels_are_thinned_so_they_never_overlap() -> None:
    values = [float(n % 20) for n in range(52)]
    points = [Point(START + timedelta(days=7 * n), value) for n, value in enumerate(values)]
    markup = charts.line_chart(
        [Series("Client", points)], low=0, high=27, title="t", summary="s", chart_id="c", date_label=str
    )
    svg = parse(markup)
    labels = [t for t in svg.iter(f"{SVG}text") if "chart__date" in t.get("class", "")]
    assert 2 <= len(labels) < 10
    assert str(points[-1].when) in {t.text for t in labels}  # the latest date is always named
    xs = sorted(float(t.get("x", 0)) for t in labels)
    width = len(str(START)) * charts.PHONE_FONT * 0.56
    assert all(b - a >= width for a, b in itertools.pairwise(xs))
    assert len(list(svg.iter(f"{SVG}circle"))) == 52  # every point is still drawn


def test_texts_are_escaped() -> None:
    nasty = "<script>alert(\"x\")</script> & 'quotes'"
    markup = charts.line_chart(
        [Series(nasty, [Point(START, 3, tooltip=nasty)]), Series("b", [Point(START, 4)])],
        low=0,
        high=10,
        title=nasty,
        summary=nasty,
        chart_id='x" onload="alert(1)',
        bands=[ChartBand(0, 10, nasty, 0)],
        cutoff=Cutoff(5, nasty),
        date_label=lambda _: nasty,
    )
    text = str(markup)
    assert "<script" not in text and "onload=" not in text
    svg = parse(text)  # still well-formed
    assert svg.find(f"{SVG}title").text == nasty  # type: ignore[union-attr]
    assert svg.get("aria-labelledby") == "x--onload--alert-1--title x--onload--alert-1--desc"


def test_the_chart_is_an_image_with_a_title_and_summary_and_no_style_attributes() -> None:
    svg = draw([19, 8], bands=[ChartBand(0, 9.5, "low", 0), ChartBand(9.5, 27, "high", 4)], cutoff=Cutoff(10, "c"))
    assert svg.get("role") == "img"
    ids = svg.get("aria-labelledby", "").split()
    found = {e.get("id"): e for e in svg.iter() if e.get("id")}
    assert [found[i].tag for i in ids] == [f"{SVG}title", f"{SVG}desc"]
    assert found[ids[0]].text == "PHQ-9" and found[ids[1]].text == "Scores"
    for element in svg.iter():
        assert "style" not in element.attrib
        assert not any(name.startswith("on") for name in element.attrib)
        assert not any("href" in name for name in element.attrib)
    assert svg.get("viewBox") == f"0 0 {WIDTH} {HEIGHT}"


def test_several_series_get_a_legend_and_different_markers() -> None:
    series = [
        Series("Client", [Point(START, 12), Point(START + timedelta(days=30), 9)]),
        Series("Partner", [Point(START, 15), Point(START + timedelta(days=30), 14)]),
    ]
    svg = parse(str(charts.line_chart(series, low=0, high=27, title="t", summary="s", chart_id="c")))
    legend = next(g for g in svg.iter(f"{SVG}g") if g.get("class") == "chart__legend")
    assert [t.text for t in legend.iter(f"{SVG}text")] == ["Client", "Partner"]
    lines = [p for p in svg.iter(f"{SVG}polyline")]
    assert len(lines) == 2 and lines[0].get("stroke") != lines[1].get("stroke")
    assert lines[1].get("stroke-dasharray")  # told apart by more than colour
    assert len(list(svg.iter(f"{SVG}circle"))) == 3 and len(list(svg.iter(f"{SVG}rect"))) >= 3


def test_an_empty_chart_still_draws_its_axes() -> None:
    svg = parse(str(charts.line_chart([], low=0, high=21, title="t", summary="s", chart_id="c")))
    assert list(svg.iter(f"{SVG}circle")) == []
    assert [e for e in svg.iter(f"{SVG}line") if e.get("class") == "chart__axis"]
