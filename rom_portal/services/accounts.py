"""Logging in and out, the second factor, and a user's own account: password, sessions, language.

Logging in takes three steps so the slow password hash never holds a database thread or SQLite's write lock:
``login_lookup`` (read), the hash check in the hashing pool, then ``login_finish`` (write).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, col, delete, select

from rom_portal.models import AuthSession, RecoveryCode, User
from rom_portal.models.base import utcnow
from rom_portal.security import sessions, throttle, totp
from rom_portal.security.passwords import Verification
from rom_portal.security.throttle import Locked
from rom_portal.services import reset_codes
from rom_portal.services.audit import Actor, record
from rom_portal.settings import LANGUAGES


class AccountError(Exception):
    """A rule stopped the action; ``code`` tells the view which message to show."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Refusal:
    """A failed attempt. Returned, not raised: the failure count and audit row must be committed."""

    code: str  # "failed", "wrong_code", "locked"
    locked: Locked | None = None


# Usernames: 3 to 64 characters, lower case letters, digits, dot, dash and underscore, not starting with a sign.
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")


def normalise_username(username: str) -> str:
    return username.strip().lower()


def valid_username(username: str) -> bool:
    """For a new account; ``username`` is already normalised."""
    return _USERNAME.fullmatch(username) is not None


def _login_keys(username: str, address: str | None) -> tuple[str, str]:
    return f"user:{normalise_username(username)}", throttle.address_key("ip", address)


@dataclass(frozen=True)
class LoginLookup:
    user_id: int | None
    password_hash: str | None  # None for unknown or disabled accounts: a dummy is checked instead
    locked: Locked | None


def login_lookup(session: Session, username: str, address: str | None) -> LoginLookup:
    lock = throttle.locked(session, *_login_keys(username, address))
    user = session.exec(select(User).where(User.username == normalise_username(username))).first()
    if user is None or not user.is_active:
        return LoginLookup(None, None, lock)
    return LoginLookup(user.id, user.password_hash, lock)


@dataclass(frozen=True)
class LoginOutcome:
    token: str
    user: User


def login_finish(
    session: Session,
    lookup: LoginLookup,
    verification: Verification,
    new_hash: str | None,
    *,
    username: str,
    address: str | None,
    device: str,
    session_max: timedelta | None = None,
) -> LoginOutcome | Refusal:
    """Record the attempt; on success start a new session."""
    keys = _login_keys(username, address)
    # Checked again here, in the writing transaction: attempts hashed side by side all passed the first check.
    lock = throttle.locked(session, *keys, for_update=True)
    if lock is not None:
        return Refusal("locked", lock)
    user = session.get(User, lookup.user_id) if lookup.user_id is not None else None
    if not verification.ok or user is None or not user.is_active:
        throttle.record_failure(session, *keys)
        actor = Actor(user.id, user.role.value) if user else Actor.anonymous()
        record(session, actor, "login", "account", user.id if user else "", outcome="failure")
        return Refusal("failed")
    throttle.record_success(session, *keys)
    if new_hash:
        user.password_hash = new_hash  # parameters changed since this hash was made
    if session_max is not None:  # logins sweep away sessions that were abandoned instead of logged out
        sessions.end_expired(session, session_max)
    token = sessions.start(session, user, mfa_ok=not user.needs_second_factor, device=device)
    record(session, Actor(user.id, user.role.value), "login", "account", user.id)
    return LoginOutcome(token, user)


def logout(session: Session, auth: sessions.Auth) -> None:
    sessions.end(session, auth.session_id)
    record(session, Actor(auth.user_id, auth.role.value), "logout", "account", auth.user_id)


# --- Second factor ----------------------------------------------------------------------------------------


def _mfa_key(user_id: int) -> str:
    return f"mfa:{user_id}"


def verify_second_factor(session: Session, auth: sessions.Auth, code: str) -> str | Refusal:
    """Check a TOTP or recovery code for a half-logged-in session; returns the session's new token."""
    user = session.get(User, auth.user_id, with_for_update=True)
    auth_session = session.get(AuthSession, auth.session_id)
    if user is None or auth_session is None or user.totp_secret is None:
        raise AccountError("no_second_factor")
    lock = throttle.locked(session, _mfa_key(auth.user_id), for_update=True)
    if lock:
        return Refusal("locked", lock)
    step = totp.matching_step(user.totp_secret, code, user.totp_last_step)
    used_recovery = None
    if step is None:
        used_recovery = session.exec(
            select(RecoveryCode).where(
                RecoveryCode.user_id == auth.user_id,
                RecoveryCode.code_hash == totp.recovery_hash(code),
                col(RecoveryCode.used_at).is_(None),
            )
        ).first()
    if step is None and used_recovery is None:
        throttle.record_failure(session, _mfa_key(auth.user_id))
        record(session, Actor(user.id, user.role.value), "second_factor", "account", user.id, outcome="failure")
        return Refusal("wrong_code")
    throttle.record_success(session, _mfa_key(auth.user_id))
    if step is not None:
        user.totp_last_step = step
    if used_recovery is not None:
        used_recovery.used_at = utcnow()
        record(session, Actor(user.id, user.role.value), "use_recovery_code", "account", user.id)
    record(session, Actor(user.id, user.role.value), "second_factor", "account", user.id)
    return sessions.rotate(session, auth_session, mfa_ok=True)


