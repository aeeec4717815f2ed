"""The plan forms as the therapist typed them: every problem gets a message for its field, nothing typed is lost.

Messages come back in the reader's language, so call these from the request (where the language is set).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, timedelta

from rom_portal.i18n import gettext as _
from rom_portal.labels import format_day
from rom_portal.models import Respondent
from rom_portal.questionnaires import Catalogue
from rom_portal.services.informants import RELATION_MAX
from rom_portal.services.onboarding import clean_text
from rom_portal.services.plans import MAX_INTERVAL_WEEKS, MAX_OCCASIONS, PlanSpec, Refused, Repeat, Schedule, due_dates

PAST_DAYS = 28  # a plan may start (or a one-off be due) at most four weeks back: catching up, not history
AHEAD_DAYS = 2 * 365  # and at most two years ahead: further is a typing mistake
TYPED_MAX = 100

_DAY_MONTH_YEAR = re.compile(r"(\d{1,2})[-/. ](\d{1,2})[-/. ](\d{4})")


def read_date(typed: str) -> date:
    """``2026-03-15`` (what a date field sends) or ``15-3-2026`` (typed by hand); ValueError otherwise."""
    text = typed.strip()
    found = _DAY_MONTH_YEAR.fullmatch(text)
    if found:
        day, month, year = (int(part) for part in found.groups())
        return date(year, month, day)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return date.fromisoformat(text)
    raise ValueError(typed)


def _whole(typed: str, low: int, high: int) -> int | None:
    text = typed.strip()
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if low <= value <= high else None


def _typed(form: Mapping[str, object], name: str) -> str:
    value = form.get(name, "")
    return value[:TYPED_MAX] if isinstance(value, str) else ""


@dataclass(frozen=True)
class RepeatTyped:
    """How a repeating plan goes on: every ``interval`` weeks until ``end`` or ``count`` times (one of the two)."""

    interval: str = ""
    end: str = ""
    count: str = ""


@dataclass(frozen=True)
class PlanTyped(RepeatTyped):
    questionnaire: str = ""
    respondent: str = Respondent.self.value
    relation: str = ""
    schedule: str = "once"  # once | repeat
    start: str = ""


def typed_plan(form: Mapping[str, object]) -> PlanTyped:
    values = {one.name: _typed(form, one.name) for one in fields(PlanTyped) if one.name in form}
    values["relation"] = clean_text(values.get("relation", ""))
    return PlanTyped(**values)


def typed_repeat(form: Mapping[str, object]) -> RepeatTyped:
    return RepeatTyped(**{one.name: _typed(form, one.name) for one in fields(RepeatTyped) if one.name in form})


def _date_problem(typed: str) -> tuple[date | None, str | None]:
    if not typed.strip():
        return None, _("Fill in a date.")
    try:
        return read_date(typed), None
    except ValueError:
        return None, _("Fill in a date as day-month-year, for example 15-03-2026.")


def refusal_message(refused: Refused, timezone: str = "Europe/Amsterdam") -> str:
    """Words for a schedule the plan could not take (see ``plans.Refused``)."""
    if refused.reason == "too_few":
        return _(
            "%(count)s occasions stay as they are, because they were started, sent or are past. "
            "Choose at least %(count)s times."
        ) % {"count": refused.number}
    if refused.reason == "end_before_start" and refused.day is not None:
        return _("The end date is before the first date of the plan (%(day)s).") % {
            "day": format_day(refused.day, timezone)
        }
    if refused.reason == "end_before_start":
        return _("The end date is before the first date.")
    return _(
        "This makes %(count)s occasions; at most %(max)s are possible. Choose an earlier end date or a longer interval."
    ) % {"count": refused.number, "max": MAX_OCCASIONS}


def read_repeat(typed: RepeatTyped, start_on: date | None = None) -> tuple[Repeat | None, dict[str, str]]:
    """Interval and end of a repeating plan; with ``start_on`` the end is checked against it."""
    problems: dict[str, str] = {}
    interval = _whole(typed.interval, 1, MAX_INTERVAL_WEEKS)
    if interval is None:
        problems["interval"] = _("Fill in a whole number of weeks from 1 to %(max)s.") % {"max": MAX_INTERVAL_WEEKS}
    end_on = count = None
    end, times = typed.end.strip(), typed.count.strip()
    if bool(end) == bool(times):
        problems["until"] = (
            _("Fill in an end date or a number of times, not both.")
            if end
            else _("Fill in an end date or a number of times.")
        )
    elif end:
        end_on, problem = _date_problem(end)
        if problem:
            problems["end"] = problem
        elif start_on is not None and end_on is not None and end_on < start_on:
            problems["end"] = _("The end date is before the first date.")
    else:
        count = _whole(times, 1, MAX_OCCASIONS)
        if count is None:
            problems["count"] = _("Fill in a number of times from 1 to %(max)s.") % {"max": MAX_OCCASIONS}
    if problems:
        return None, problems
    assert interval is not None
    return Repeat(interval, end_on, count), {}


def _start_problem(typed: str, today: date, timezone: str) -> tuple[date | None, str | None]:
    start_on, problem = _date_problem(typed)
    if problem or start_on is None:
        return None, problem
    earliest, latest = today - timedelta(days=PAST_DAYS), today + timedelta(days=AHEAD_DAYS)
    if start_on < earliest:
        return None, _("This date is too long ago. Choose a date from %(day)s on.") % {
            "day": format_day(earliest, timezone)
        }
    if start_on > latest:
        return None, _("This date is too far ahead. Choose a date before %(day)s.") % {
            "day": format_day(latest, timezone)
        }
    return start_on, None


def _who_problems(catalogue: Catalogue, typed: PlanTyped) -> dict[str, str]:
    problems: dict[str, str] = {}
    definition = catalogue.get(typed.questionnaire)
    if definition is None:
        problems["questionnaire"] = _("Choose a questionnaire.")
    if typed.respondent not in (Respondent.self.value, Respondent.informant.value):
        problems["respondent"] = _("Choose who fills it in.")
    elif definition is not None and definition.respondent.kind != typed.respondent:
        problems["respondent"] = (
            _("This questionnaire is filled in by an informant. Choose “An informant”, or another questionnaire.")
            if definition.respondent.kind == Respondent.informant.value
            else _("This questionnaire is filled in by the client. Choose “The client”, or another questionnaire.")
        )
    if typed.respondent == Respondent.informant.value:
        if not typed.relation:
            problems["relation"] = _("Fill in who the informant is to the client, for example “mother” or “teacher”.")
        elif len(typed.relation) > RELATION_MAX:
            problems["relation"] = _("Use at most 60 characters.")
    return problems


def read_plan(
    catalogue: Catalogue, typed: PlanTyped, today: date, timezone: str = "Europe/Amsterdam"
) -> tuple[PlanSpec | None, dict[str, str]]:
    """The plan the form describes, or the problems by field name (in the order of the form)."""
    problems = _who_problems(catalogue, typed)
    if typed.schedule not in ("once", "repeat"):
        problems["schedule"] = _("Choose once or repeating.")
    start_on, problem = _start_problem(typed.start, today, timezone)
    if problem:
        problems["start"] = problem
    repeat = None
    if typed.schedule == "repeat":
        repeat, repeat_problems = read_repeat(typed, start_on)
        problems.update(repeat_problems)
    if problems or start_on is None:
        return None, problems
    schedule = Schedule(start_on, repeat)
    try:
        due_dates(schedule)
    except Refused as refused:
        return None, {refused.field: refusal_message(refused, timezone)}
    relation = typed.relation if typed.respondent == Respondent.informant.value else ""
    return PlanSpec(typed.questionnaire, Respondent(typed.respondent), relation, schedule), {}
