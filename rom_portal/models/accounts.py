"""Accounts: every person who logs in, their login sessions and second factor. Informants have no account."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Column, Enum, ForeignKey, Integer
from sqlmodel import Field, SQLModel

from rom_portal.models.base import UTCDateTime, utcnow


class Role(enum.StrEnum):
    client = "client"
    therapist = "therapist"
    researcher = "researcher"
    admin = "admin"

    @property
    def is_staff(self) -> bool:
        return self is not Role.client


def _user_fk() -> Column[int]:
    return Column(Integer, ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False, index=True)


class User(SQLModel, table=True):
    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    # Login is by username, never by e-mail address.
    username: str = Field(max_length=64, unique=True, index=True)
    password_hash: str = Field(max_length=256)
    role: Role = Field(sa_column=Column(Enum(Role, name="user_role", native_enum=False, length=16), nullable=False))
    display_name: str = Field(default="", max_length=80)
    locale: str | None = Field(default=None, max_length=8)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    password_changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # TOTP (RFC 6238): the shared secret once enrolment is confirmed, and the last time step used, so a code
    # cannot be replayed within its window.
    totp_secret: str | None = Field(default=None, max_length=64)
    totp_last_step: int | None = Field(default=None)

    @property
    def is_active(self) -> bool:
        return self.disabled_at is None

    @property
    def needs_second_factor(self) -> bool:
        return self.role.is_staff or self.totp_secret is not None


class AuthSession(SQLModel, table=True):
    """A login, stored server-side; the browser holds only the token, and we keep only its hash."""

    __tablename__ = "auth_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    # A session belongs to a user, or (without an account) to one informant link.
    user_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("user_account.id", ondelete="CASCADE"), nullable=True, index=True),
    )
    informant_link_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("informant_link.id", ondelete="CASCADE"), nullable=True, index=True),
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    csrf_token: str = Field(max_length=64)
    # False until the second factor is given (or when the account needs none).
    mfa_ok: bool = Field(default=False)
    # A TOTP secret offered during enrolment, kept here until the user confirms it with a code.
    pending_totp_secret: str | None = Field(default=None, max_length=64)
    # Coarse description for "your active sessions" (browser and system), never the full user agent or address.
    device: str = Field(default="", max_length=80)


class RecoveryCode(SQLModel, table=True):
    """Single-use codes for a lost authenticator, stored hashed."""

    __tablename__ = "recovery_code"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=_user_fk())
    code_hash: str = Field(max_length=64)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ResetCode(SQLModel, table=True):
    """A one-time code to set a new password, handed out by a therapist (clients) or an admin (staff)."""

    __tablename__ = "reset_code"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=_user_fk())
    code_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Throttle(SQLModel, table=True):
    """Failed attempts per key ("user:NAME", "ip:ADDRESS", "code-ip:ADDRESS", ...)."""

    __tablename__ = "throttle"

    key: str = Field(primary_key=True, max_length=160)
    consecutive: int = Field(default=0)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    hour_started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    hour_count: int = Field(default=0)
