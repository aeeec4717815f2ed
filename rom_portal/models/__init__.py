"""SQLModel tables. Import every table module here so the metadata (and Alembic) sees them all."""

from rom_portal.models.accounts import AuthSession, RecoveryCode, ResetCode, Role, Throttle, User
from rom_portal.models.audit import AuditEvent
from rom_portal.models.clients import Consent, ConsentKind, Invitation, Registration
from rom_portal.models.meta import PortalMeta

__all__ = [
    "AuditEvent",
    "AuthSession",
    "Consent",
    "ConsentKind",
    "Invitation",
    "PortalMeta",
    "RecoveryCode",
    "Registration",
    "ResetCode",
    "Role",
    "Throttle",
    "User",
]
