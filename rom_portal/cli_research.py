"""``rom-portal research export``: a research export as a file, for scheduled deliveries.

``rom_portal/cli.py`` adds the group to its own. The same rules as the researcher's page: the same checks of the
choices (``parse_request``), only consenting clients, every figure on fewer than ROM_PORTAL_RESEARCH_MIN_CLIENTS
clients suppressed, and an audit row for every export (done by the system, ``cli:research export``).
Exit status: 0 done, 1 a configuration or database problem, 2 bad choices (one line per problem on stderr).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import click

from rom_portal.i18n import current_language
from rom_portal.services.audit import Actor
from rom_portal.services.research.request import STRATA

EXIT_BAD_INPUT = 2
OCCASIONS = ("first", "last", "nth", "weeks")
# What parse_request calls each field, as the options are named here.
OPTION_OF = {
    "questionnaire": "--questionnaire",
    "occasions": "--occasion",
    "nth": "--nth",
    "strata": "--stratum",
}


def _fail(message: str) -> NoReturn:
    click.echo(f"rom-portal: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


@contextlib.contextmanager
def _language(language: str) -> Iterator[None]:
    token = current_language.set(language)
    try:
        yield
    finally:
        current_language.reset(token)


def _write(path: Path, body: bytes) -> None:
    """Whole or not at all: a delivery picked up half-written would be worse than none."""
    folder = path.resolve().parent
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(body)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@click.group()
def research() -> None:
    """Research exports: aggregates of clients who consented, small groups suppressed (see README.md)."""


@research.command("export")
@click.option(
    "--questionnaire",
    "questionnaires",
    multiple=True,
    metavar="KEY",
    help="A questionnaire's key, e.g. phq9 (repeat for several; `rom-portal questionnaires list` shows the keys).",
)
@click.option(
    "--occasion",
    "occasions",
    multiple=True,
    type=click.Choice(OCCASIONS),
    help="Moments of measurement (repeatable); default: first and last.",
)
@click.option("--nth", default="", help='With --occasion nth: which measurements, e.g. "2, 3".')
@click.option("--stratum", "strata", multiple=True, type=click.Choice(STRATA), help="Split by (repeatable).")
@click.option(
    "--format",
    "file_format",
    type=click.Choice(("json", "csv")),
    default="json",
    show_default=True,
    help="json: figures and codebook in one document; csv: a zip of figures.csv and codebook.txt.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file (required for csv); without it, JSON goes to standard output.",
)
def export(
    questionnaires: tuple[str, ...],
    occasions: tuple[str, ...],
    nth: str,
    strata: tuple[str, ...],
    file_format: str,
    output: Path | None,
) -> None:
    """Export the figures of one or more questionnaires: aggregates only, small groups suppressed.

    Counts only clients whose research consent is recorded now, and measurements sent in before the first day
    of this month. The codebook is written in the practice's language (ROM_PORTAL_DEFAULT_LANGUAGE). Every
    export is in the audit log.
    """
    from rom_portal.cli import _open_database, _require_current_schema
    from rom_portal.paths import resource_dir
    from rom_portal.questionnaires import load_catalogue
    from rom_portal.services.research.export import compute_export, record_export
    from rom_portal.services.research.files import csv_zip_bytes, json_bytes
    from rom_portal.services.research.request import parse_request
    from rom_portal.settings import load_settings

    if file_format == "csv" and output is None:
        _fail("--format csv makes a zip file (figures.csv and codebook.txt): give --output FILE")
    if nth and "nth" not in occasions:
        _fail('--nth needs --occasion nth (e.g. --occasion nth --nth "2, 3")')
    catalogue = load_catalogue(resource_dir("questionnaires"))
    with _language("en"):
        wanted, problems = parse_request(
            catalogue,
            questionnaires=questionnaires,
            occasions=occasions or ("first", "last"),
            nth=nth,
            strata=strata,
        )
    if wanted is None:
        for field, message in problems.items():
            click.echo(f"rom-portal: {OPTION_OF.get(field, field)}: {message}", err=True)
        if "questionnaire" in problems:
            click.echo(f"rom-portal: questionnaires: {', '.join(catalogue)}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    settings = load_settings()
    database = _open_database(settings)
    try:
        _require_current_schema(database)
        with database.session() as session:
            made = compute_export(
                session, catalogue, wanted, k=settings.research_min_clients, timezone=settings.timezone
            )
        with database.session(write=True) as session:
            record_export(session, Actor.system("research export"), wanted, file_format)
    finally:
        database.dispose()
    with _language(settings.default_language):
        body = csv_zip_bytes(made) if file_format == "csv" else json_bytes(made)
    if output is None:
        click.echo(body, nl=False)  # bytes: written as they are
        return
    _write(output, body)
    figures = sum(1 for _figure in made.figures())
    click.echo(
        f"wrote {output}: {figures} figures, {made.suppressed_count} suppressed (k={made.k}), "
        f"measurements up to {made.last_month_counted}"
    )
