"""The researcher's page: choose questionnaires, occasions and strata, preview the figures, download them.

Everything is a GET with the choices in the query (``questionnaire``, ``occasion`` and ``stratum`` repeated, plus
``nth``), so a preview is a bookmarkable read. Each preview and each download
computes the export afresh (consent is taken as it is at that moment) and writes one audit row. The figures are
aggregates with small cells already suppressed by the service; this module only puts them into words.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import anyio
import anyio.to_thread
from babel.dates import format_date
from babel.numbers import format_decimal
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from rom_portal.i18n import N_, current_language
from rom_portal.i18n import gettext as _
from rom_portal.models import Role
from rom_portal.questionnaires import Catalogue, ChangeCategory, Questionnaire
from rom_portal.services.audit import Actor
from rom_portal.services.research.export import (
    ALL,
    CHANGE,
    ResearchExport,
    Table,
    compute_export,
    record_export,
)
from rom_portal.services.research.files import csv_zip_bytes, file_name, json_bytes
from rom_portal.services.research.request import ExportRequest, form_values, parse_request
from rom_portal.web.access import auth_of, require
from rom_portal.web.record_words import CATEGORY_WORDS

T = TypeVar("T")
PREVIEW_MARKER = "preview"  # in the query: the form was sent (so an empty choice is a mistake, not a first visit)

# --- Parsing and computing -------------------------------------------------------------------------------------


def _typed(request: Request) -> dict[str, object]:
    """The choices as typed, under the names ``parse_request`` and ``form_values`` use."""
    query = request.query_params
    return {
        "questionnaires": query.getlist("questionnaire"),
        "occasions": query.getlist("occasion"),
        "nth": query.get("nth", "")[:200],
        "strata": query.getlist("stratum"),
    }


def _parse(request: Request, typed: dict[str, object]) -> tuple[ExportRequest | None, dict[str, str]]:
    return parse_request(request.app.state.catalogue, **typed)  # type: ignore[arg-type]


def _query(values: dict[str, object], request: Request) -> str:
    """The query string of a form's values: what the preview page and the download links carry."""
    pairs = [("questionnaire", key) for key in values["questionnaires"]]  # type: ignore[attr-defined]
    pairs += [("occasion", name) for name in values["occasions"]]  # type: ignore[attr-defined]
    pairs.append(("nth", str(values["nth"])))
    pairs += [("stratum", name) for name in values["strata"]]  # type: ignore[attr-defined]
    pairs.append((PREVIEW_MARKER, "1"))
    if "lang" in request.query_params:
        pairs.append(("lang", request.query_params["lang"]))
    return urlencode(pairs)


def _link(request: Request, name: str, values: dict[str, object]) -> str:
    return f"{request.app.url_path_for(name)}?{_query(values, request)}"


@dataclass(frozen=True)
class Choice:
    key: str
    abbreviation: str
    title: str  # in the reader's language, without the abbreviation it often starts with


def _choice(definition: Questionnaire) -> Choice:
    title = definition.title.get(current_language.get())
    if title.startswith(definition.abbreviation + " "):
        title = title.removeprefix(definition.abbreviation + " ")
    return Choice(definition.key, definition.abbreviation, title)


def _actor(request: Request) -> Actor:
    auth = auth_of(request)
    return Actor(auth.user_id, auth.role.value, f"web:{getattr(request.scope.get('route'), 'name', '')}")


async def _export(request: Request, wanted: ExportRequest, what: str) -> ResearchExport:
    """Compute in a read (it may take seconds), then the audit row in a short write."""
    state = request.app.state
    export: ResearchExport = await state.db.read(
        compute_export,
        state.catalogue,
        wanted,
        k=state.settings.research_min_clients,
        timezone=state.settings.timezone,
    )
    await state.db.write(record_export, _actor(request), wanted, what)
    return export


def _builders(state: Any) -> anyio.CapacityLimiter:
    """One thread per worker turns exports into files or a preview: seconds of work, never on the event loop."""
    builders = getattr(state, "research_builders", None)
    if builders is None:
        builders = state.research_builders = anyio.CapacityLimiter(1)
    return builders


