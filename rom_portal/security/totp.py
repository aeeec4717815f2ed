"""Time-based one-time passwords (RFC 6238) and recovery codes.

A code is accepted in the current 30-second step or one step either side (clock drift), and never twice:
the last used step is stored, so a code seen over someone's shoulder cannot be replayed.
"""

from __future__ import annotations

import hmac
import time

import pyotp
import segno

from rom_portal.security.tokens import hash_code, new_code

ISSUER = "ROM-portaal"
STEP_SECONDS = 30
RECOVERY_CODES = 10


def new_secret() -> str:
    return pyotp.random_base32(32)  # 160 bits, as RFC 4226 recommends


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(uri: str, title: str) -> str:
    """The QR code as inline SVG markup, drawn here: the secret never leaves the server for a QR service."""
    return str(segno.make(uri, error="m").svg_inline(scale=4, omitsize=True, title=title, svgclass="qr-code"))


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def current_code(secret: str, at: float | None = None) -> str:
    return pyotp.TOTP(secret).at(int(at if at is not None else time.time()))


def matching_step(secret: str, code: str, last_step: int | None, at: float | None = None) -> int | None:
    """The time step ``code`` belongs to, if it is valid now and newer than ``last_step``; else None."""
    cleaned = "".join(ch for ch in code if ch.isdigit())
    if len(cleaned) != 6:
        return None
    totp = pyotp.TOTP(secret)
    now_step = int((at if at is not None else time.time()) // STEP_SECONDS)
    for step in (now_step - 1, now_step, now_step + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), cleaned):
            return step
    return None


def new_recovery_codes() -> list[str]:
    return [new_code(groups=3) for _ in range(RECOVERY_CODES)]


def recovery_hash(code: str) -> str:
    return hash_code(code)
