"""The demo practice: made-up accounts and data in its own SQLite file, for looking around.

Demo credentials exist only in a database marked as a demo (``portal_meta.demo``) served by
``rom-portal demo``; ``rom-portal serve`` refuses such a database.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from rom_portal.labels import role_label
from rom_portal.models import PortalMeta, Registration, Role, User
from rom_portal.models.meta import DEMO_KEY
from rom_portal.security.passwords import hash_password
from rom_portal.security.totp import current_code
from rom_portal.services.consent import record_privacy_statement

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


def seed_demo(session: Session) -> None:
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
