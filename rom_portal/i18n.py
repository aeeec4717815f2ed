"""Translations: Babel catalogs (``rom_portal/locale/<lang>/LC_MESSAGES/messages.po``), compiled in memory.

Message ids are English; Dutch is the default language. The language of the current request lives in a
context variable so templates, services and error pages all speak it without passing it around.
"""

from __future__ import annotations

import gettext as _gettext
from contextvars import ContextVar
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from rom_portal.settings import LANGUAGES

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGE_NAMES = {"nl": "Nederlands", "en": "English"}

current_language: ContextVar[str] = ContextVar("current_language", default="nl")


@cache
def translations(language: str) -> _gettext.NullTranslations:
    po_file = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if not po_file.exists():
        return _gettext.NullTranslations()
    with po_file.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


def gettext(message: str) -> str:
    return translations(current_language.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_language.get()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return translations(current_language.get()).pgettext(context, message)


_ = gettext


def negotiate(requested: str | None, fallback: str) -> str:
    if requested and requested in LANGUAGES:
        return requested
    return fallback


def N_(message: str) -> str:
    """Mark a message id for extraction whose translation happens later, where it is shown."""
    return message
