"""Accounts: every person who logs in. Informants have no account."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Column, Enum
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