async def _off_loop(request: Request, work: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(work, *args, limiter=_builders(request.app.state))


# --- Endpoints -------------------------------------------------------------------------------------------------


@require(Role.researcher)
async def research_home(request: Request) -> Response:
    state = request.app.state
    context: dict[str, object] = {
        "choices": [_choice(state.catalogue[key]) for key in state.catalogue],
        "k": state.settings.research_min_clients,
        "errors": {},
        "preview": None,
    }
    if PREVIEW_MARKER not in request.query_params:
        return state.templates.render(request, "research/home.html", {**context, "values": form_values(None)})
    typed = _typed(request)
    wanted, problems = _parse(request, typed)
    if wanted is None:
        context.update(values=form_values(None, typed), errors=problems)
        return state.templates.render(request, "research/home.html", context, status_code=400)
    export = await _export(request, wanted, "preview")
    values = form_values(wanted)
    context.update(
        values=values,
        preview=await _off_loop(request, preview_of, export, state.catalogue),
        downloads={form: _link(request, f"research_export_{form}", values) for form in ("zip", "json")},
    )
    return state.templates.render(request, "research/home.html", context)


async def _download(request: Request, what: str) -> Response:
    typed = _typed(request)
    wanted, _problems = _parse(request, typed)
    if wanted is None:  # the page says what is wrong, with the choices as typed
        return RedirectResponse(_link(request, "research_home", form_values(None, typed)), status_code=303)
    export = await _export(request, wanted, what)
    build, extension, media_type = (
        (csv_zip_bytes, "zip", "application/zip") if what == "csv" else (json_bytes, "json", "application/json")
    )
    body = await _off_loop(request, build, export)
    name = file_name(export, extension)
    disposition = f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
    headers = {"Content-Disposition": disposition, "Cache-Control": "no-store"}
    return Response(body, media_type=media_type, headers=headers)


@require(Role.researcher)
async def export_zip(request: Request) -> Response:
    return await _download(request, "csv")


@require(Role.researcher)
async def export_json(request: Request) -> Response:
    return await _download(request, "json")


def routes() -> list[BaseRoute]:
    return [
        Route("/research", research_home, methods=["GET"], name="research_home"),
        Route("/research/export.zip", export_zip, methods=["GET"], name="research_export_zip"),
        Route("/research/export.json", export_json, methods=["GET"], name="research_export_json"),
    ]


# --- The preview in words -------------------------------------------------------------------------------------

_OCCASIONS = {
    "first": N_("First measurement"),
    "last": N_("Last measurement"),
    "first_to_last": N_("First to last measurement"),
}
_SEXES = {"female": N_("Female"), "male": N_("Male"), "other": N_("Other"), "unknown": N_("Unknown")}
_RESPONDENTS = {"self": N_("The client"), "informant": N_("Informant")}
_STRATUM_HEADINGS = {"age": N_("Age"), "sex": N_("Sex"), "respondent": N_("Filled in by")}
_STATISTICS = {
    "n": N_("Clients (n)"),
    "mean": N_("Mean"),
    "sd": N_("Standard deviation"),
    "median": N_("Median"),
    "q1": N_("First quartile"),
    "q3": N_("Third quartile"),
    "pairs": N_("Clients (n)"),  # in a change table: those with a first and a last measurement
    "mean_change": N_("Mean change"),
}
_TWO_DECIMALS = {"mean", "sd", "mean_change"}
_COUNTS = {"n", "pairs", *(category.value for category in ChangeCategory)}


@dataclass(frozen=True)
class ShownCell:
    text: str  # the number in the reader's language; "" when suppressed
    suppressed: bool


@dataclass(frozen=True)
class ShownRow:
    headers: list[str]  # the occasion, then the chosen strata
    cells: list[ShownCell]
    total: bool  # the row of everyone (every stratum "all")


@dataclass(frozen=True)
class ShownTable:
    id: str
    caption: str
    row_headings: list[str]
    statistics: list[str]
    rows: list[ShownRow]


@dataclass(frozen=True)
class Preview:
    month: str  # "november 2026"
    data_before: str  # "1 november 2026"
    k: int
    suppressed: int
    tables: list[ShownTable]


def _occasion(name: str) -> str:
    if name in _OCCASIONS:
        return _(_OCCASIONS[name])
    kind, _sep, rest = name.partition("_")
    if kind == "measurement" and rest.isdigit():
        return _("Measurement %(number)d") % {"number": int(rest)}
    start, _sep, end = rest.partition("_")
    if kind == "weeks" and start.isdigit() and end.isdigit():
        return _("Weeks %(start)d–%(end)d") % {"start": int(start), "end": int(end)}
    return name


def _level(stratum: str, value: str) -> str:
    if value == ALL:
        return _("all")
    if stratum == "sex":
        return _(_SEXES.get(value, value))
    if stratum == "respondent":
        return _(_RESPONDENTS.get(value, value))
    if value == "unknown":
        return _("Unknown")
    return _("%(band)s years") % {"band": value.replace("-", "–")}


def _statistic(name: str, band_labels: dict[str, str]) -> str:
    if name in _STATISTICS:
        return _(_STATISTICS[name])
    if name.startswith("band_"):
        band = name.removeprefix("band_")
        return _("%(band)s (number)") % {"band": band_labels.get(band, _("no band") if band == "none" else band)}
    if name in {category.value for category in ChangeCategory}:
        return _("%(band)s (number)") % {"band": _(CATEGORY_WORDS[ChangeCategory(name)])}
    return name


def _number(value: float | int | None, statistic: str, lang: str) -> str:
    if value is None:
        return "–"
    if statistic in _COUNTS or statistic.startswith("band_"):
        return format_decimal(int(value), format="#,##0", locale=lang)
    pattern = "#,##0.00" if statistic in _TWO_DECIMALS else "#,##0.##"
    return format_decimal(value, format=pattern, locale=lang)


def _table(table: Table, index: int, catalogue: Catalogue, strata: Sequence[str], lang: str) -> ShownTable:
    definition = catalogue[table.questionnaire]
    scale = next((one for one in definition.scales if one.id == table.scale), None)
    scale_label = scale.label.get(lang) if scale else table.scale
    band_labels = {band.id: band.label.get(lang) for band in scale.bands} if scale else {}
    names = {"abbreviation": definition.abbreviation, "scale": scale_label}
    if table.kind == CHANGE:
        caption = _("%(abbreviation)s, %(scale)s: change from the first to the last measurement") % names
    else:
        caption = _("%(abbreviation)s, %(scale)s: scores per moment of measurement") % names
    rows = []
    for row in table.rows:
        levels = {"age": row.age_band, "sex": row.sex, "respondent": row.respondent}
        headers = [_occasion(row.occasion), *(_level(name, levels[name]) for name in strata)]
        cells = [
            ShownCell("" if cell.suppressed else _number(cell.value, statistic, lang), cell.suppressed)
            for statistic, cell in zip(table.statistics, row.cells, strict=True)
        ]
        rows.append(ShownRow(headers, cells, all(levels[name] == ALL for name in strata)))
    return ShownTable(
        id=f"figures-{index}",
        caption=caption,
        row_headings=[_("Moment of measurement"), *(_(_STRATUM_HEADINGS[name]) for name in strata)],
        statistics=[_statistic(name, band_labels) for name in table.statistics],
        rows=rows,
    )


def preview_of(export: ResearchExport, catalogue: Catalogue) -> Preview:
    """The export as the page shows it: every label and number in the reader's language."""
    lang = current_language.get()
    strata = export.request.strata
    return Preview(
        month=format_date(export.data_before, "MMMM y", locale=lang),
        data_before=format_date(export.data_before, "d MMMM y", locale=lang),
        k=export.k,
        suppressed=export.suppressed_count,
        tables=[_table(table, index, catalogue, strata, lang) for index, table in enumerate(export.tables, 1)],
    )
