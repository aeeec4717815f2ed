"""Helpers for the erasure tests: a client with a bit of everything, and an independent count of what is theirs.

``give_history`` fills every kind of row a client can have, each with a unique marker where free text can be
typed. ``rows_about`` finds, from the model metadata alone (every foreign key, followed through any chain of
tables), the rows that point at a registration or an account, plus the audit rows of the account's own actions
and the guessing counters named after it. It shares no code with the erasure service, on purpose.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Table, func, select
from sqlmodel import Session, SQLModel

from rom_portal.db import Database
from rom_portal.models import (
    Answer,
    Assignment,
    InformantLink,
    Invitation,
    RecoveryCode,
    Registration,
    Reminder,
    Respondent,
    Submission,
    User,
)
from rom_portal.models.base import utcnow
from rom_portal.paths import resource_dir
from rom_portal.questionnaires import load_catalogue
from rom_portal.security import sessions, throttle
from rom_portal.security.tokens import hash_code, hash_token, new_token
from rom_portal.services import consent, plans, reset_codes
from rom_portal.services.assignments import assign
from rom_portal.services.audit import Actor, record
from rom_portal.services.client_area import practice_today
from rom_portal.services.filling import save_answers, submit


@dataclass(frozen=True)
class Markers:
    """Unique strings planted in free text: found in the database's files before erasure, nowhere after."""

    answer: str
    roepnaam: str
    informant: str
    reminder: str

    def all(self) -> dict[str, str]:
        return {
            "answer": self.answer,
            "roepnaam": self.roepnaam,
            "informant": self.informant,
            "reminder": self.reminder,
        }


def _marker(kind: str) -> str:
    return f"mark{kind}{uuid.uuid4().hex}"


def give_history(db: Database, registration: Registration, therapist: User) -> Markers:
    """A client with a bit of everything: consents, a plan, a submitted PHQ-9 with an alert, a draft with a typed
    answer, an informant's answers and session, a reminder, login traces, codes and the invitation they used."""
    markers = Markers(_marker("answer"), _marker("roepnaam"), _marker("informant"), _marker("reminder"))
    catalogue = load_catalogue(resource_dir("questionnaires"))
    today = practice_today("Europe/Amsterdam")
    with db.session(write=True) as session:
        own = session.get(Registration, registration.id)
        user = session.get(User, own.user_id)
        therapist_actor = Actor(therapist.id, "therapist")
        client_actor = Actor(user.id, "client")
        user.display_name = f"Carla {markers.roepnaam}"
        own.reminder_email = f"{markers.reminder}@example.org"
        consent.record_privacy_statement(session, own.id)
        submitted = assign(session, catalogue, therapist_actor, own, "phq9")
        save_answers(session, catalogue, submitted, {str(n): 1 for n in range(1, 11)})
        submit(session, catalogue, submitted, client_actor)  # scores, and an alert (item 9 above 0)
        # A draft with a typed answer (the shipped questionnaires may have no text item: the row is made here).
        drafted = assign(session, catalogue, therapist_actor, own, "phq9")
        draft = Submission(assignment_id=drafted.id, registration_id=own.id)
        session.add(draft)
        session.flush()
        session.add(Answer(submission_id=draft.id, item_id="note", value=json.dumps(f"Ik voel me {markers.answer}")))
        # An informant (through a plan), with their answers and their session.
        spec = plans.PlanSpec("iqcode16", Respondent.informant, "moeder", plans.Schedule(today))
        plan = plans.create_plan(session, catalogue, therapist_actor, own.public_id, spec, today)
        occasion = session.execute(select(Assignment).where(Assignment.plan_id == plan.id)).scalars().first()
        link = InformantLink(
            assignment_id=occasion.id,
            registration_id=own.id,
            token_hash=hash_token(new_token()),
            code_hash=hash_code("1234-5678"),
            expires_at=utcnow() + timedelta(days=1),
        )
        session.add(link)
        session.flush()
        by_informant = Submission(assignment_id=occasion.id, registration_id=own.id)
        session.add(by_informant)
        session.flush()
        session.add(Answer(submission_id=by_informant.id, item_id="1", value=json.dumps(markers.informant)))
        sessions.start_informant(session, link)
        session.add(Reminder(registration_id=own.id))
        # The invitation they registered with (the therapist's note names them), and login traces.
        invitation = Invitation(
            code_hash=hash_token(new_token()),
            therapist_id=therapist.id,
            label=f"C. {markers.roepnaam}",
            expires_at=utcnow(),
            used_at=utcnow(),
        )
        session.add(invitation)
        session.flush()
        record(session, client_actor, "redeem", "invitation", invitation.id, registration_id=own.id)
        record(session, client_actor, "login", "account", user.id)
        record(session, therapist_actor, "read", "results", own.id, registration_id=own.id)
        keys = [f"user:{user.username}", f"reset-user:{user.username}", f"mfa:{user.id}"]
        throttle.record_failure(session, *keys, f"informant-link:{link.id}", f"invitation:{invitation.id}")
        reset_codes.issue(session, user_id=user.id, valid_for=timedelta(days=1))
        session.add(RecoveryCode(user_id=user.id, code_hash="0" * 64))
        sessions.start(session, user, mfa_ok=True, device="phone")
    return markers


def _primary_key(table: Table) -> object:
    return next(iter(table.primary_key.columns))


def rows_about(session: Session, user_id: int, registration_id: int, username: str) -> dict[str, int]:
    """Per table, how many rows refer to this account or registration (directly or through a chain)."""
    tables = SQLModel.metadata.tables
    known: dict[str, set[object]] = {"user_account": {user_id}, "registration": {registration_id}}
    found: dict[str, set[object]] = {}
    for name in ("user_account", "registration"):
        table = tables[name]
        found[name] = set(session.execute(select(table.c.id).where(table.c.id.in_(known[name]))).scalars())
    changed = True
    while changed:  # until no foreign key leads to a row not seen yet
        changed = False
        for table in tables.values():
            for key in table.foreign_keys:
                parents = known.get(key.column.table.name)
                if not parents:
                    continue
                rows = set(session.execute(select(_primary_key(table)).where(key.parent.in_(parents))).scalars())
                new = rows - known.setdefault(table.name, set())
                if new:
                    known[table.name] |= new
                    found.setdefault(table.name, set()).update(new)
                    changed = True
    audit = tables["audit_event"]
    found.setdefault("audit_event", set()).update(
        session.execute(select(audit.c.id).where(audit.c.actor_user_id == user_id)).scalars()
    )
    counters = tables["throttle"]
    names = [f"user:{username}", f"reset-user:{username}", f"mfa:{user_id}"]
    names += [f"informant-link:{link}" for link in known.get("informant_link", set())]
    found["throttle"] = set(session.execute(select(counters.c.key).where(counters.c.key.in_(names))).scalars())
    return {name: len(rows) for name, rows in sorted(found.items()) if rows}


def reachable_tables() -> set[str]:
    """Every table with a foreign key to registration or user_account, directly or through other tables."""
    tables = SQLModel.metadata.tables
    reached = {"registration", "user_account"}
    while True:
        more = {
            table.name
            for table in tables.values()
            if table.name not in reached and any(key.column.table.name in reached for key in table.foreign_keys)
        }
        if not more:
            return reached
        reached |= more


def table_counts(session: Session) -> dict[str, int]:
    return {
        name: int(session.execute(select(func.count()).select_from(table)).scalar_one())
        for name, table in SQLModel.metadata.tables.items()
    }
