"""Login sessions, stored server-side. The browser holds an opaque token; the database holds its hash.

A session ends at logout (row deleted), after the idle or absolute timeout, when the password changes
(other sessions), when the account is disabled, or when the user ends it from another device.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, delete, select

from rom_portal.models import AuthSession, InformantLink, Role, User
from rom_portal.models.base import utcnow
from rom_portal.security.tokens import hash_token, new_token

# last_seen_at is written at most this often, so ordinary page views stay reads.
TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class Timeouts:
    staff_idle: timedelta
    client_idle: timedelta
    absolute: timedelta

    def idle_for(self, role: Role) -> timedelta:
        return self.staff_idle if role.is_staff else self.client_idle


@dataclass(frozen=True)
class InformantAuth:
    """An informant who opened their link and gave its code: they may fill in that one assignment, nothing else."""

    session_id: int
    link_id: int
    assignment_id: int
    registration_id: int
    csrf_token: str
    stale: bool = False  # last_seen_at is due for an update (written at most once a minute)


@dataclass(frozen=True)
class Auth:
    """The logged-in user of a request, as the views and templates see it."""

    session_id: int
    user_id: int
    username: str
    display_name: str
    role: Role
    mfa_ok: bool
    needs_second_factor: bool
    has_totp: bool
    csrf_token: str
    locale: str | None

    @property
    def fully_authenticated(self) -> bool:
        return self.mfa_ok or not self.needs_second_factor


def start(session: Session, user: User, *, mfa_ok: bool, device: str = "") -> str:
    """A new session with a new token (never reuse one: that would allow session fixation)."""
    assert user.id is not None
    token = new_token()
    session.add(
        AuthSession(
            token_hash=hash_token(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            mfa_ok=mfa_ok,
            device=device[:80],
        )
    )
    session.flush()
    return token


def rotate(session: Session, auth_session: AuthSession, *, mfa_ok: bool | None = None) -> str:
    """Give the session a new token (and CSRF token) at a change of privilege; the old token stops working."""
    token = new_token()
    auth_session.token_hash = hash_token(token)
    auth_session.csrf_token = secrets.token_urlsafe(32)
    if mfa_ok is not None:
        auth_session.mfa_ok = mfa_ok
    auth_session.last_seen_at = utcnow()
    session.add(auth_session)
    session.flush()
    return token


def _expired(auth_session: AuthSession, user: User, timeouts: Timeouts, now: datetime) -> bool:
    return (
        now - auth_session.created_at > timeouts.absolute
        or now - auth_session.last_seen_at > timeouts.idle_for(user.role)
        or not user.is_active
    )


@functools.cache
def _find_statement() -> Any:
    # Built once: building it anew for every request cost about as much as running it.
    return (
        select(AuthSession, User)
        .outerjoin(User, col(User.id) == AuthSession.user_id)
        .where(AuthSession.token_hash == bindparam("token_hash"))
    )


def find(session: Session, token: str, timeouts: Timeouts) -> tuple[AuthSession, User] | InformantAuth | None:
    """The live session for ``token``: a user's, an informant's, or None (unknown, expired, disabled, closed)."""
    row = session.exec(_find_statement(), params={"token_hash": hash_token(token)}).first()
    if row is None:
        return None
    auth_session, user = row
    now = utcnow()
    if auth_session.user_id is None:
        return _informant(session, auth_session, timeouts, now)
    if user is None or _expired(auth_session, user, timeouts, now):
        return None
    return auth_session, user


def _informant(session: Session, auth_session: AuthSession, timeouts: Timeouts, now: datetime) -> InformantAuth | None:
    link = session.get(InformantLink, auth_session.informant_link_id) if auth_session.informant_link_id else None
    if (
        link is None
        or link.closed_at is not None
        or link.expires_at <= now
        or now - auth_session.created_at > timeouts.absolute
        or now - auth_session.last_seen_at > timeouts.client_idle
    ):
        return None
    assert auth_session.id is not None and link.id is not None
    return InformantAuth(
        auth_session.id,
        link.id,
        link.assignment_id,
        link.registration_id,
        auth_session.csrf_token,
        needs_touch(auth_session),
    )


def start_informant(session: Session, link: InformantLink) -> str:
    """A session for an informant who gave the right code (no account, no access beyond the one form)."""
    token = new_token()
    session.add(
        AuthSession(
            token_hash=hash_token(token), informant_link_id=link.id, csrf_token=secrets.token_urlsafe(32), mfa_ok=True
        )
    )
    session.flush()
    return token


def needs_touch(auth_session: AuthSession) -> bool:
    return utcnow() - auth_session.last_seen_at > TOUCH_INTERVAL


def touch(session: Session, session_id: int) -> None:
    row = session.get(AuthSession, session_id)
    if row is not None:
        row.last_seen_at = utcnow()


def as_auth(auth_session: AuthSession, user: User) -> Auth:
    assert auth_session.id is not None and user.id is not None
    return Auth(
        session_id=auth_session.id,
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        mfa_ok=auth_session.mfa_ok,
        needs_second_factor=user.needs_second_factor,
        has_totp=user.totp_secret is not None,
        csrf_token=auth_session.csrf_token,
        locale=user.locale,
    )


def end(session: Session, session_id: int) -> None:
    session.exec(delete(AuthSession).where(col(AuthSession.id) == session_id))


def end_others(session: Session, user_id: int, keep_session_id: int) -> int:
    result = session.exec(
        delete(AuthSession).where(col(AuthSession.user_id) == user_id, col(AuthSession.id) != keep_session_id)
    )
    return int(result.rowcount or 0)


def end_all(session: Session, user_id: int) -> int:
    result = session.exec(delete(AuthSession).where(col(AuthSession.user_id) == user_id))
    return int(result.rowcount or 0)


def end_expired(session: Session, absolute: timedelta) -> int:
    """Housekeeping: remove sessions past the absolute limit (abandoned, never logged out)."""
    result = session.exec(delete(AuthSession).where(col(AuthSession.created_at) < utcnow() - absolute))
    return int(result.rowcount or 0)


def list_for(session: Session, user_id: int) -> list[AuthSession]:
    return list(
        session.exec(
            select(AuthSession).where(AuthSession.user_id == user_id).order_by(col(AuthSession.last_seen_at).desc())
        )
    )


def device_label(user_agent: str) -> str:
    """'Firefox on Windows'-style label; the full user agent is never stored."""
    agent = user_agent.lower()
    browser = next(
        (
            name
            for key, name in (("edg/", "Edge"), ("firefox", "Firefox"), ("chrome", "Chrome"), ("safari", "Safari"))
            if key in agent
        ),
        "",
    )
    system = next(
        (
            name
            for key, name in (
                ("android", "Android"),
                ("iphone", "iPhone"),
                ("ipad", "iPad"),
                ("windows", "Windows"),
                ("mac os", "macOS"),
                ("linux", "Linux"),
            )
            if key in agent
        ),
        "",
    )
    return " / ".join(part for part in (browser, system) if part)
