"""Score charts drawn on the server as inline SVG: no JavaScript, nothing from elsewhere, no ``style=``.

Pure: plain values in, markup out, so the client's results page and the therapist's workspace draw the
same chart (the workspace with one series per respondent). Every text is escaped here; callers pass
words already in the reader's language. Colours are presentation attributes (allowed by the CSP, unlike
``style=``); the classes let portal.css adjust them, e.g. a larger font on a phone, where the chart shrinks.

The chart is an image for screen readers (``role="img"`` with a title and a summary): always give the
same data as a table next to it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

from rom_portal.questionnaires import Scale

# Drawing units; the SVG scales to the width of its container.
WIDTH = 480
HEIGHT = 300
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 34
INSET = 24  # keeps the first and last points off the axes
FONT = 13
# Sizes for spacing decisions are those of the phone style (portal.css sets labels to 19 units there).
PHONE_FONT = 19
LEGEND_ROW = 26
BAND_FILLS = ("#dcefe1", "#e9f2d8", "#fbf1d3", "#fbe3cf", "#f7d9d9")  # most to least favourable
SERIES_STROKES = ("#1d4e89", "#8a4b00", "#4b2a7a", "#14633a")
SERIES_DASHES = ("", "8 4", "2 4", "10 3 2 3")
INK, MUTED, GRID = "#1a1a1a", "#4a4f57", "#c5cbd3"


@dataclass(frozen=True)
class Point:
    when: date
    value: float
    tooltip: str = ""  # shown on hover, e.g. "3 Mar: 14 (moderate)"


@dataclass(frozen=True)
class Series:
    name: str  # shown in a legend when there is more than one series
    points: Sequence[Point]


@dataclass(frozen=True)
class ChartBand:
    low: float
    high: float
    label: str
    level: int  # shade: 0 most favourable ... 4 least favourable


@dataclass(frozen=True)
class Cutoff:
    value: float
    label: str


def plain_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def scale_bands(scale: Scale, lang: str) -> list[ChartBand]:
    """A scale's bands for the chart, shaded from most to least favourable along its direction.

    Published bands are inclusive ranges of rounded scores (0-4, 5-9): the shading meets halfway between
    them, so a score of 5 is drawn inside "5-9" rather than on its edge.
    """
    ordered = sorted(scale.bands, key=lambda band: band.min)
    count = len(ordered)
    bands: list[ChartBand] = []
    for index, band in enumerate(ordered):
        low = band.min if index == 0 else (ordered[index - 1].max + band.min) / 2
        high = band.max if index == count - 1 else (band.max + ordered[index + 1].min) / 2
        rank = index if scale.direction == "higher_is_worse" else count - 1 - index
        level = 0 if count == 1 else round(rank * (len(BAND_FILLS) - 1) / (count - 1))
        bands.append(ChartBand(low, high, band.label.get(lang), level))
    return bands


def _nice_ticks(low: float, high: float, most: int = 6) -> list[float]:
    span = high - low
    if span <= 0:
        return [low]
    magnitude = 10 ** math.floor(math.log10(span))
    for step in (m * magnitude / 10 for m in (1, 2, 5, 10, 20, 50, 100)):
        if math.floor(span / step + 1e-9) + 1 <= most:
            break
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _text_width(text: str, size: float) -> float:
    return len(text) * size * 0.56


def _f(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def line_chart(
    series: Sequence[Series],
    *,
    low: float,
    high: float,
    title: str,
    summary: str,
    chart_id: str,
    bands: Sequence[ChartBand] = (),
    cutoff: Cutoff | None = None,
    date_label: Callable[[date], str] = date.isoformat,
    number: Callable[[float], str] = plain_number,
) -> Markup:
    """Scores over time: one line per series, shaded bands, a dashed cut-off line, labelled axes."""
    if high <= low:
        high = low + 1
    ident = re.sub(r"[^A-Za-z0-9_-]", "-", chart_id) or "chart"
    named = len(series) > 1
    top = TOP + (LEGEND_ROW * len(series) if named else 0)
    height = HEIGHT + (top - TOP)
    left, right, bottom = LEFT, WIDTH - RIGHT, height - BOTTOM

    def y_of(value: float) -> float:
        clamped = min(max(value, low), high)
        return bottom - (clamped - low) / (high - low) * (bottom - top)

    days = sorted({point.when for one in series for point in one.points})
    first_day, last_day = (days[0], days[-1]) if days else (date.min, date.min)
    span = (last_day - first_day).days

    def x_of(when: date) -> float:
        if span == 0:
            return (left + right) / 2
        return left + INSET + (when - first_day).days / span * (right - left - 2 * INSET)

    lines = [[(x_of(p.when), y_of(p.value)) for p in sorted(one.points, key=lambda p: p.when)] for one in series]
    parts: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" focusable="false" font-size="{FONT}" fill="{INK}">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(summary)}</desc>',
    ]
    cutoff_parts: list[str] = []
    taken: list[Box] = []
    if cutoff is not None and low <= cutoff.value <= high:
        y = y_of(cutoff.value)
        lines.append([(left, y), (right, y)])
        offset = PHONE_FONT / 2 + 3
        candidates = [
            (x, y + dy, anchor) for dy in (-offset, offset) for x, anchor in ((left + 6, "start"), (right - 6, "end"))
        ]
        x, y_mid, anchor = _place(cutoff.label, candidates, lines[:-1], taken)
        taken.append(_box(x, y_mid, cutoff.label, anchor))
        cutoff_parts.append(
            f'<line class="chart__cutoff" x1="{left}" x2="{right}" y1="{_f(y)}" y2="{_f(y)}" stroke="{INK}" '
            f'stroke-width="1.5" stroke-dasharray="6 4"/>'
        )
        cutoff_parts.append(_label("chart__cutoff-label", x, y_mid, anchor, cutoff.label, INK))
    shading, band_labels = _bands(bands, left, right, y_of, lines, taken)
    parts += shading
    parts += _y_axis(low, high, left, right, y_of, number)
    parts += _x_axis(days, left, right, bottom, x_of, date_label)
    parts += cutoff_parts[:1] + band_labels + cutoff_parts[1:]
    for index, one in enumerate(series):
        parts += _series(index, one, x_of, y_of)
    if named:
        parts += _legend(series)
    parts.append("</svg>")
    # Safe: every caller-given text went through escape() above; the rest are numbers and fixed names.
    return Markup("".join(parts))  # noqa: S704


def _label(kind: str, x: float, y_mid: float, anchor: str, text: str, colour: str) -> str:
    # The white outline (painted under the letters) keeps a label readable where it crosses shading or lines.
    return (
        f'<text class="chart__label {kind}" x="{_f(x)}" y="{_f(y_mid)}" text-anchor="{anchor}" '
        f'dominant-baseline="middle" fill="{colour}" stroke="#ffffff" stroke-width="3" paint-order="stroke">'
        f"{escape(text)}</text>"
    )


def _box(x: float, y_mid: float, text: str, anchor: str) -> Box:
    """Room a label takes at the phone's (larger) font size, with a little margin."""
    width = _text_width(text, PHONE_FONT)
    start = x - width if anchor == "end" else x
    return (start - 3, y_mid - PHONE_FONT / 2, start + width + 3, y_mid + PHONE_FONT / 2)


