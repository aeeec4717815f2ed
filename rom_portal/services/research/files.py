"""A research export as files: CSV (in a zip with the codebook) and JSON (figures and codebook in one document).

The CSV file is for statistics software first: one figure per line (long form), comma-separated, a decimal point,
UTF-8; a suppressed figure has an empty value and ``suppressed`` true. Text that a spreadsheet would run as a
formula is made harmless all the same. The codebook says what every column, statistic and level means, the
suppression rule and k, the month of generation and the portal's version; no date in either file is finer than a
month.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from typing import Any

from rom_portal.i18n import gettext as _
from rom_portal.questionnaires import Questionnaire
from rom_portal.services.export_format import spreadsheet_text
from rom_portal.services.research.export import (
    AGE_LEVELS,
    ALL,
    CATEGORIES,
    FIRST_TO_LAST,
    NO_BAND,
    QUANTILE_FACTOR,
    RESPONDENT_LEVELS,
    SEX_LEVELS,
    ResearchExport,
)

COLUMNS = (
    "table",
    "questionnaire",
    "scale",
    "occasion",
    "age_band",
    "sex",
    "respondent",
    "statistic",
    "value",
    "suppressed",
)


def file_name(export: ResearchExport, extension: str) -> str:
    return f"research-export-{export.month}.{extension}"


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(int(value)) if float(value).is_integer() else repr(value)
    return spreadsheet_text(str(value))


def figures_csv(export: ResearchExport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for figure in export.figures():
        writer.writerow(
            [
                _csv_cell(value)
                for value in (
                    figure.table,
                    figure.questionnaire,
                    figure.scale,
                    figure.occasion,
                    figure.age_band,
                    figure.sex,
                    figure.respondent,
                    figure.statistic,
                    figure.value,
                    figure.suppressed,
                )
            ]
        )
    return buffer.getvalue()


def csv_zip_bytes(export: ResearchExport) -> bytes:
    buffer = io.BytesIO()
    # Dated the first of the month, like everything else in an export (a zip entry would carry the second).
    first_of_month = (export.data_before.year, export.data_before.month, 1, 0, 0, 0)
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in (("figures.csv", figures_csv(export)), ("codebook.txt", codebook_text(export))):
            entry = zipfile.ZipInfo(name, date_time=first_of_month)
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, text.encode("utf-8"))
    return buffer.getvalue()


def json_bytes(export: ResearchExport) -> bytes:
    document = {
        "codebook": codebook(export),
        "figures": [{name: getattr(figure, name) for name in COLUMNS} for figure in export.figures()],
    }
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")


# --- The codebook ----------------------------------------------------------------------------------------------


def _rule(export: ResearchExport) -> str:
    return _(
        "Only clients whose permission for research was given before the month of the export, and not withdrawn "
        "when it was made, are counted, with their measurements of before that month. Every count below %(k)d "
        "clients is suppressed (also a zero within a group that others in the table belong to); the other figures "
        "of a group (mean, sd, mean change) are published only with its count, median and quartiles only for "
        "groups of at least %(twice)d. Secondary suppression (the hypercube method) hides further cells, so that no "
        "total minus subtotals, nor any other sum of published figures, reveals a suppressed cell, and hidden "
        "cells that a published total adds up hold at least %(k)d clients together. Tables of one scale with the "
        "same group sizes hide the same groups. Levels nobody in a scale's tables belongs to are left out (no "
        "rows), and their band or category counts are 0."
    ) % {"k": export.k, "twice": QUANTILE_FACTOR * export.k}


def _column_meanings() -> dict[str, str]:
    return {
        "table": _("distribution: scores at an occasion; change: from the first to the last measurement."),
        "questionnaire": _("The questionnaire's key (see questionnaires below)."),
        "scale": _("The scale's id within the questionnaire."),
        "occasion": _(
            "first; last; measurement_N (the N-th scored measurement); weeks_A_B (the first measurement from week A "
            "to week B after the first measurement, in fixed periods of 4 weeks up to week 52); first_to_last "
            "(change tables)."
        ),
        "age_band": _(
            "Age in the year of the client's first measurement on this scale (from the year of birth only); all: every"
            " age."
        ),
        "sex": _("female, male, other, unknown (not given); all: everyone."),
        "respondent": _("self: the client; informant: a parent, partner, teacher or relative; all: both."),
        "statistic": _("What the value is (see statistics below)."),
        "value": _("The figure; empty when suppressed (or, for sd, with a single score)."),
        "suppressed": _("true when the figure is suppressed."),
    }


def _statistic_meanings() -> dict[str, str]:
    return {
        "n": _("Number of clients."),
        "mean": _("Mean score (2 decimals)."),
        "sd": _("Sample standard deviation (n - 1)."),
        "median": _("Median; quartiles and median interpolate between scores (type 7, as R and numpy by default)."),
        "q1": _("First quartile."),
        "q3": _("Third quartile."),
        "band_ID": _("Number of clients whose score falls in band ID (see the scale's bands)."),
        "band_none": _("Number of clients whose score falls in no band of the scale."),
        "pairs": _("Number of clients with at least two measurements (first and last are compared)."),
        "mean_change": _("Mean of last minus first score, in score points (see the scale's direction)."),
        "recovered": _("Reliably improved and moved across the clinical cut-off to the healthy side."),
        "reliably_improved": _("Reliably improved without recovering (Jacobson and Truax)."),
        "no_reliable_change": _("The change is smaller than the reliable-change threshold."),
        "reliably_deteriorated": _("Reliably worse."),
    }


def _definition(questionnaire: Questionnaire) -> dict[str, Any]:
    scales = {}
    for scale in questionnaire.scales:
        scales[scale.id] = {
            "label": scale.label.get("en"),
            "direction": scale.direction,
            "bands": {
                band.id: {"label": band.label.get("en"), "min": band.min, "max": band.max} for band in scale.bands
            },
            "cutoff": scale.cutoff.value if scale.cutoff else None,
            "reliable_change": (
                {
                    "threshold": scale.reliable_change.threshold,
                    "sd": scale.reliable_change.sd,
                    "reliability": scale.reliable_change.reliability,
                    "source": scale.reliable_change.source,
                }
                if scale.reliable_change
                else None
            ),
        }
    return {
        "abbreviation": questionnaire.abbreviation,
        "title": questionnaire.title.get("en"),
        "version": questionnaire.version,
        "respondent": questionnaire.respondent.kind,
        "citation": questionnaire.citation,
        "scales": scales,
    }


def codebook(export: ResearchExport) -> dict[str, Any]:
    return {
        "generated_month": export.month,
        "measurements_up_to_month": export.last_month_counted,
        "portal_version": export.portal_version,
        "k": export.k,
        "suppression": _rule(export),
        "parameters": export.request.describe(),
        "columns": _column_meanings(),
        "statistics": _statistic_meanings(),
        "levels": {
            "age_band": [*AGE_LEVELS, ALL],
            "sex": [*SEX_LEVELS, ALL],
            "respondent": [*RESPONDENT_LEVELS, ALL],
            "change_categories": list(CATEGORIES),
            "no_band": NO_BAND,
            "change_occasion": FIRST_TO_LAST,
        },
        "questionnaires": {one.key: _definition(one) for one in export.definitions},
    }


def codebook_text(export: ResearchExport) -> str:
    book = codebook(export)
    lines = [
        _("Codebook of a research export (rom-portal %(version)s)") % {"version": export.portal_version},
        "",
        _("Generated in: %(month)s") % {"month": book["generated_month"]},
        _("Measurements submitted up to and including: %(month)s") % {"month": book["measurements_up_to_month"]},
        _("Parameters: %(parameters)s") % {"parameters": book["parameters"]},
        _("k (smallest number of clients behind a published figure): %(k)d") % {"k": export.k},
        "",
        _("Suppression"),
        book["suppression"],
        "",
        _("Columns of figures.csv"),
    ]
    lines += [f"  {name}: {meaning}" for name, meaning in book["columns"].items()]
    lines += ["", _("Statistics")]
    lines += [f"  {name}: {meaning}" for name, meaning in book["statistics"].items()]
    lines += ["", _("Questionnaires")]
    for key, info in book["questionnaires"].items():
        lines.append(
            f"  {key}: {info['abbreviation']} - {info['title']} (version {info['version']}, {info['respondent']})"
        )
        for scale_id, scale in info["scales"].items():
            lines.append(f"    scale {scale_id}: {scale['label']}; {scale['direction']}; cut-off {scale['cutoff']}")
            for band_id, band in scale["bands"].items():
                lines.append(f"      band_{band_id}: {band['min']}-{band['max']} {band['label']}")
            if scale["reliable_change"]:
                change = scale["reliable_change"]
                lines.append(
                    f"      reliable change: threshold {change['threshold']}, sd {change['sd']}, "
                    f"reliability {change['reliability']} ({change['source']})"
                )
    return "\n".join(lines) + "\n"
