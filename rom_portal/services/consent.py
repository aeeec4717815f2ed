"""Consents: the privacy statement accepted at registration, and the opt-in for research."""

from __future__ import annotations

from sqlmodel import Session

from rom_portal.models import Consent, ConsentKind

# Bump when the privacy statement's text changes in substance; consents record the version agreed to.
PRIVACY_STATEMENT_VERSION = "2026-11"


def record_privacy_statement(session: Session, registration_id: int) -> Consent:
    consent = Consent(
        registration_id=registration_id,
        kind=ConsentKind.privacy_statement,
        statement_version=PRIVACY_STATEMENT_VERSION,
    )
    session.add(consent)
    return consent
