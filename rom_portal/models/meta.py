"""Facts about the database itself (for instance: this is a demo database)."""

from __future__ import annotations

from sqlmodel import Field, SQLModel

DEMO_KEY = "demo"


class PortalMeta(SQLModel, table=True):
    __tablename__ = "portal_meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=256)
