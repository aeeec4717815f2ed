"""Data for the filling-in scenarios of bench_http.py, made in and checked against the bench database.

    python -m benchmarks.fill_data setup --clients 64 > clients.json
    python -m benchmarks.fill_data verify < acknowledged.json

``setup`` makes a therapist and ``--clients`` clients, each with a registration, a PHQ-9 assignment with half
of it answered (so the page shows a real draft) and a login session started the way a login starts one; it
prints, per client, what a browser would hold: the session cookie's token, the CSRF token and the URLs.

``verify`` reads what the load generator says was acknowledged (the last value answered 200 per assignment
and item) and compares it with the answers in the database. The database comes from ROM_PORTAL_DATABASE_URL.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sqlmodel import select

from rom_portal.db import Database
from rom_portal.models import Answer, Assignment, Registration, Role, Submission, User
from rom_portal.paths import resource_dir
from rom_portal.questionnaires import load_catalogue
from rom_portal.security import sessions
from rom_portal.services import filling
from rom_portal.services.assignments import assign
from rom_portal.services.audit import Actor
from rom_portal.settings import load_settings
from rom_portal.web.session_middleware import timeouts_from

QUESTIONNAIRE = "phq9"
NO_LOGIN_HASH = "!"  # matches no password: these accounts are only used through the sessions made here
PREFILLED = {"1": "1", "2": "0", "3": "2", "4": "1"}  # half of the nine scored items, as a client might leave it


def setup(clients: int) -> list[dict[str, Any]]:
    settings = load_settings()
    catalogue = load_catalogue(resource_dir("questionnaires"))
    database = Database(settings.database_url, threads=1)
    prepared: list[dict[str, Any]] = []
    try:
        with database.session(write=True) as session:
            therapist = User(
                username="bench-therapist", password_hash=NO_LOGIN_HASH, role=Role.therapist, display_name="T"
            )
            session.add(therapist)
            session.flush()
            for number in range(clients):
                user = User(
                    username=f"bench-fill-{number}",
                    password_hash=NO_LOGIN_HASH,
                    role=Role.client,
                    display_name=f"C{number}",
                )
                session.add(user)
                session.flush()
                assert therapist.id is not None and user.id is not None
                registration = Registration(user_id=user.id, therapist_id=therapist.id)
                session.add(registration)
                session.flush()
                assignment = assign(session, catalogue, Actor(therapist.id, "therapist"), registration, QUESTIONNAIRE)
                filling.save_answers(session, catalogue, assignment, dict(PREFILLED))
                token = sessions.start(session, user, mfa_ok=True)
                found = sessions.find(session, token, timeouts_from(settings))
                assert isinstance(found, tuple), "a session just started must be found"
                prepared.append(
                    {
                        "token": token,
                        "csrf": found[0].csrf_token,
                        "public_id": assignment.public_id,
                        "page": f"/client/questionnaires/{assignment.public_id}",
                    }
                )
    finally:
        database.dispose()
    return prepared


def verify(acknowledged: dict[str, str]) -> tuple[int, list[str]]:
    """How many of the acknowledged answers the database holds, and a description of each one it does not."""
    settings = load_settings()
    database = Database(settings.database_url, threads=1)
    stored: dict[str, str] = {}
    try:
        with database.session() as session:
            rows = session.exec(
                select(Assignment.public_id, Answer.item_id, Answer.value)
                .join(Submission, Submission.assignment_id == Assignment.id)  # type: ignore[arg-type]
                .join(Answer, Answer.submission_id == Submission.id)  # type: ignore[arg-type]
            )
            for public_id, item_id, value in rows:
                stored[f"{public_id}:{item_id}"] = str(json.loads(value))
    finally:
        database.dispose()
    missing = [
        f"{key}: acknowledged {value!r}, stored {stored.get(key)!r}"
        for key, value in sorted(acknowledged.items())
        if stored.get(key) != value
    ]
    return len(acknowledged) - len(missing), missing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["setup", "verify"])
    parser.add_argument("--clients", type=int, default=64)
    args = parser.parse_args()
    if args.command == "setup":
        print(json.dumps(setup(args.clients)))
        return
    present, missing = verify(json.load(sys.stdin))
    print(json.dumps({"present": present, "missing": missing}))


if __name__ == "__main__":
    main()
