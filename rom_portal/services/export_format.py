"""Writing a zip of JSON and CSV files, row by row, to a stream that cannot seek (a download on its way out).

Nothing here holds more than one row: each file is written as its rows come, and ``zipfile`` writes a data
descriptor after each file instead of going back to fill in its size. CSV files are for spreadsheets: UTF-8 with a
byte order mark (so Excel reads the accents right), the separator and decimal sign of the reader's language, and
text that a spreadsheet would run as a formula made harmless.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

# A cell starting with one of these is run as a formula by Excel, LibreOffice or Google Sheets (OWASP "CSV
# injection"); a leading apostrophe makes the spreadsheet show it as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def plain(value: Any) -> Any:
    """A value as it goes into both files: a whole float as an int (12.0 -> 12), anything else as it is."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass(frozen=True)
class CsvStyle:
    """How a spreadsheet in the reader's language expects a CSV file (Dutch Excel: ``;`` and a decimal comma)."""

    delimiter: str
    decimal: str
    yes: str
    no: str

    def cell(self, value: Any) -> str:
        kind = type(value)  # most cells are text: test for it first (an export has hundreds of thousands)
        if kind is str:
            return "'" + value if value.startswith(FORMULA_STARTS) else value
        if value is None:
            return ""
        if kind is bool:
            return self.yes if value else self.no
        if kind is int:
            return str(value)
        if kind is float:
            return str(int(value)) if value.is_integer() else repr(value).replace(".", self.decimal)
        if kind is list:  # the options ticked in a multiple-choice question
            return spreadsheet_text(", ".join(str(plain(one)) for one in value))
        return spreadsheet_text(str(value))


class ZipWriter:
    """One zip on a non-seekable ``sink`` (anything with ``write`` and ``flush``); files are written one at a time."""

    def __init__(self, sink: IO[bytes], made_at: datetime) -> None:
        self._zip = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6)
        self._date_time = made_at.timetuple()[:6]

    def _entry(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=self._date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16  # a plain file anyone may read once unpacked on the client's computer
        return info

    def _open(self, name: str, encoding: str) -> io.TextIOWrapper:
        return io.TextIOWrapper(self._zip.open(self._entry(name), "w"), encoding=encoding, newline="")

    def text(self, name: str, content: str) -> None:
        with self._open(name, "utf-8") as out:
            out.write(content)

    def json_object(self, name: str, keys: Sequence[str], values: Sequence[Any]) -> None:
        with self._open(name, "utf-8") as out:
            out.write(json.dumps(dict(zip(keys, map(plain, values), strict=True)), ensure_ascii=False, indent=2))
            out.write("\n")

    def json_rows(self, name: str, keys: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """A JSON array with one object per row, one per line; returns the number of rows."""
        count = 0
        with self._open(name, "utf-8") as out:
            for values in rows:
                record = dict(zip(keys, map(plain, values), strict=True))
                out.write(("[\n  " if count == 0 else ",\n  ") + json.dumps(record, ensure_ascii=False))
                count += 1
            out.write("\n]\n" if count else "[]\n")
        return count

    def csv_rows(self, name: str, headers: Sequence[str], rows: Iterable[Sequence[Any]], style: CsvStyle) -> int:
        count = 0
        with self._open(name, "utf-8-sig") as out:
            writer = csv.writer(out, delimiter=style.delimiter, lineterminator="\r\n")
            writer.writerow([spreadsheet_text(header) for header in headers])
            for values in rows:
                writer.writerow([style.cell(value) for value in values])
                count += 1
        return count

    def close(self) -> None:
        """Writes the zip's table of contents; the zip is complete only after this."""
        self._zip.close()
