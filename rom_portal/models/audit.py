"""The audit log (NEN 7513): one append-only row per access to, or change of, client data or accounts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer
from sqlmodel import Field, SQLModel

from rom_portal.models.base import UTCDateTime, utcnow


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    # Who acted. No foreign key: the trail of a staff member outlives their account.
    actor_user_id: int | None = Field(default=None, index=True)
    actor_role: str = Field(max_length=16)  # client, therapist, researcher, admin, informant, system, anonymous
    # Whose data it was about. Erasing a registration removes the rows about that client too.
    registration_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("registration.id", ondelete="CASCADE"), nullable=True, index=True),
    )
    object_type: str = Field(max_length=32)
    object_id: str = Field(default="", max_length=64)
    action: str = Field(max_length=32)  # read, create, update, delete, export, login, logout, ...
    outcome: str = Field(default="success", max_length=16)  # success, failure, denied
    access_point: str = Field(max_length=64)  # "web" route name, or "cli:<command>"
    # What was asked, where the object id is too short for it (the parameters of a research export).
    detail: str = Field(default="", max_length=255, sa_column_kwargs={"server_default": ""})
