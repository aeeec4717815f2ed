"""Password hashing (argon2id) and the password rules.

Parameters are OWASP's minimum for argon2id (m=19 MiB, t=2, p=1; about 18 ms a hash here). A hash made
with other parameters verifies and is then replaced (``needs_rehash``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from rom_portal.i18n import N_

MIN_LENGTH = 12
MAX_LENGTH = 128

HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)
# Verified when the username does not exist, so an unknown user costs as much time as a wrong password.
_DUMMY_HASH = HASHER.hash("rom-portal dummy password for timing")


class PasswordRejected(ValueError):
    """The new password breaks a rule; the message is shown to the user (translated by the caller)."""


@dataclass(frozen=True)
class Verification:
    ok: bool
    needs_rehash: bool = False


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> Verification:
    """Check ``password``; with ``password_hash=None`` a dummy is checked and the answer is always no."""
    if password_hash is None:
        with contextlib.suppress(VerificationError):
            HASHER.verify(_DUMMY_HASH, password)
        return Verification(ok=False)
    try:
        HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return Verification(ok=False)
    return Verification(ok=True, needs_rehash=HASHER.check_needs_rehash(password_hash))


def password_problem(password: str, *, username: str = "") -> str | None:
    """Why ``password`` cannot be used (an untranslated message id), or None when it is fine."""
    from rom_portal.security.common_passwords import is_common

    if len(password) < MIN_LENGTH:
        return N_("Use at least 12 characters.")
    if len(password) > MAX_LENGTH:
        return N_("Use at most 128 characters.")
    if username and password.strip().lower() == username.strip().lower():
        return N_("Your password must not be your username.")
    if is_common(password):
        return N_("This password is too common. Choose another, for example a few unrelated words.")
    return None
