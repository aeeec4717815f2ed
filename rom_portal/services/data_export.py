"""Download all my data: everything the portal keeps about one client, as JSON and CSV files in one zip.

The client is found from their own user id (never an id from the request), and every query is bounded by their
registration or user id: nothing of another client can reach the zip. The whole export is read in one read
transaction (begun by the caller), so its files agree with each other even while the client or their therapist
goes on working; rows are read in batches and written as they come, so a long history never sits in memory.
"""

from __future__ import annotations

import textwrap
from datetime import date, datetime
from typing import IO
from zoneinfo import ZoneInfo

from sqlmodel import Session

from rom_portal.i18n import current_language
from rom_portal.i18n import gettext as _
from rom_portal.models import Registration
from rom_portal.models.base import utcnow
from rom_portal.questionnaires import Catalogue
from rom_portal.services.audit import Actor, record
from rom_portal.services.export_answers import ALERTS, ANSWERS, QUESTIONNAIRES, SCORES
from rom_portal.services.export_format import CsvStyle, ZipWriter
from rom_portal.services.export_topics import ACCESS_LOG, CONSENTS, LOGINS, PLANS, PROFILE, REMINDERS, Export, Topic
from rom_portal.services.filling import NotFound, registration_of_user

__all__ = [
    "AUDIT_OBJECT",
    "TOPICS",
    "NotFound",
    "audit_export",
    "begin_snapshot",
    "csv_style",
    "file_name",
    "readme",
    "write_export",
]

AUDIT_OBJECT = "all_data"  # the audit row's object type: the whole download, not one kind of row
TOPICS: tuple[Topic, ...] = (
    PROFILE,
    CONSENTS,
    PLANS,
    QUESTIONNAIRES,
    ANSWERS,
    SCORES,
    ALERTS,
    REMINDERS,
    LOGINS,
    ACCESS_LOG,
)
README_WIDTH = 88


def csv_style(lang: str) -> CsvStyle:
    # Excel set to Dutch splits columns on ";" and reads "2,5" as a number (and "2.5" as a date).
    if lang == "en":
        return CsvStyle(",", ".", _("yes"), _("no"))
    return CsvStyle(";", ",", _("yes"), _("no"))


def file_name(day: date) -> str:
    """The zip's name: what it is and the day, never the client's name (a downloads folder may be shared)."""
    return _("my-data-%(day)s.zip") % {"day": day.isoformat()}


def audit_export(session: Session, actor: Actor) -> int:
    """The audit row of one download, written before it streams. Returns the client's registration id."""
    assert actor.user_id is not None
    registration: Registration = registration_of_user(session, actor.user_id)
    assert registration.id is not None
    record(session, actor, "export", AUDIT_OBJECT, registration.id, registration_id=registration.id)
    return registration.id


def begin_snapshot(session: Session) -> None:
    """Read the whole export from one snapshot, read-only.

    SQLite in WAL mode keeps one snapshot for a read transaction by itself; PostgreSQL's default (read committed)
    takes a new one per statement, and the JSON and CSV of one topic are read by two statements.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True})


def _paragraph(text: str, indent: str = "") -> str:
    return textwrap.fill(text, README_WIDTH, initial_indent=indent, subsequent_indent=indent or "") + "\n"


def readme(made_at: datetime, style: CsvStyle, timezone: str) -> str:
    """README.txt: what each file holds and what each column means, in plain words."""
    title = _("Your data from the questionnaire portal")
    parts = [title + "\n" + "=" * len(title) + "\n\n"]
    for text in (
        _("Made on %(day)s.") % {"day": made_at.date().isoformat()},
        _(
            "This zip file holds everything the portal keeps about you. Each subject is in two files with the "
            "same content: a JSON file, for computer programs, and a CSV file, which you can open in a spreadsheet "
            "such as Excel or LibreOffice."
        ),
        _(
            "In the CSV files the columns are separated by %(separator)s and decimal numbers use %(decimal)s. Text "
            "that starts with = + - or @ has an apostrophe (') in front of it in the CSV files: that keeps a "
            "spreadsheet from running it as a formula. The JSON files have the text as it is."
        )
        % {"separator": f"“{style.delimiter}”", "decimal": f"“{style.decimal}”"},
        _(
            "Dates are written as year-month-day. Times are in the time zone of the practice (%(zone)s), with the "
            "difference from UTC at the end, for example +01:00. An empty cell (in JSON: null) means: nothing."
        )
        % {"zone": timezone},
    ):
        parts.append(_paragraph(text) + "\n")
    for topic in TOPICS:
        stem = _(topic.stem)
        heading = f"{stem}.json, {stem}.csv: {_(topic.title)}"
        parts.append(heading + "\n" + "-" * len(heading) + "\n")
        parts.append(_paragraph(_(topic.about)))
        for column in topic.columns:
            line = f"- {_(column.header)} ({column.key}): {_(column.meaning)}"
            parts.append(textwrap.fill(line, README_WIDTH, subsequent_indent="  ") + "\n")
        parts.append("\n")
    for text in (
        _(
            "Not in this download: your password and the secret of your two-step verification. The portal keeps "
            "only a scrambled form of them, which cannot be turned back into the original."
        ),
        _("Do you have a question about your data, or is something not right? Ask your therapist or the practice."),
    ):
        parts.append(_paragraph(text) + "\n")
    return "".join(parts)


def write_export(
    session: Session,
    catalogue: Catalogue,
    user_id: int,
    *,
    lang: str,
    timezone: str,
    default_language: str,
    sink: IO[bytes],
) -> None:
    """Write the client's zip to ``sink`` (write-only, need not seek), reading everything through ``session``."""
    language = current_language.set(lang)  # this runs in a worker thread: say which language the words are in
    try:
        registration = registration_of_user(session, user_id)
        assert registration.id is not None
        export = Export(registration.id, user_id, catalogue, lang, ZoneInfo(timezone), default_language)
        made_at = utcnow().astimezone(export.zone)
        style = csv_style(lang)
        archive = ZipWriter(sink, made_at)
        archive.text("README.txt", readme(made_at, style, timezone))
        for topic in TOPICS:
            stem, keys, headers = _(topic.stem), [column.key for column in topic.columns], topic.headers()
            if topic.one_row:
                values = next(topic.rows(session, export))
                archive.json_object(f"{stem}.json", keys, values)
                archive.csv_rows(f"{stem}.csv", headers, [values], style)
                continue
            # Two passes over the rows (one file open at a time in a zip): the same transaction sees the same rows.
            archive.json_rows(f"{stem}.json", keys, topic.rows(session, export))
            archive.csv_rows(f"{stem}.csv", headers, topic.rows(session, export), style)
        archive.close()
    finally:
        current_language.reset(language)
