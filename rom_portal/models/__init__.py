"""SQLModel tables. Import every table module here so the metadata (and Alembic) sees them all."""

from rom_portal.models.accounts import Role, User
from rom_portal.models.meta import PortalMeta

__all__ = ["PortalMeta", "Role", "User"]
