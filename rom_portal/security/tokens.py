"""Random tokens and one-time codes, and how we store them (hashed, never in clear)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

# Crockford's base32 without look-alikes (no I, L, O, U): easy to read out and type.
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CODE_FIX = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})


def new_token() -> str:
    """An opaque 256-bit token for cookies and links."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Tokens and codes are long random strings, so a plain SHA-256 is a sound way to store them."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_code(groups: int = 4) -> str:
    """A code a person can type, e.g. ``7KQ2-XM4D-9RTA-H3WP`` (4 groups = 80 bits)."""
    chars = [secrets.choice(_CODE_ALPHABET) for _ in range(groups * 4)]
    return "-".join("".join(chars[i : i + 4]) for i in range(0, len(chars), 4))


def normalise_code(typed: str) -> str:
    """Accept what people type: lower case, spaces, missing dashes, O for 0."""
    cleaned = "".join(ch for ch in typed.upper() if ch.isalnum()).translate(_CODE_FIX)
    return "-".join(cleaned[i : i + 4] for i in range(0, len(cleaned), 4))


def hash_code(typed: str) -> str:
    return hash_token(normalise_code(typed))


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
