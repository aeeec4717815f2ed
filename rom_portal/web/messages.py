"""Messages that several areas show in the same words."""

from __future__ import annotations

from rom_portal.i18n import ngettext
from rom_portal.security.throttle import Locked


def locked_message(locked: Locked | None) -> str:
    """After too many wrong passwords or codes: how long to wait."""
    minutes = locked.minutes if locked else 1
    return ngettext(
        "Too many wrong attempts. Wait %(num)s minute and try again.",
        "Too many wrong attempts. Wait %(num)s minutes and try again.",
        minutes,
    ) % {"num": minutes}
