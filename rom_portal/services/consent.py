"""Consents: the privacy statement accepted at registration, and the opt-in for research.

Research consent is opt-in and can be withdrawn at any time. Each time it is given a new row records when and
which version of the statement was agreed to; withdrawing sets ``withdrawn_at`` on the open row, so the history
stays visible to the client. Research exports count only registrations with an open research consent at the
moment of the export (``research_consented``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from rom_portal.i18n import N_
from rom_portal.models import Consent, ConsentKind, Registration
from rom_portal.models.base import utcnow
from rom_portal.services.audit import Actor, record
from rom_portal.services.filling import NotFound

# Bump when the privacy statement's text changes in substance; consents record the version agreed to.
PRIVACY_STATEMENT_VERSION = "2026-11"

# The research statement, shown next to the tick box. Change its text in substance -> bump the version, so each
# consent still says which text the client agreed to.
RESEARCH_STATEMENT_VERSION = "research-2026-11"
RESEARCH_STATEMENT = (
    N_("I agree that my scores are counted in scientific research into how treatments work."),
    N_(
        "Researchers never see my answers, my name or my username. They only get totals of large groups of "
        "people, such as an average. Small groups are left out, so nobody can be recognised."
    ),
    N_("Saying no has no effect on my treatment."),
    N_(
        "I can withdraw this permission at any time, on this page. From then on my scores are not counted in new "
        "research. Totals that were made before cannot be changed."
    ),
)


def record_privacy_statement(session: Session, registration_id: int) -> Consent:
    consent = Consent(
        registration_id=registration_id,
        kind=ConsentKind.privacy_statement,
        statement_version=PRIVACY_STATEMENT_VERSION,
    )
    session.add(consent)
    return consent


# --- Research consent -------------------------------------------------------------------------------------


def research_consented(given_before: datetime | None = None) -> SelectOfScalar[int]:
    """The ids of registrations with an open research consent, for use in a query.

    ``select(...).where(col(Registration.id).in_(research_consented()))``: evaluated by the database at the
    moment the query runs, so a consent withdrawn a second earlier no longer counts. With ``given_before``, only
    consents given before then (a research export counts consents of before its month, like its measurements).
    """
    statement = select(col(Consent.registration_id)).where(
        Consent.kind == ConsentKind.research, col(Consent.withdrawn_at).is_(None)
    )
    if given_before is not None:
        statement = statement.where(col(Consent.given_at) < given_before)
    return statement


def has_research_consent(session: Session, registration_id: int) -> bool:
    found = session.exec(research_consented().where(Consent.registration_id == registration_id).limit(1)).first()
    return found is not None


@dataclass(frozen=True)
class ConsentRow:
    kind: ConsentKind
    statement_version: str
    given_at: datetime
    withdrawn_at: datetime | None


@dataclass(frozen=True)
class ResearchConsent:
    """The client's research consent now, and every consent of theirs (latest first)."""

    open: ConsentRow | None
    history: list[ConsentRow]

    @property
    def research_history(self) -> list[ConsentRow]:
        return [row for row in self.history if row.kind is ConsentKind.research]


def consents_of(session: Session, registration_id: int) -> ResearchConsent:
    rows = session.exec(
        select(Consent)
        .where(Consent.registration_id == registration_id)
        .order_by(col(Consent.given_at).desc(), col(Consent.id).desc())
    ).all()
    history = [ConsentRow(row.kind, row.statement_version, row.given_at, row.withdrawn_at) for row in rows]
    current = next(
        (row for row in history if row.kind is ConsentKind.research and row.withdrawn_at is None),
        None,
    )
    return ResearchConsent(current, history)


def _own_registration_locked(session: Session, actor: Actor) -> Registration:
    """The actor's (a client's) own registration, locked, so two clicks at once record one change."""
    assert actor.user_id is not None
    registration = session.exec(
        select(Registration).where(Registration.user_id == actor.user_id).with_for_update()
    ).first()
    if registration is None:
        raise NotFound()
    return registration


def _open_research(session: Session, registration_id: int) -> list[Consent]:
    return list(
        session.exec(
            select(Consent).where(
                Consent.registration_id == registration_id,
                Consent.kind == ConsentKind.research,
                col(Consent.withdrawn_at).is_(None),
            )
        )
    )


def give_research_consent(session: Session, actor: Actor) -> bool:
    """Record the client's opt-in to the current statement; False (nothing recorded) when it is already given."""
    registration = _own_registration_locked(session, actor)
    assert registration.id is not None
    if _open_research(session, registration.id):
        return False
    consent = Consent(
        registration_id=registration.id, kind=ConsentKind.research, statement_version=RESEARCH_STATEMENT_VERSION
    )
    session.add(consent)
    session.flush()
    record(session, actor, "create", "consent", consent.id, registration_id=registration.id)
    return True


def withdraw_research_consent(session: Session, actor: Actor) -> bool:
    """Withdraw the client's open research consent; False (nothing changed) when there is none."""
    registration = _own_registration_locked(session, actor)
    assert registration.id is not None
    open_consents = _open_research(session, registration.id)
    now = utcnow()
    for consent in open_consents:
        consent.withdrawn_at = now
        session.add(consent)
        record(session, actor, "update", "consent", consent.id, registration_id=registration.id)
    return bool(open_consents)
