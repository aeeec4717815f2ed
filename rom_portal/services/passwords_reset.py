"""Setting a new password with a one-time reset code: recovery without e-mail.

A therapist issues a code for one of their own clients (an admin does the same for staff, through
``reset_codes.issue``); the person types their username, the code and a new password on ``/reset``.
An unknown username, a wrong code, a used code and an expired code all get the same refusal. Guessing is
throttled per username (known or not) and per client address.

``use_reset_code`` returns an outcome instead of raising: ``Database.write`` rolls back on an exception, and
a refusal must still commit its throttle count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from rom_portal.i18n import N_
from rom_portal.models import Registration, ResetCode, User
from rom_portal.models.base import utcnow
from rom_portal.security import sessions, throttle
from rom_portal.security.passwords import password_problem
from rom_portal.security.throttle import Locked
from rom_portal.security.tokens import hash_code
from rom_portal.services import reset_codes
from rom_portal.services.accounts import normalise_username
from rom_portal.services.audit import Actor, record
from rom_portal.services.onboarding import code_address_key, registration_of

BAD_RESET = N_(
    "The username or the code is not right, or the code is no longer valid. Check both, or ask for a new code."
)


@dataclass(frozen=True)
class IssuedCode:
    code: str  # in clear, shown once to the therapist
    username: str
    display_name: str
    expires_at: datetime


def issue_for_client(session: Session, actor: Actor, public_id: str, valid_for: timedelta) -> IssuedCode:
    """A reset code for one of the therapist's own clients (NotFound for anyone else's)."""
    assert actor.user_id is not None
    registration = registration_of(session, actor.user_id, public_id)
    user = session.get(User, registration.user_id)
    assert user is not None and user.id is not None
    code = reset_codes.issue(session, user_id=user.id, valid_for=valid_for)
    record(session, actor, "create", "reset_code", user.id, registration_id=registration.id)
    return IssuedCode(code, user.username, user.display_name, utcnow() + valid_for)


def form_problems(username: str, code: str, password: str, password_again: str) -> dict[str, str]:
    """Field name -> message id, for everything that can be checked without the database."""
    problems: dict[str, str] = {}
    if not normalise_username(username):
        problems["username"] = N_("Fill in your username.")
    if not code.strip():
        problems["code"] = N_("Fill in the reset code you were given.")
    problem = password_problem(password, username=normalise_username(username))
    if problem:
        problems["password"] = problem
    elif password != password_again:
        problems["password_again"] = N_("The two passwords are not the same.")
    return problems


@dataclass(frozen=True)
class ResetOutcome:
    ok: bool
    locked: Locked | None = None


def _throttle_keys(username: str, address: str | None) -> tuple[str, str]:
    return f"reset-user:{normalise_username(username)}", code_address_key(address)


def _registration_id(session: Session, user_id: int) -> int | None:
    return session.exec(select(Registration.id).where(Registration.user_id == user_id)).first()


def use_reset_code(
    session: Session, username: str, code: str, password_hash: str, *, address: str | None
) -> ResetOutcome:
    """Set the new password when ``code`` is a live code of ``username``; end all of that user's sessions."""
    keys = _throttle_keys(username, address)
    lock = throttle.locked(session, *keys, for_update=True)
    if lock is not None:
        return ResetOutcome(ok=False, locked=lock)
    now = utcnow()
    user = session.exec(select(User).where(User.username == normalise_username(username))).first()
    reset = None
    if user is not None and user.is_active:
        reset = session.exec(
            select(ResetCode)
            .where(
                ResetCode.user_id == user.id,
                ResetCode.code_hash == hash_code(code),
                col(ResetCode.used_at).is_(None),
                col(ResetCode.expires_at) > now,
            )
            .with_for_update()  # two requests racing with one code cannot both use it
        ).first()
    registration_id = _registration_id(session, user.id) if user is not None and user.id is not None else None
    if user is None or reset is None:
        throttle.record_failure(session, *keys)
        object_id = user.id if user is not None else ""
        record(
            session,
            Actor.anonymous(),
            "use",
            "reset_code",
            object_id,
            registration_id=registration_id,
            outcome="failure",
        )
        return ResetOutcome(ok=False)
    assert user.id is not None
    throttle.record_success(session, *keys)
    reset.used_at = now
    user.password_hash = password_hash
    user.password_changed_at = now
    # Whoever held the old password must not stay logged in anywhere.
    sessions.end_all(session, user.id)
    record(session, Actor(user.id, user.role.value), "use", "reset_code", user.id, registration_id=registration_id)
    return ResetOutcome(ok=True)
