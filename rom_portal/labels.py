"""Words for domain values, in the language of the current request."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime

from rom_portal.i18n import current_language
from rom_portal.i18n import gettext as _
from rom_portal.models import Role


def role_label(role: Role | str) -> str:
    return {
        Role.client: _("Client"),
        Role.therapist: _("Therapist"),
        Role.researcher: _("Researcher"),
        Role.admin: _("Administrator"),
    }[Role(role)]


def format_when(value: datetime | None, timezone: str) -> str:
    """'23 nov. 2026 14:05' in the practice's time zone and the reader's language."""
    if value is None:
        return "–"
    return format_datetime(value, "d MMM y HH:mm", tzinfo=ZoneInfo(timezone), locale=current_language.get())


def format_day(value: date | datetime | None, timezone: str) -> str:
    if value is None:
        return "–"
    if isinstance(value, datetime):
        value = value.astimezone(ZoneInfo(timezone)).date()
    return format_date(value, "d MMMM y", locale=current_language.get())