def _crossings(box: Box, lines: Sequence[Sequence[tuple[float, float]]], taken: Sequence[Box]) -> int:
    """How much of the lines (their points and segments, sampled) and other labels fall in ``box``."""
    x0, y0, x1, y1 = box
    margin = 5  # a marker's radius
    near = (x0 - margin, y0 - margin, x1 + margin, y1 + margin)
    count = 0
    for line in lines:
        for (ax, ay), (bx, by) in zip(line, line[1:] or line, strict=False):
            # Most segments of a long series are nowhere near the label.
            if (ax < near[0] and bx < near[0]) or (ax > near[2] and bx > near[2]):
                continue
            if (ay < near[1] and by < near[1]) or (ay > near[3] and by > near[3]):
                continue
            count += _samples_inside(ax, ay, bx, by, near)
    for ox0, oy0, ox1, oy1 in taken:
        if x0 < ox1 and ox0 < x1 and y0 < oy1 and oy0 < y1:
            count += 1000
    return count


def _samples_inside(ax: float, ay: float, bx: float, by: float, box: Box) -> int:
    """How many of a segment's sample points (one every 3 units, both ends included) lie in ``box``.

    Counted from the part of the segment inside the box (Liang-Barsky clipping), not by visiting each point:
    a chart of several 50-point series tries dozens of label places, and sampling them all cost milliseconds.
    """
    steps = max(1, int(math.hypot(bx - ax, by - ay) / 3))
    low, high = 0.0, 1.0
    for start, delta, lower, upper in ((ax, bx - ax, box[0], box[2]), (ay, by - ay, box[1], box[3])):
        if delta == 0:
            if not lower <= start <= upper:
                return 0
            continue
        enter, leave = (lower - start) / delta, (upper - start) / delta
        if delta < 0:
            enter, leave = leave, enter
        low, high = max(low, enter), min(high, leave)
    if low > high:
        return 0
    return max(0, math.floor(high * steps + 1e-9) - math.ceil(low * steps - 1e-9) + 1)