def offer_totp_secret(session: Session, auth: sessions.Auth) -> str:
    """The secret to enrol with: kept with the session until confirmed, so a reload shows the same QR code."""
    auth_session = session.get(AuthSession, auth.session_id)
    assert auth_session is not None
    if auth_session.pending_totp_secret is None:
        auth_session.pending_totp_secret = totp.new_secret()
    return auth_session.pending_totp_secret


@dataclass(frozen=True)
class Enrolment:
    token: str
    recovery_codes: list[str]


def confirm_totp(session: Session, auth: sessions.Auth, code: str) -> Enrolment | Refusal:
    user = session.get(User, auth.user_id, with_for_update=True)
    auth_session = session.get(AuthSession, auth.session_id)
    assert user is not None and auth_session is not None
    if user.totp_secret is not None:
        raise AccountError("already_enrolled")
    secret = auth_session.pending_totp_secret
    lock = throttle.locked(session, _mfa_key(auth.user_id), for_update=True)
    if lock:
        return Refusal("locked", lock)
    step = totp.matching_step(secret, code, None) if secret else None
    if step is None:
        throttle.record_failure(session, _mfa_key(auth.user_id))
        return Refusal("wrong_code")
    throttle.record_success(session, _mfa_key(auth.user_id))
    user.totp_secret, user.totp_last_step = secret, step
    auth_session.pending_totp_secret = None
    codes = _replace_recovery_codes(session, user.id)
    record(session, Actor(user.id, user.role.value), "enrol_second_factor", "account", user.id)
    # Enrolment is a change of privilege: new token, and other sessions of this user end.
    sessions.end_others(session, auth.user_id, auth.session_id)
    return Enrolment(sessions.rotate(session, auth_session, mfa_ok=True), codes)


def _replace_recovery_codes(session: Session, user_id: int | None) -> list[str]:
    assert user_id is not None
    session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    codes = totp.new_recovery_codes()
    for code in codes:
        session.add(RecoveryCode(user_id=user_id, code_hash=totp.recovery_hash(code)))
    return codes


def new_recovery_codes(session: Session, auth: sessions.Auth) -> list[str]:
    codes = _replace_recovery_codes(session, auth.user_id)
    record(session, Actor(auth.user_id, auth.role.value), "new_recovery_codes", "account", auth.user_id)
    return codes


def unused_recovery_codes(session: Session, user_id: int) -> int:
    rows = session.exec(
        select(RecoveryCode.id).where(RecoveryCode.user_id == user_id, col(RecoveryCode.used_at).is_(None))
    ).all()
    return len(rows)


def remove_totp(session: Session, auth: sessions.Auth) -> None:
    """Clients may switch their optional second factor off again (after giving their password)."""
    user = session.get(User, auth.user_id)
    assert user is not None
    if user.role.is_staff:
        raise AccountError("required_for_staff")
    user.totp_secret, user.totp_last_step = None, None
    session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == auth.user_id))
    record(session, Actor(auth.user_id, auth.role.value), "remove_second_factor", "account", auth.user_id)


# --- Own account ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PasswordCheck:
    password_hash: str | None
    locked: Locked | None


def current_password_lookup(session: Session, auth: sessions.Auth) -> PasswordCheck:
    """Before re-asking a logged-in user's password: its hash, unless guessing is locked for this account."""
    user = session.get(User, auth.user_id)
    lock = throttle.locked(session, f"user:{auth.username}")
    return PasswordCheck(user.password_hash if user and user.is_active else None, lock)


def current_password_finish(session: Session, auth: sessions.Auth, ok: bool) -> Refusal | None:
    """Count the answer like a login attempt: someone at an unattended screen must not guess freely."""
    key = f"user:{auth.username}"
    lock = throttle.locked(session, key, for_update=True)
    if lock is not None:
        return Refusal("locked", lock)
    if not ok:
        throttle.record_failure(session, key)
        record(
            session,
            Actor(auth.user_id, auth.role.value),
            "confirm_password",
            "account",
            auth.user_id,
            outcome="failure",
        )
        return Refusal("failed")
    throttle.record_success(session, key)
    return None


def change_password(session: Session, auth: sessions.Auth, new_hash: str) -> str:
    """Store the new hash, end the user's other sessions, and give this one a new token."""
    user = session.get(User, auth.user_id)
    auth_session = session.get(AuthSession, auth.session_id)
    assert user is not None and auth_session is not None
    user.password_hash = new_hash
    user.password_changed_at = utcnow()
    sessions.end_others(session, auth.user_id, auth.session_id)
    reset_codes.void(session, auth.user_id)  # a code handed out earlier must not undo this change
    record(session, Actor(auth.user_id, auth.role.value), "change_password", "account", auth.user_id)
    return sessions.rotate(session, auth_session)


def end_other_sessions(session: Session, auth: sessions.Auth) -> int:
    ended = sessions.end_others(session, auth.user_id, auth.session_id)
    record(session, Actor(auth.user_id, auth.role.value), "end_sessions", "account", auth.user_id)
    return ended


def set_language(session: Session, auth: sessions.Auth, language: str) -> None:
    if language not in LANGUAGES:
        raise AccountError("unknown_language")
    user = session.get(User, auth.user_id)
    assert user is not None
    user.locale = language


@dataclass(frozen=True)
class AccountOverview:
    user: User
    sessions: list[AuthSession]
    unused_recovery_codes: int


def overview(session: Session, auth: sessions.Auth) -> AccountOverview:
    user = session.get(User, auth.user_id)
    assert user is not None
    return AccountOverview(user, sessions.list_for(session, auth.user_id), unused_recovery_codes(session, auth.user_id))
