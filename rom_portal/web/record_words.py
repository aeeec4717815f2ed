"""The client record in the reader's words: scores, dates, change categories and one chart per questionnaire.

Runs where the request's language is set. Everything a template shows is a ready string here, so the
templates only lay it out (and the report prints the same words as the page).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_decimal
from markupsafe import Markup

from rom_portal.i18n import N_
from rom_portal.i18n import gettext as _
from rom_portal.questionnaires import Change, ChangeCategory
from rom_portal.services.progress import SELF, InstrumentProgress, Measurement, ScaleValue, Series
from rom_portal.web import charts

CATEGORY_WORDS = {
    ChangeCategory.RECOVERED: N_("Recovered"),
    ChangeCategory.RELIABLY_IMPROVED: N_("Reliably improved"),
    ChangeCategory.NO_RELIABLE_CHANGE: N_("No reliable change"),
    ChangeCategory.RELIABLY_DETERIORATED: N_("Reliably deteriorated"),
}
# A class per category, so the page can mark them by more than colour (portal.css adds a symbol).
CATEGORY_CLASS = {
    ChangeCategory.RECOVERED: "recovered",
    ChangeCategory.RELIABLY_IMPROVED: "improved",
    ChangeCategory.NO_RELIABLE_CHANGE: "unchanged",
    ChangeCategory.RELIABLY_DETERIORATED: "deteriorated",
}


@dataclass(frozen=True)
class ChangeText:
    difference: str  # signed, in score points: "−11", "+3", "0"
    category: str  # the category in words
    kind: str  # recovered, improved, unchanged, deteriorated, unknown


@dataclass(frozen=True)
class Row:
    day: str
    respondent: str
    score: str  # "" when not scorable
    estimated: bool
    band: str
    since_first: ChangeText | None
    since_previous: ChangeText | None
    subscales: list[str]  # score (band) per subscale, "–" when missing
    assignment_public_id: str
    answers_hint: str  # completes the "Answers" link for screen readers: "of 3 May 2026, Client"


@dataclass(frozen=True)
class SeriesSummary:
    respondent: str
    count: int
    first: str  # "19 (Severe) on 3 January 2025"
    latest: str
    change: ChangeText | None  # None with fewer than two scored measurements


@dataclass(frozen=True)
class InstrumentView:
    key: str
    title: str
    abbreviation: str
    scale_label: str
    higher_is_better: bool
    low: str
    high: str
    cutoff: str  # "" without a cut-off
    threshold: str  # "" when change cannot be classified: the sentence says so
    threshold_source: str
    chart: Markup | None
    summaries: list[SeriesSummary]
    subscale_labels: list[str]
    rows: list[Row]


# A long record repeats the same scores and dates hundreds of times; Babel takes microseconds for each.
@lru_cache(maxsize=4096)
def _number(value: float, lang: str) -> str:
    return format_decimal(value, locale=lang)


@lru_cache(maxsize=4096)
def _date(day: date, pattern: str, lang: str) -> str:
    return format_date(day, pattern, locale=lang)


class RecordWords:
    def __init__(self, lang: str, timezone: str) -> None:
        self.lang = lang
        self.zone = ZoneInfo(timezone)

    # --- small pieces ---

    def number(self, value: float) -> str:
        return _number(value, self.lang)

    def signed(self, value: float) -> str:
        if value > 0:
            return f"+{self.number(value)}"
        if value < 0:
            return f"\u2212{self.number(-value)}"  # a real minus sign: read out as "minus"
        return self.number(0)

    def day_of(self, when: datetime) -> date:
        return when.astimezone(self.zone).date()

    def date(self, day: date, pattern: str = "d MMMM y") -> str:
        return _date(day, pattern, self.lang)

    def respondent(self, name: str) -> str:
        return _("Client") if name == SELF else name

    def scored(self, one: ScaleValue | None) -> str:
        """ "12 (Moderate)", "12" without a band, "–" without a score."""
        if one is None or one.value is None:
            return "–"
        score = self.number(one.value)
        return f"{score} ({one.band.label.get(self.lang)})" if one.band else score

    def change(self, change: Change | None) -> ChangeText | None:
        if change is None or change.difference is None:
            return None
        if change.category is None:
            return ChangeText(self.signed(change.difference), _("Not classifiable"), "unknown")
        return ChangeText(
            self.signed(change.difference), _(CATEGORY_WORDS[change.category]), CATEGORY_CLASS[change.category]
        )

    # --- a questionnaire ---

    def instrument(self, one: InstrumentProgress) -> InstrumentView:
        title = one.definition.title.get(self.lang)
        cutoff = one.scale.cutoff
        threshold = ""
        if one.threshold is not None:
            points = self.number(round(one.threshold.points, 1))
            if one.threshold.kind == "published":
                threshold = _("a change of %(points)s points or more") % {"points": points}
            else:
                threshold = _(
                    "a change of more than %(points)s points (1.96 × the standard error of the difference)"
                ) % {"points": points}
        return InstrumentView(
            key=one.key,
            title=title,
            abbreviation=one.definition.abbreviation,
            scale_label=one.scale.label.get(self.lang),
            higher_is_better=one.scale.direction == "higher_is_better",
            low=self.number(one.low),
            high=self.number(one.high),
            cutoff=self.number(cutoff.value) if cutoff else "",
            threshold=threshold,
            threshold_source=one.threshold.source if one.threshold else "",
            chart=self.chart(one, title) if any(series.scored for series in one.series) else None,
            summaries=[self.summary(series) for series in one.series],
            subscale_labels=[scale.label.get(self.lang) for scale in one.subscales],
            rows=[self.row(measurement) for measurement in one.measurements],
        )

    def row(self, one: Measurement) -> Row:
        value = one.value
        day, respondent = self.date(self.day_of(one.submitted_at)), self.respondent(one.respondent)
        return Row(
            day=day,
            respondent=respondent,
            score="" if value is None else self.number(value),
            estimated=bool(one.primary and one.primary.prorated),
            band=one.primary.band.label.get(self.lang) if one.primary and one.primary.band else "",
            since_first=self.change(one.since_first),
            since_previous=self.change(one.since_previous),
            subscales=[self.scored(sub) for sub in one.subscales],
            assignment_public_id=one.assignment_public_id,
            answers_hint=_("of %(day)s, %(who)s") % {"day": day, "who": respondent},
        )

    def at(self, one: Measurement) -> str:
        return _("%(score)s on %(day)s") % {
            "score": self.scored(one.primary),
            "day": self.date(self.day_of(one.submitted_at)),
        }

    def summary(self, series: Series) -> SeriesSummary:
        scored = series.scored
        return SeriesSummary(
            respondent=self.respondent(series.respondent),
            count=len(scored),
            first=self.at(scored[0]) if scored else "",
            latest=self.at(scored[-1]) if scored else "",
            change=self.change(series.overall),
        )

    def chart(self, one: InstrumentProgress, title: str) -> Markup:
        days = [self.day_of(m.submitted_at) for series in one.series for m in series.scored]
        pattern = "d MMM" if len({day.year for day in days}) == 1 else "MMM y"
        drawn = [
            charts.Series(
                self.respondent(series.respondent),
                [
                    charts.Point(self.day_of(m.submitted_at), m.value, self.tooltip(series, m))
                    for m in series.scored
                    if m.value is not None
                ],
            )
            for series in one.series
            if series.scored
        ]
        cutoff = one.scale.cutoff
        return charts.line_chart(
            drawn,
            low=one.low,
            high=one.high,
            title=_("%(title)s: scores over time") % {"title": title},
            summary=self.chart_summary(one),
            chart_id=f"chart-{one.key}",
            bands=charts.scale_bands(one.scale, self.lang),
            cutoff=charts.Cutoff(cutoff.value, _("Cut-off: %(value)s") % {"value": self.number(cutoff.value)})
            if cutoff
            else None,
            date_label=lambda day: self.date(day, pattern),
            number=self.number,
        )

    def tooltip(self, series: Series, one: Measurement) -> str:
        day = self.date(self.day_of(one.submitted_at))
        return f"{self.respondent(series.respondent)}, {day}: {self.scored(one.primary)}"

    def chart_summary(self, one: InstrumentProgress) -> str:
        """What the chart shows, for people who do not see it: per respondent the first and latest score."""
        parts = []
        for series in one.series:
            summary = self.summary(series)
            if summary.count == 0:
                continue
            if summary.count == 1:
                parts.append(_("%(who)s: one score, %(first)s.") % {"who": summary.respondent, "first": summary.first})
                continue
            parts.append(
                _("%(who)s: %(num)s scores, the first %(first)s, the latest %(latest)s.")
                % {"who": summary.respondent, "num": summary.count, "first": summary.first, "latest": summary.latest}
            )
        direction = (
            _("A higher score is better.")
            if one.scale.direction == "higher_is_better"
            else _("A lower score is better.")
        )
        return " ".join([*parts, direction])
