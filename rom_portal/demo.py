"""The demo practice: made-up accounts and data in its own SQLite file, for looking around.

Demo credentials exist only in a database marked as a demo (``portal_meta.demo``) served by
``rom-portal demo``; ``rom-portal serve`` refuses such a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, col, select

from rom_portal.demo_caseload import Measured, Planned, phq9, plan, seed_caseload, spread, submit_history
from rom_portal.demo_research import seed_research_cohort
from rom_portal.labels import role_label
from rom_portal.models import Assignment, PortalMeta, Registration, Respondent, Role, User
from rom_portal.models.base import utcnow
from rom_portal.models.meta import DEMO_KEY
from rom_portal.paths import resource_dir
from rom_portal.questionnaires import Catalogue, load_catalogue
from rom_portal.security.passwords import hash_password
from rom_portal.security.totp import current_code
from rom_portal.services.assignments import assign
from rom_portal.services.audit import Actor
from rom_portal.services.consent import record_privacy_statement
from rom_portal.services.filling import save_answers
from rom_portal.services.informants import DEMO_INFORMANT_CODE, DEMO_INFORMANT_TOKEN, seed_demo_informant

DEMO_DATABASE_FILE = "rom_portal_demo.db"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    role: Role
    display_name: str
    # Staff must use a second factor; in the demo its secret is public and the login page shows the code.
    totp_secret: str | None = None

    @property
    def role_label(self) -> str:
        return role_label(self.role)

    @property
    def totp_code(self) -> str | None:
        return current_code(self.totp_secret) if self.totp_secret else None


_ACCOUNTS = (
    DemoAccount("demo-client", "demo-client-wachtwoord", Role.client, "Sanne"),
    DemoAccount(
        "demo-behandelaar",
        "demo-behandelaar-wachtwoord",
        Role.therapist,
        "Jeroen de Vries",
        "DEMOBEHANDELAARDEMOBEHANDELAAR22",
    ),
    DemoAccount(
        "demo-onderzoeker",
        "demo-onderzoeker-wachtwoord",
        Role.researcher,
        "Onderzoeksbureau",
        "DEMOONDERZOEKERDEMOONDERZOEKER22",
    ),
    DemoAccount(
        "demo-beheer", "demo-beheer-wachtwoord", Role.admin, "Praktijkmanager", "DEMOBEHEERDEMOBEHEERDEMOBEHEER22"
    ),
)


def demo_accounts() -> list[DemoAccount]:
    return list(_ACCOUNTS)


def is_demo_database(session: Session) -> bool:
    return session.get(PortalMeta, DEMO_KEY) is not None


def has_non_demo_data(session: Session) -> bool:
    """A database with accounts but no demo mark belongs to a real practice: never seed it."""
    return not is_demo_database(session) and session.exec(select(User).limit(1)).first() is not None


def seed_demo(session: Session, catalogue: Catalogue | None = None) -> None:
    """Create the demo practice once; running it again changes nothing."""
    if session.get(PortalMeta, DEMO_KEY) is None:
        session.add(PortalMeta(key=DEMO_KEY, value="1"))
    existing = set(session.exec(select(User.username)).all())
    users: dict[str, User] = {}
    for account in _ACCOUNTS:
        if account.username in existing:
            continue
        user = User(
            username=account.username,
            password_hash=hash_password(account.password),
            role=account.role,
            display_name=account.display_name,
            totp_secret=account.totp_secret,
        )
        session.add(user)
        users[account.username] = user
    session.flush()
    if "demo-client" in users:
        therapist = session.exec(select(User).where(User.username == "demo-behandelaar")).one()
        registration = Registration(user_id=users["demo-client"].id, therapist_id=therapist.id, results_visible=True)
        session.add(registration)
        session.flush()
        assert registration.id is not None
        record_privacy_statement(session, registration.id)
    catalogue = catalogue or load_catalogue(resource_dir("questionnaires"))
    _seed_client_questionnaires(session, catalogue)
    _seed_informant(session, catalogue)
    therapist = session.exec(select(User).where(User.username == "demo-behandelaar")).one()
    seed_caseload(session, catalogue, therapist)
    seed_research_cohort(session, catalogue)  # for the demo researcher, under a therapist of its own


@dataclass(frozen=True)
class DemoInformant:
    path: str
    code: str


def demo_informant() -> DemoInformant:
    """The demo's informant link (IQCODE about the demo client), listed on the demo login page."""
    return DemoInformant(f"/i/{DEMO_INFORMANT_TOKEN}", DEMO_INFORMANT_CODE)


def _seed_informant(session: Session, catalogue: Catalogue) -> None:
    client = session.exec(select(User).where(User.username == "demo-client")).one()
    therapist = session.exec(select(User).where(User.username == "demo-behandelaar")).one()
    registration = session.exec(select(Registration).where(Registration.user_id == client.id)).one()
    # Kept while open; a used or expired link is replaced, so every demo start offers a working one.
    seed_demo_informant(session, catalogue, registration, therapist)


# --- The demo client's questionnaires --------------------------------------------------------------------
# A story of improvement over four months: depression and anxiety scores going down from the clinical range
# to mild, one questionnaire due in a few days, one overdue, and one left half-way.

_PHQ9_TOTALS = ((112, 19), (84, 16), (56, 12), (21, 8))  # (days ago, total)
_GAD7_TOTALS = ((110, 14), (68, 10), (19, 6))


def _gad7_answers(total: int) -> dict[str, int]:
    return {**spread(total, [str(n) for n in range(1, 8)]), "difficulty": 2 if total >= 15 else 1}


def _seed_client_questionnaires(session: Session, catalogue: Catalogue | None = None) -> None:
    """Open and completed questionnaires for demo-client, once (skipped when the client has any)."""
    registration = session.exec(
        select(Registration).join(User, col(User.id) == Registration.user_id).where(User.username == "demo-client")
    ).first()
    if registration is None:
        return
    assert registration.id is not None
    mine = select(Assignment.id).where(
        Assignment.registration_id == registration.id, Assignment.respondent == Respondent.self
    )
    if session.exec(mine.limit(1)).first() is not None:
        return
    catalogue = catalogue or load_catalogue(resource_dir("questionnaires"))
    therapist_user = session.get(User, registration.therapist_id)
    assert therapist_user is not None
    therapist = Actor(registration.therapist_id, Role.therapist.value, "demo")
    # Item 9 (thoughts of self-harm) stays 0 for the client who logs in: her story raises no crisis alert.
    history = [Measured("phq9", days, phq9(total)) for days, total in _PHQ9_TOTALS]
    history += [Measured("gad7", days, _gad7_answers(total)) for days, total in _GAD7_TOTALS]
    for measured in history:
        submit_history(session, catalogue, therapist_user, registration, measured)
    plan(session, catalogue, therapist_user, registration, Planned("phq9", 46, 6, 3))
    now = utcnow()
    today = now.date()
    assign(session, catalogue, therapist, registration, "phq9", due_on=today + timedelta(days=4))
    overdue = assign(session, catalogue, therapist, registration, "who5", due_on=today - timedelta(days=3))
    overdue.created_at = now - timedelta(days=10)
    draft = assign(session, catalogue, therapist, registration, "gad7", due_on=today + timedelta(days=4))
    save_answers(session, catalogue, draft, {"1": 1, "2": 1, "3": 0}, page=0)
    session.flush()