def _place(
    text: str,
    candidates: Sequence[tuple[float, float, str]],
    lines: Sequence[Sequence[tuple[float, float]]],
    taken: Sequence[Box],
) -> tuple[float, float, str]:
    """The first place where the label covers nothing, else the one where it covers least."""
    return min(candidates, key=lambda c: (_crossings(_box(c[0], c[1], text, c[2]), lines, taken), candidates.index(c)))


def _bands(
    bands: Sequence[ChartBand],
    left: float,
    right: float,
    y_of: Callable[[float], float],
    lines: Sequence[Sequence[tuple[float, float]]],
    taken: list[Box],
) -> tuple[list[str], list[str]]:
    """The shading, and the labels placed where they cover no line nor another label if possible."""
    parts: list[str] = []
    labels: list[str] = []
    for band in bands:
        y_top, y_bottom = y_of(band.high), y_of(band.low)
        if y_bottom - y_top <= 0:
            continue
        level = min(max(band.level, 0), len(BAND_FILLS) - 1)
        parts.append(
            f'<rect class="chart__band chart__band--{level}" x="{left}" y="{_f(y_top)}" '
            f'width="{right - left}" height="{_f(y_bottom - y_top)}" fill="{BAND_FILLS[level]}"/>'
        )
        if y_bottom - y_top < PHONE_FONT * 1.5:
            continue  # too narrow to name inside; the table names every level
        middle, edge = (y_top + y_bottom) / 2, PHONE_FONT / 2 + 2
        heights = [middle] + ([y_top + edge, y_bottom - edge] if y_bottom - y_top >= 2 * PHONE_FONT + 4 else [])
        ends = ((right - 6, "end"), (left + 6, "start"))
        x, y_mid, anchor = _place(band.label, [(x, y, a) for y in heights for x, a in ends], lines, taken)
        taken.append(_box(x, y_mid, band.label, anchor))
        labels.append(_label("chart__band-label", x, y_mid, anchor, band.label, MUTED))
    return parts, labels


def _y_axis(
    low: float,
    high: float,
    left: float,
    right: float,
    y_of: Callable[[float], float],
    number: Callable[[float], str],
) -> list[str]:
    parts = []
    for tick in _nice_ticks(low, high):
        y = _f(y_of(tick))
        parts.append(f'<line class="chart__grid" x1="{left}" x2="{right}" y1="{y}" y2="{y}" stroke="{GRID}"/>')
        parts.append(
            f'<text class="chart__label chart__tick" x="{left - 6}" y="{y}" text-anchor="end" '
            f'dominant-baseline="middle">{escape(number(tick))}</text>'
        )
    parts.append(
        f'<line class="chart__axis" x1="{left}" x2="{left}" y1="{_f(y_of(high))}" y2="{_f(y_of(low))}" stroke="{INK}"/>'
    )
    return parts


