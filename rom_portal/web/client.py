"""The client's area: home (what to fill in, what is done) and their own results over time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_decimal
from markupsafe import Markup
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from rom_portal.i18n import current_language
from rom_portal.i18n import gettext as _
from rom_portal.models import Role
from rom_portal.services import client_area
from rom_portal.services.audit import Actor
from rom_portal.services.client_area import InstrumentResults, Measurement, NotFound
from rom_portal.web import charts
from rom_portal.web.access import auth_of, require
from rom_portal.web.filling import CLIENT_HOME


@require(Role.client)
async def client_home(request: Request) -> Response:
    today = client_area.practice_today(request.app.state.settings.timezone)
    try:
        home = await request.app.state.db.read(
            client_area.home_of, request.app.state.catalogue, auth_of(request).user_id, today
        )
    except NotFound:
        raise HTTPException(404) from None
    return request.app.state.templates.render(request, "client/home.html", {"home": home})


@require(Role.client)
async def client_results(request: Request) -> Response:
    actor = Actor(auth_of(request).user_id, Role.client.value, "web:client_results")
    try:
        results = await request.app.state.db.write(client_area.results_of, request.app.state.catalogue, actor)
    except NotFound:
        raise HTTPException(404) from None
    view = _Words(current_language.get(), request.app.state.settings.timezone)
    sections = [view.section(one) for one in results]
    return request.app.state.templates.render(request, "client/results.html", {"sections": sections})


def routes() -> list[BaseRoute]:
    return [
        Route(CLIENT_HOME, client_home, methods=["GET"], name="client_home"),
        Route("/client/results", client_results, methods=["GET"], name="client_results"),
    ]


# --- Results in words and as a chart ---------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    submitted_at: datetime
    score: str  # "" when not scorable
    estimated: bool
    band: str
    band_rank: int
    band_count: int
    band_low: str
    band_high: str


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    scale_label: str
    higher_is_better: bool
    low: str
    high: str
    cutoff: str  # "" without a cut-off
    chart: Markup | None  # None when no score could be calculated yet
    rows: list[Row]


class _Words:
    """Scores, dates and the chart in the reader's language (runs where the request's language is set)."""

    def __init__(self, lang: str, timezone: str) -> None:
        self.lang = lang
        self.zone = ZoneInfo(timezone)

    def number(self, value: float) -> str:
        return format_decimal(value, locale=self.lang)

    def day(self, when: datetime) -> date:
        return when.astimezone(self.zone).date()

    def row(self, one: Measurement) -> Row:
        band = one.band
        return Row(
            submitted_at=one.submitted_at,
            score="" if one.value is None else self.number(one.value),
            estimated=one.prorated,
            band=band.label.get(self.lang) if band else "",
            band_rank=one.band_rank,
            band_count=one.band_count,
            band_low=self.number(band.min) if band else "",
            band_high=self.number(band.max) if band else "",
        )

    def section(self, one: InstrumentResults) -> Section:
        title = one.definition.title.get(self.lang)
        cutoff = one.scale.cutoff
        return Section(
            key=one.key,
            title=title,
            scale_label=one.scale.label.get(self.lang),
            higher_is_better=one.scale.direction == "higher_is_better",
            low=self.number(one.low),
            high=self.number(one.high),
            cutoff=self.number(cutoff.value) if cutoff else "",
            chart=self.chart(one, title) if one.scored else None,
            rows=[self.row(measurement) for measurement in one.measurements],
        )

    def chart(self, one: InstrumentResults, title: str) -> Markup:
        scored = one.scored
        days = [self.day(m.submitted_at) for m in scored]
        pattern = "d MMM" if len({day.year for day in days}) == 1 else "d MMM y"

        def label(day: date) -> str:
            return format_date(day, pattern, locale=self.lang)

        points = [
            charts.Point(day, m.value, self.with_band(m, format_date(day, "d MMMM y", locale=self.lang)))
            for day, m in zip(days, scored, strict=True)
            if m.value is not None
        ]
        cutoff = one.scale.cutoff
        return charts.line_chart(
            [charts.Series(title, points)],
            low=one.low,
            high=one.high,
            title=_("%(title)s: your scores over time") % {"title": title},
            summary=self.summary(one, days),
            chart_id=f"chart-{one.key}",
            bands=charts.scale_bands(one.scale, self.lang),
            cutoff=charts.Cutoff(cutoff.value, _("Cut-off: %(value)s") % {"value": self.number(cutoff.value)})
            if cutoff
            else None,
            date_label=label,
            number=self.number,
        )

    def with_band(self, one: Measurement, prefix: str = "") -> str:
        score = self.number(one.value) if one.value is not None else ""
        text = f"{score} ({one.band.label.get(self.lang)})" if one.band else score
        return f"{prefix}: {text}" if prefix else text

    def summary(self, one: InstrumentResults, days: list[date]) -> str:
        """What the chart shows, in a few sentences, for people who do not see it."""
        scored = one.scored
        first, last = scored[0], scored[-1]
        if len(scored) == 1:
            text = _("One score, on %(day)s: %(score)s.") % {
                "day": format_date(days[0], "d MMMM y", locale=self.lang),
                "score": self.with_band(first),
            }
        else:
            text = _(
                "%(num)s scores, from %(first_day)s to %(last_day)s. The first was %(first)s, the latest %(last)s."
            ) % {
                "num": len(scored),
                "first_day": format_date(days[0], "d MMMM y", locale=self.lang),
                "last_day": format_date(days[-1], "d MMMM y", locale=self.lang),
                "first": self.with_band(first),
                "last": self.with_band(last),
            }
        if one.scale.direction == "higher_is_better":
            return f"{text} {_('A higher score is better.')}"
        return f"{text} {_('A lower score is better.')}"
