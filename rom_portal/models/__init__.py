"""SQLModel tables. Import every table module here so the metadata (and Alembic) sees them all."""

from rom_portal.models.accounts import AuthSession, RecoveryCode, ResetCode, Role, Throttle, User
from rom_portal.models.audit import AuditEvent
from rom_portal.models.clients import Consent, ConsentKind, Invitation, Registration
from rom_portal.models.meta import PortalMeta
from rom_portal.models.questionnaires import (
    Alert,
    Answer,
    Assignment,
    InformantLink,
    MeasurementPlan,
    Reminder,
    Respondent,
    Score,
    Submission,
    SubmissionStatus,
)

__all__ = [
    "Alert",
    "Answer",
    "Assignment",
    "AuditEvent",
    "AuthSession",
    "Consent",
    "ConsentKind",
    "InformantLink",
    "Invitation",
    "MeasurementPlan",
    "PortalMeta",
    "RecoveryCode",
    "Registration",
    "Reminder",
    "ResetCode",
    "Respondent",
    "Role",
    "Score",
    "Submission",
    "SubmissionStatus",
    "Throttle",
    "User",
]