def _x_axis(
    days: list[date],
    left: float,
    right: float,
    bottom: float,
    x_of: Callable[[date], float],
    date_label: Callable[[date], str],
) -> list[str]:
    parts = [f'<line class="chart__axis" x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="{INK}"/>']
    # Label from the latest date backwards, skipping dates whose label would touch the previous one.
    chosen: list[tuple[float, str]] = []
    for day in reversed(days):
        x, text = x_of(day), date_label(day)
        half = _text_width(text, PHONE_FONT) / 2
        if chosen:
            last_x, last_text = chosen[-1]
            if last_x - _text_width(last_text, PHONE_FONT) / 2 - (x + half) < 8:
                continue
        chosen.append((x, text))
    for x, text in chosen:
        parts.append(
            f'<line class="chart__tick-mark" x1="{_f(x)}" x2="{_f(x)}" y1="{bottom}" y2="{bottom + 5}" stroke="{INK}"/>'
        )
        half = _text_width(text, PHONE_FONT) / 2
        anchor = "middle"
        if x - half < 0:
            anchor = "start"
        elif x + half > WIDTH:
            anchor = "end"
        parts.append(
            f'<text class="chart__label chart__date" x="{_f(x)}" y="{bottom + 22}" '
            f'text-anchor="{anchor}">{escape(text)}</text>'
        )
    return parts


def _marker(index: int, x: float, y: float, colour: str, tooltip: str = "") -> str:
    """A point's marker; its shape differs per series, so the lines differ in more than colour."""
    paint = f'fill="{colour}" stroke="#ffffff" stroke-width="1.5" class="chart__point"'
    shape = index % 3
    if shape == 0:
        tag, where = "circle", f'cx="{_f(x)}" cy="{_f(y)}" r="4.5"'
    elif shape == 1:
        tag, where = "rect", f'x="{_f(x - 4)}" y="{_f(y - 4)}" width="8" height="8"'
    else:
        tag, where = "polygon", f'points="{_f(x)},{_f(y - 5.5)} {_f(x + 5)},{_f(y + 4)} {_f(x - 5)},{_f(y + 4)}"'
    if not tooltip:
        return f"<{tag} {where} {paint}/>"
    return f"<{tag} {where} {paint}><title>{escape(tooltip)}</title></{tag}>"


def _series(index: int, one: Series, x_of: Callable[[date], float], y_of: Callable[[float], float]) -> list[str]:
    colour = SERIES_STROKES[index % len(SERIES_STROKES)]
    dash = SERIES_DASHES[index % len(SERIES_DASHES)]
    points = sorted(one.points, key=lambda point: point.when)
    parts = [f'<g class="chart__series chart__series--{index}">']
    if len(points) > 1:
        path = " ".join(f"{_f(x_of(p.when))},{_f(y_of(p.value))}" for p in points)
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<polyline class="chart__line" points="{path}" fill="none" stroke="{colour}" stroke-width="2.5" '
            f'stroke-linejoin="round"{dashes}/>'
        )
    parts += [_marker(index, x_of(point.when), y_of(point.value), colour, point.tooltip) for point in points]
    parts.append("</g>")
    return parts


def _legend(series: Sequence[Series]) -> list[str]:
    parts = ['<g class="chart__legend">']
    for index, one in enumerate(series):
        y = TOP + LEGEND_ROW * index + LEGEND_ROW / 2
        colour = SERIES_STROKES[index % len(SERIES_STROKES)]
        dash = SERIES_DASHES[index % len(SERIES_DASHES)]
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + 28}" y1="{_f(y)}" y2="{_f(y)}" stroke="{colour}" '
            f'stroke-width="2.5"{dashes}/>'
        )
        parts.append(_marker(index, LEFT + 14, y, colour))
        parts.append(
            f'<text class="chart__label chart__legend-label" x="{LEFT + 36}" y="{_f(y)}" '
            f'dominant-baseline="middle">{escape(one.name)}</text>'
        )
    parts.append("</g>")
    return parts
