"""The client's registration: the root that every piece of client data hangs off (ON DELETE CASCADE)."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

from sqlalchemy import Column, Enum, ForeignKey, Integer, String
from sqlmodel import Field, SQLModel

from rom_portal.models.base import UTCDateTime, utcnow


def new_public_id() -> str:
    """Random id for URLs and the erasure ledger: it says nothing about order or count."""
    return secrets.token_urlsafe(12)


class Registration(SQLModel, table=True):
    __tablename__ = "registration"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=24, unique=True, index=True)
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False, unique=True)
    )
    # A therapist's account is never deleted while it has clients (it is disabled instead).
    therapist_id: int = Field(
        sa_column=Column(Integer, ForeignKey("user_account.id", ondelete="RESTRICT"), nullable=False, index=True)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    birth_year: int | None = Field(default=None)
    sex: str | None = Field(default=None, max_length=16)
    results_visible: bool = Field(default=False)
    show_name_to_informants: bool = Field(default=True)
    # Given by the client for reminders only ("a questionnaire is waiting"); removed with the registration.
    reminder_email: str | None = Field(default=None, max_length=254)


class ConsentKind(enum.StrEnum):
    privacy_statement = "privacy_statement"
    research = "research"


class Consent(SQLModel, table=True):
    """A consent given (and perhaps withdrawn), with the version of the text agreed to."""

    __tablename__ = "consent"

    id: int | None = Field(default=None, primary_key=True)
    registration_id: int = Field(
        sa_column=Column(Integer, ForeignKey("registration.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    kind: ConsentKind = Field(
        sa_column=Column(Enum(ConsentKind, name="consent_kind", native_enum=False, length=32), nullable=False)
    )
    statement_version: str = Field(sa_column=Column(String(32), nullable=False))
    given_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    withdrawn_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Invitation(SQLModel, table=True):
    """A one-time code a therapist hands to a new client; stored hashed, single-use, expiring."""

    __tablename__ = "invitation"

    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(max_length=64, unique=True, index=True)
    therapist_id: int = Field(
        sa_column=Column(Integer, ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    label: str = Field(default="", max_length=80)  # the therapist's own note, e.g. initials
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
