"""What a researcher asks for: questionnaires, occasions and strata, checked once for the page and the CLI.

Parsing returns either an ``ExportRequest`` or a dict of problems by field, each a message for the form; the
same rules hold for ``rom-portal research export``. ``ExportRequest.describe()`` is the parameter string that goes
into the audit log and the codebook.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from rom_portal.i18n import gettext as _
from rom_portal.questionnaires import Catalogue

STRATA = ("age", "sex", "respondent")
MAX_QUESTIONNAIRES = 8
MAX_NTH = 10  # n-th measurements asked for at once
HIGHEST_NTH = 52


@dataclass(frozen=True)
class WeekBins:
    """Bins of ``width`` weeks since the client's first measurement, the last one ending before ``until``."""

    width: int
    until: int


# One fixed set of periods for every export: periods chosen per request could be laid over each other (weeks 8-9
# and 10-11 against 8-11) and the difference would single out a client.
WEEK_PERIODS = WeekBins(4, 52)


@dataclass(frozen=True)
class Occasions:
    first: bool = True
    last: bool = True
    nth: tuple[int, ...] = ()
    weeks: WeekBins | None = None

    def describe(self) -> str:
        parts = [name for name, wanted in (("first", self.first), ("last", self.last)) if wanted]
        parts += [f"n{n}" for n in self.nth]
        if self.weeks:
            parts.append(f"w{self.weeks.width}x{self.weeks.until}")
        return ",".join(parts)


@dataclass(frozen=True)
class ExportRequest:
    questionnaires: tuple[str, ...]
    occasions: Occasions = field(default_factory=Occasions)
    strata: tuple[str, ...] = ()  # in the order of STRATA

    def describe(self) -> str:
        """``q=phq9,gad7;o=first,last,n3;s=age,sex``: every parameter, for the audit log and the codebook."""
        return f"q={','.join(self.questionnaires)};o={self.occasions.describe()};s={','.join(self.strata)}"


Problems = dict[str, str]


def _whole_number(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 4 else None


def parse_request(
    catalogue: Catalogue,
    *,
    questionnaires: Sequence[str],
    occasions: Iterable[str] = (),
    nth: str = "",
    strata: Iterable[str] = (),
) -> tuple[ExportRequest | None, Problems]:
    """Check a request as it comes from the form or the command line.

    ``occasions`` holds ``first``, ``last``, ``nth`` and ``weeks`` as ticked; ``nth`` is a list like "2, 3".
    """
    problems: Problems = {}
    keys: list[str] = []
    for key in questionnaires:
        if key not in catalogue:
            problems["questionnaire"] = _("Choose questionnaires from the list.")
        elif key not in keys:
            keys.append(key)
    if not keys and "questionnaire" not in problems:
        problems["questionnaire"] = _("Choose at least one questionnaire.")
    if len(keys) > MAX_QUESTIONNAIRES:
        problems["questionnaire"] = _("Choose at most %(count)d questionnaires at a time.") % {
            "count": MAX_QUESTIONNAIRES
        }

    ticked = set(occasions)
    numbers: list[int] = []
    if "nth" in ticked:
        pieces = [piece for piece in nth.replace(";", ",").split(",") if piece.strip()]
        parsed = [_whole_number(piece) for piece in pieces]
        if not pieces or any(n is None or not 1 <= n <= HIGHEST_NTH for n in parsed):
            problems["nth"] = _("Give measurement numbers from 1 to %(highest)d, separated by commas, e.g. 2, 3.") % {
                "highest": HIGHEST_NTH
            }
        else:
            numbers = sorted({n for n in parsed if n is not None})
            if len(numbers) > MAX_NTH:
                problems["nth"] = _("Give at most %(count)d measurement numbers.") % {"count": MAX_NTH}
    weeks = WEEK_PERIODS if "weeks" in ticked else None
    if not ticked & {"first", "last", "nth", "weeks"}:
        problems["occasions"] = _("Choose at least one moment of measurement.")
    unknown_strata = set(strata) - set(STRATA)
    if unknown_strata:
        problems["strata"] = _("Choose strata from the list.")
    if problems:
        return None, problems
    chosen = Occasions(first="first" in ticked, last="last" in ticked, nth=tuple(numbers), weeks=weeks)
    return ExportRequest(tuple(keys), chosen, tuple(one for one in STRATA if one in set(strata))), {}


def form_values(request: ExportRequest | None, raw: Mapping[str, object] | None = None) -> dict[str, object]:
    """What the form shows: the request's values, or the defaults (first and last, no strata)."""
    if request is None:
        return {
            "questionnaires": (),
            "occasions": ("first", "last"),
            "nth": "",
            "strata": (),
            **(raw or {}),
        }
    occ = request.occasions
    ticked = [
        name
        for name, on in (
            ("first", occ.first),
            ("last", occ.last),
            ("nth", bool(occ.nth)),
            ("weeks", occ.weeks is not None),
        )
        if on
    ]
    return {
        "questionnaires": request.questionnaires,
        "occasions": tuple(ticked),
        "nth": ", ".join(str(n) for n in occ.nth),
        "strata": request.strata,
    }
