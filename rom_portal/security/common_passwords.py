"""Refuse passwords that attackers try first.

A long password built on a common word with digits or symbols around it ("Welkom2024!!", "wachtwoord123")
is as weak as the word itself, so we compare the word left after stripping those, with common letter
substitutions undone, against a shipped list (``common_passwords.txt``: English and Dutch favourites,
keyboard walks, names of this product). Runs of one character and plain sequences are refused too.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_LIST_FILE = Path(__file__).with_name("common_passwords.txt")
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s", "!": "i"}
)
_SEQUENCES = (
    "0123456789012345678901234567890",
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
    "qwertyuiopasdfghjklzxcvbnm",
)


@cache
def _words() -> frozenset[str]:
    lines = _LIST_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def _bases(password: str) -> set[str]:
    lowered = password.lower()
    squeezed = re.sub(r"[\s_.\-]+", "", lowered)
    core = re.sub(r"^[\d\W_]+|[\d\W_]+$", "", squeezed)
    candidates = {lowered, squeezed, core, squeezed.translate(_LEET), core.translate(_LEET)}
    # A word said twice ("welkomwelkom") is the word once.
    for value in list(candidates):
        half = len(value) // 2
        if half and value[:half] == value[half:]:
            candidates.add(value[:half])
    return {value for value in candidates if value}


def _is_sequence(password: str) -> bool:
    lowered = password.lower()
    if len(set(lowered)) <= 2:
        return True
    return any(lowered in seq or lowered in seq[::-1] for seq in _SEQUENCES)


def is_common(password: str) -> bool:
    if _is_sequence(password):
        return True
    words = _words()
    return any(base in words for base in _bases(password))
