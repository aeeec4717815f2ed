"""Erasing a registration: everything linked to one client, in one transaction, leaving only a receipt.

Everything that holds client data hangs off the client's account and registration with ON DELETE CASCADE,
so deleting the account row removes the registration, consents, plans, assignments, submissions, answers,
scores, alerts, informant links (and their sessions), reminders, the audit rows about the client, login
sessions and recovery and reset codes. Some rows mention the client without a foreign key, and are removed
here by hand: audit rows of the client's own actions (logins and the like, by ``actor_user_id``), guessing
counters keyed on their username or ids, and the invitation they redeemed (its note may name them).

The rows to count are found by walking the foreign keys in the model metadata, so a table added later is
counted (and, through its cascade, removed) without a change here. The receipt's id is fresh and random
(``RECEIPT_ID_BYTES``), shown on the receipt and in the audit row; it is not the registration's public id, which
appears in staff URLs and logs. That public id goes to the erasure ledger (a file outside the database) before
the transaction commits, so a restored backup can be erased again.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import anyio
from sqlalchemy import ColumnElement, Table, delete, func, or_
from sqlalchemy import select as core_select
from sqlmodel import Session, SQLModel, col, select

from rom_portal.db import Database
from rom_portal.models import (
    AuditEvent,
    InformantLink,
    Invitation,
    RecoveryCode,
    Registration,
    Role,
    Throttle,
    User,
)
from rom_portal.models.base import utcnow
from rom_portal.security import sessions, throttle, totp
from rom_portal.services import accounts
from rom_portal.services.accounts import Refusal
from rom_portal.services.audit import Actor, record
from rom_portal.services.erasure_ledger import ErasureLedger
from rom_portal.services.onboarding import NotFound, registration_of

log = logging.getLogger("rom_portal.erasure")

# What the receipt counts, in the order it shows them. Tables not named in _KIND_OF_TABLE count as "other".
RECEIPT_KINDS = (
    "profile",
    "consents",
    "plans",
    "questionnaires",
    "submissions",
    "answers",
    "scores",
    "alerts",
    "informant_links",
    "reminders",
    "sessions",
    "audit_events",
    "other",
)
_KIND_OF_TABLE = {
    "user_account": "profile",
    "registration": None,  # part of the profile: one account, one registration
    "consent": "consents",
    "measurement_plan": "plans",
    "assignment": "questionnaires",
    "submission": "submissions",
    "answer": "answers",
    "score": "scores",
    "alert": "alerts",
    "informant_link": "informant_links",
    "reminder": "reminders",
    "auth_session": "sessions",
    "audit_event": "audit_events",
}
# The tables whose rows mention a client without a foreign key: removed explicitly, before the cascade.
_BY_HAND = ("audit_event", "throttle", "invitation")
CHECKPOINT_TRIES = 3
RECEIPT_ID_BYTES = 12  # 16 characters, like a public id, but drawn anew for the receipt


@dataclass(frozen=True)
class Receipt:
    """What the client (or the staff member) is shown and may keep: no personal data."""

    id: str
    erased_at: datetime
    counts: dict[str, int]  # kind (RECEIPT_KINDS) -> rows removed

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _redeemed_invitation(session: Session, registration: Registration) -> int | None:
    """The invitation this client registered with: only the audit trail connects the two."""
    object_id = session.exec(
        select(AuditEvent.object_id).where(
            AuditEvent.registration_id == registration.id,
            AuditEvent.action == "redeem",
            AuditEvent.object_type == "invitation",
            AuditEvent.outcome == "success",
        )
    ).first()
    return int(object_id) if object_id and object_id.isdigit() else None


def _unkeyed_mentions(session: Session, registration: Registration, user: User) -> dict[str, ColumnElement[bool]]:
    """Rows about this client that no foreign key leads to, per table.

    The audit rows of their own actions; the guessing counters named after their username, second factor,
    informant links and invitation; and the invitation itself (the therapist's note on it may name them).
    """
    keys = [f"user:{user.username}", f"reset-user:{user.username}", f"mfa:{user.id}"]
    links = session.exec(select(InformantLink.id).where(InformantLink.registration_id == registration.id))
    keys += [f"informant-link:{link_id}" for link_id in links]
    mentions: dict[str, ColumnElement[bool]] = {"audit_event": col(AuditEvent.actor_user_id) == user.id}
    invitation_id = _redeemed_invitation(session, registration)
    if invitation_id is not None:
        keys.append(f"invitation:{invitation_id}")
        mentions["invitation"] = (col(Invitation.id) == invitation_id) & col(Invitation.used_at).is_not(None)
    mentions["throttle"] = col(Throttle.key).in_(keys)
    return mentions


def linked_rows(
    registration: Registration, user: User, mentions: Mapping[str, ColumnElement[bool]]
) -> dict[str, ColumnElement[bool]]:
    """Per table, the condition that selects the rows linked to this registration or its account.

    A row is linked when one of its foreign keys points at a linked row (through any chain of tables), or when
    ``mentions`` names it. The registration and the account themselves are the roots; their own foreign keys
    (the therapist) are not followed.
    """
    tables: Mapping[str, Table] = SQLModel.metadata.tables
    root_ids = {"registration": registration.id, "user_account": user.id}
    found: dict[str, ColumnElement[bool] | None] = {}

    def condition(table: Table, path: frozenset[str]) -> ColumnElement[bool] | None:
        if table.name in root_ids:
            return table.c.id == root_ids[table.name]
        if table.name in found:
            return found[table.name]
        parts = [mentions[table.name]] if table.name in mentions else []
        for key in sorted(table.foreign_keys, key=lambda fk: fk.parent.name):
            parent = key.column.table
            if parent.name in path:
                continue
            if parent.name in root_ids and key.column.primary_key:
                parts.append(key.parent == root_ids[parent.name])
                continue
            through = condition(parent, path | {table.name})
            if through is not None:
                parts.append(key.parent.in_(core_select(key.column).where(through)))
        found[table.name] = or_(*parts) if parts else None
        return found[table.name]

    conditions = {name: condition(table, frozenset()) for name, table in tables.items()}
    return {name: where for name, where in conditions.items() if where is not None}


def _counts(session: Session, conditions: Mapping[str, ColumnElement[bool]]) -> dict[str, int]:
    counts = dict.fromkeys(RECEIPT_KINDS, 0)
    tables = SQLModel.metadata.tables
    for name, where in conditions.items():
        kind = _KIND_OF_TABLE.get(name, "other")
        if kind is None:
            continue
        counts[kind] += int(
            session.execute(core_select(func.count()).select_from(tables[name]).where(where)).scalar_one()
        )
    return counts


def erase_registration(
    session: Session, actor: Actor, registration: Registration, ledger: ErasureLedger | None
) -> Receipt:
    """Remove the registration and everything linked to it; count what went. The caller's transaction commits.

    ``ledger`` receives the registration's public id before the commit: if the commit then fails, the client did
    ask, and ``rom-portal erasures replay`` finishes the job. None only for a replay (the id is listed already).
    Audited as ("erase", "registration", receipt id) with no registration and nothing personal; the receipt id is
    new and random, so neither the receipt nor the audit row leads back to the URLs and logs that named the client.
    """
    user = session.get(User, registration.user_id)
    assert registration.id is not None and user is not None and user.id is not None
    conditions = linked_rows(registration, user, _unkeyed_mentions(session, registration, user))
    counts = _counts(session, conditions)
    tables = SQLModel.metadata.tables
    for name in _BY_HAND:
        if name in conditions:
            session.execute(delete(tables[name]).where(conditions[name]))
    # The cascade does the rest: registration, and everything hanging off it and off the account.
    session.execute(delete(tables["user_account"]).where(tables["user_account"].c.id == user.id))
    session.expunge_all()  # the loaded objects are gone; nothing may write them back
    if ledger is not None:
        ledger.append(registration.public_id)
    receipt_id = secrets.token_urlsafe(RECEIPT_ID_BYTES)
    record(session, actor, "erase", "registration", receipt_id)
    session.flush()
    return Receipt(receipt_id, utcnow(), counts)


# --- Who may erase -------------------------------------------------------------------------------------------


def _second_factor_refusal(session: Session, user: User, code: str) -> Refusal | None:
    """The TOTP (or a recovery) code of an account with two-step verification; guesses are throttled.

    A right code is used up as at login (the step, or the recovery code), since a staff account lives on.
    """
    assert user.id is not None and user.totp_secret is not None
    key = f"mfa:{user.id}"  # the same counter as at login (services/accounts.py)
    lock = throttle.locked(session, key, for_update=True)
    if lock is not None:
        return Refusal("code_locked", lock)
    code = code.strip()
    step = totp.matching_step(user.totp_secret, code, user.totp_last_step)
    recovery = None
    if step is None and code:
        recovery = session.exec(
            select(RecoveryCode).where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == totp.recovery_hash(code),
                col(RecoveryCode.used_at).is_(None),
            )
        ).first()
    if step is None and recovery is None:
        throttle.record_failure(session, key)
        record(session, Actor(user.id, user.role.value), "second_factor", "account", user.id, outcome="failure")
        return Refusal("wrong_code")
    throttle.record_success(session, key)
    if step is not None:
        user.totp_last_step = step
    if recovery is not None:
        recovery.used_at = utcnow()
    return None


def _identity_refusal(session: Session, auth: sessions.Auth, password_ok: bool, code: str) -> Refusal | None:
    """Re-authentication before an erasure: the password, then the code when the account has 2FA (always for
    staff). Guesses count like at login; a refusal is returned, so the caller can commit the counted guess."""
    refusal = accounts.current_password_finish(session, auth, password_ok)
    if refusal is not None:
        return refusal
    user = session.get(User, auth.user_id, with_for_update=True)
    if user is None:
        raise NotFound
    if user.totp_secret is not None:
        return _second_factor_refusal(session, user, code)
    return None


def erase_own_registration(
    session: Session, auth: sessions.Auth, password_ok: bool, code: str, ledger: ErasureLedger, access_point: str
) -> Receipt | Refusal:
    """The client erases their own registration, after giving their password (and code, with 2FA on).

    A refusal is returned, not raised, so the counted guess and its audit row are committed; nothing is erased.
    """
    refusal = _identity_refusal(session, auth, password_ok, code)
    if refusal is not None:
        return refusal
    registration = session.exec(select(Registration).where(Registration.user_id == auth.user_id)).first()
    if registration is None:
        raise NotFound
    # The account's own id must not stay behind in the audit row of its erasure.
    return erase_registration(session, Actor(None, auth.role.value, access_point), registration, ledger)


@dataclass(frozen=True)
class ErasureCandidate:
    """What a staff member sees before confirming: enough to be sure it is the right client, nothing more."""

    public_id: str
    username: str
    display_name: str
    since: datetime
    therapist_name: str


def _candidate(session: Session, registration: Registration) -> ErasureCandidate:
    user = session.get(User, registration.user_id)
    therapist = session.get(User, registration.therapist_id)
    assert user is not None and therapist is not None
    return ErasureCandidate(
        registration.public_id,
        user.username,
        user.display_name,
        registration.created_at,
        therapist.display_name or therapist.username,
    )


def therapist_candidate(session: Session, actor: Actor, public_id: str) -> ErasureCandidate:
    """One of the therapist's own clients (NotFound otherwise); opening the confirmation is audited."""
    assert actor.user_id is not None
    registration = registration_of(session, actor.user_id, public_id)
    record(session, actor, "read", "erasure_confirmation", registration.id, registration_id=registration.id)
    return _candidate(session, registration)


@dataclass(frozen=True)
class StaffProof:
    """Who asks for a staff erasure, and the proof they gave again on the confirmation page."""

    auth: sessions.Auth
    actor: Actor
    password_ok: bool
    code: str


def erase_for_therapist(
    session: Session, proof: StaffProof, public_id: str, ledger: ErasureLedger
) -> Receipt | Refusal:
    """One of the therapist's own clients (NotFound otherwise), once their password and code are right."""
    assert proof.actor.user_id is not None
    registration = registration_of(session, proof.actor.user_id, public_id)
    refusal = _identity_refusal(session, proof.auth, proof.password_ok, proof.code)
    if refusal is not None:
        return refusal
    return erase_registration(session, proof.actor, registration, ledger)


def _client_registration(session: Session, *where: ColumnElement[bool]) -> Registration:
    registration = session.exec(
        select(Registration).join(User, col(User.id) == Registration.user_id).where(User.role == Role.client, *where)
    ).first()
    if registration is None:
        raise NotFound
    return registration


def admin_candidate(session: Session, actor: Actor, username: str = "", public_id: str = "") -> ErasureCandidate:
    """A client's registration by username (as the request names it) or by public id; audited."""
    if public_id:
        registration = _client_registration(session, col(Registration.public_id) == public_id)
    else:
        registration = _client_registration(session, col(User.username) == accounts.normalise_username(username))
    record(session, actor, "read", "erasure_confirmation", registration.id, registration_id=registration.id)
    return _candidate(session, registration)


def erase_for_admin(session: Session, proof: StaffProof, public_id: str, ledger: ErasureLedger) -> Receipt | Refusal:
    registration = _client_registration(session, col(Registration.public_id) == public_id)
    refusal = _identity_refusal(session, proof.auth, proof.password_ok, proof.code)
    if refusal is not None:
        return refusal
    return erase_registration(session, proof.actor, registration, ledger)


def erase_listed(session: Session, actor: Actor, public_id: str) -> Receipt | None:
    """For a replay of the ledger: erase the registration again if a restore brought it back."""
    registration = session.exec(select(Registration).where(Registration.public_id == public_id)).first()
    if registration is None:
        return None
    return erase_registration(session, actor, registration, None)


# --- After the commit ---------------------------------------------------------------------------------------


async def empty_write_ahead_log(database: Database) -> bool:
    """SQLite: move the log into the database file and empty it, so no erased byte stays in ``-wal``.

    ``secure_delete`` already overwrote the rows in the database pages. Open reads (a download) can keep the
    checkpoint from finishing; it is tried a few times, then left owed: the portal completes it after a later
    write, or when it starts (``Database.checkpoint``), and ``rom-portal check`` says so meanwhile.
    """
    for attempt in range(CHECKPOINT_TRIES):
        if await database.checkpoint():
            return True
        await anyio.sleep(0.05 * (attempt + 1))
    log.warning("erasure: reads kept the write-ahead log open; it is emptied after a later write")
    return False
