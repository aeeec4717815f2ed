"""Writing the audit log (NEN 7513). Never pass answer content, passwords, codes or tokens here."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from rom_portal.models import AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who is acting: a logged-in user, an informant, the system (CLI, retention) or an anonymous visitor."""

    user_id: int | None
    role: str
    access_point: str = "web"

    @classmethod
    def system(cls, command: str) -> Actor:
        return cls(None, "system", f"cli:{command}")

    @classmethod
    def anonymous(cls, access_point: str = "web") -> Actor:
        return cls(None, "anonymous", access_point)


def record(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: object = "",
    *,
    registration_id: int | None = None,
    outcome: str = "success",
    detail: str = "",
) -> None:
    session.add(
        AuditEvent(
            actor_user_id=actor.user_id,
            actor_role=actor.role,
            registration_id=registration_id,
            object_type=object_type,
            object_id=str(object_id)[:64],
            action=action,
            outcome=outcome,
            access_point=actor.access_point[:64],
            detail=detail[:255],
        )
    )
