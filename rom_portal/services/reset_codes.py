"""One-time codes to set a (new) password: a therapist hands one to a client, an admin to staff.

Only the hash is stored; issuing a new code voids the earlier unused ones of that user.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, delete

from rom_portal.models import ResetCode
from rom_portal.models.base import utcnow
from rom_portal.security.tokens import hash_code, new_code


def void(session: Session, user_id: int) -> None:
    """Make the user's unused codes worthless (a new code, a password change, an account enabled again)."""
    session.exec(delete(ResetCode).where(col(ResetCode.user_id) == user_id, col(ResetCode.used_at).is_(None)))


def issue(session: Session, *, user_id: int, valid_for: timedelta) -> str:
    """A new code for ``user_id`` (returned once, in clear, to show to the issuer)."""
    void(session, user_id)
    code = new_code()
    session.add(ResetCode(user_id=user_id, code_hash=hash_code(code), expires_at=utcnow() + valid_for))
    session.flush()
    return code
