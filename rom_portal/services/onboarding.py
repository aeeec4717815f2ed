"""Client onboarding: a therapist's invitation codes, and a new client redeeming one to register.

An invitation code is 80 random bits, single-use and expiring; only its SHA-256 is stored. Guessing is
throttled per client address. A wrong, a used and an expired code are one and the same refusal, so the
answer says nothing about which codes exist. Whether a username is taken is told only after the code was
accepted, so the form cannot be used to find out who has an account.

Functions that check a code return an outcome instead of raising: ``Database.write`` rolls back on an
exception, and a refused code must still commit its throttle count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from rom_portal.i18n import N_
from rom_portal.models import Invitation, Registration, Role, User
from rom_portal.models.base import utcnow
from rom_portal.security import sessions, throttle
from rom_portal.security.passwords import password_problem
from rom_portal.security.throttle import Locked
from rom_portal.security.tokens import hash_code, new_code
from rom_portal.services import consent
from rom_portal.services.accounts import normalise_username, valid_username
from rom_portal.services.audit import Actor, record

# The same rule as for staff accounts: 3 to 64 characters, starting with a letter or digit.
DISPLAY_NAME_MAX = 80
LABEL_MAX = 80
# Only a therapist may invite; the role is checked here too so no other caller can hand out accounts.
_INVITING_ROLE = Role.therapist.value

BAD_CODE = N_("This code does not work. Check that you typed it correctly, or ask your therapist for a new code.")
USERNAME_TAKEN = N_("This username is already taken. Choose another one.")


class NotFound(LookupError):
    """The object does not exist or is out of this user's reach; the view answers 404."""


def code_address_key(address: str | None) -> str:
    """One guessing budget per address for every one-time code (invitation and reset codes alike)."""
    return throttle.address_key("code-ip", address)


def clean_text(typed: str) -> str:
    """Collapse runs of whitespace (and drop control characters) in a name or note."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in typed).split())


# --- Therapist side ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewInvitation:
    code: str  # in clear, shown once; only its hash is stored
    label: str
    expires_at: datetime


def label_problem(label: str) -> str | None:
    return N_("Use at most 80 characters.") if len(label) > LABEL_MAX else None


def create_invitation(session: Session, actor: Actor, label: str, valid_for: timedelta) -> NewInvitation:
    assert actor.user_id is not None and actor.role == _INVITING_ROLE
    label = clean_text(label)[:LABEL_MAX]
    code = new_code()
    invitation = Invitation(
        code_hash=hash_code(code), therapist_id=actor.user_id, label=label, expires_at=utcnow() + valid_for
    )
    session.add(invitation)
    session.flush()
    record(session, actor, "create", "invitation", invitation.id)
    return NewInvitation(code, label, invitation.expires_at)


@dataclass(frozen=True)
class InvitationRow:
    id: int
    label: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None

    @property
    def status(self) -> str:
        """open, used or expired."""
        if self.used_at is not None:
            return "used"
        return "expired" if self.expires_at <= utcnow() else "open"


def invitations_of(session: Session, therapist_id: int) -> list[InvitationRow]:
    rows = session.exec(
        select(Invitation).where(Invitation.therapist_id == therapist_id).order_by(col(Invitation.created_at).desc())
    )
    return [InvitationRow(row.id or 0, row.label, row.created_at, row.expires_at, row.used_at) for row in rows]


def revoke_invitation(session: Session, actor: Actor, invitation_id: int) -> None:
    """Remove one of the actor's own unused invitations; its code stops working at once."""
    invitation = session.exec(
        select(Invitation).where(
            Invitation.id == invitation_id,
            Invitation.therapist_id == actor.user_id,
            col(Invitation.used_at).is_(None),
        )
    ).first()
    if invitation is None:
        raise NotFound
    session.delete(invitation)
    record(session, actor, "delete", "invitation", invitation_id)


@dataclass(frozen=True)
class ClientRow:
    public_id: str
    display_name: str
    username: str
    since: datetime


def clients_of(session: Session, therapist_id: int) -> list[ClientRow]:
    rows = session.exec(
        select(Registration, User)
        .join(User, col(User.id) == Registration.user_id)
        .where(Registration.therapist_id == therapist_id)
        .order_by(col(User.display_name), col(User.username))
    )
    return [ClientRow(reg.public_id, user.display_name, user.username, reg.created_at) for reg, user in rows]


def registration_of(session: Session, therapist_id: int, public_id: str) -> Registration:
    """One of this therapist's own clients, or NotFound: never load a client by id alone."""
    registration = session.exec(
        select(Registration).where(Registration.public_id == public_id, Registration.therapist_id == therapist_id)
    ).first()
    if registration is None:
        raise NotFound
    return registration


# --- Client side ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientSignup:
    """What a new client typed (passwords excepted: they travel only as far as the hashing pool)."""

    code: str
    username: str
    display_name: str
    accepted_privacy: bool

    @classmethod
    def typed(cls, code: str, username: str, display_name: str, accepted_privacy: bool) -> ClientSignup:
        return cls(code.strip(), normalise_username(username), clean_text(display_name), accepted_privacy)


def signup_problems(signup: ClientSignup, password: str, password_again: str) -> dict[str, str]:
    """Field name -> message id, for everything that can be checked without the database."""
    problems: dict[str, str] = {}
    if not signup.code:
        problems["code"] = N_("Fill in the invitation code from your letter.")
    if not signup.username:
        problems["username"] = N_("Choose a username.")
    elif not valid_username(signup.username):
        problems["username"] = N_("Use 3 to 64 characters: letters a-z, digits, dot, dash or underscore.")
    if not signup.display_name:
        problems["display_name"] = N_("Fill in the name we may call you by.")
    elif len(signup.display_name) > DISPLAY_NAME_MAX:
        problems["display_name"] = N_("Use at most 80 characters.")
    problem = password_problem(password, username=signup.username)
    if problem:
        problems["password"] = problem
    elif password != password_again:
        problems["password_again"] = N_("The two passwords are not the same.")
    if not signup.accepted_privacy:
        problems["privacy"] = N_("To use the portal, you need to agree with the privacy statement.")
    return problems


@dataclass(frozen=True)
class SignupOutcome:
    token: str | None = None  # set when the client is registered and logged in
    problems: dict[str, str] = field(default_factory=dict)
    locked: Locked | None = None


def _open_invitation(session: Session, code: str) -> Invitation | None:
    # Locked for the rest of the transaction, so two requests racing with one code cannot both use it.
    return session.exec(
        select(Invitation)
        .where(
            Invitation.code_hash == hash_code(code),
            col(Invitation.used_at).is_(None),
            col(Invitation.expires_at) > utcnow(),
        )
        .with_for_update()
    ).first()


def _username_taken(session: Session, username: str) -> bool:
    return session.exec(select(User.id).where(User.username == username)).first() is not None


def register_client(
    session: Session,
    signup: ClientSignup,
    password_hash: str | None,
    *,
    address: str | None,
    device: str = "",
    locale: str | None = None,
    previous_session_id: int | None = None,
) -> SignupOutcome:
    """Redeem the code and create the client, linked to the inviting therapist, and log them in.

    With ``password_hash=None`` (the form has other problems) only the code and the username are checked.
    """
    key = code_address_key(address)
    lock = throttle.locked(session, key, for_update=True)
    if lock is not None:
        return SignupOutcome(locked=lock)
    invitation = _open_invitation(session, signup.code)
    if invitation is None:
        throttle.record_failure(session, key)
        record(session, Actor.anonymous(), "redeem", "invitation", outcome="failure")
        return SignupOutcome(problems={"code": BAD_CODE})
    # One valid code must not become a way to ask which usernames exist: the username is looked up only
    # for an otherwise complete form (after the slow hash), and "taken" answers are counted per invitation.
    invitation_key = f"invitation:{invitation.id}"
    lock = throttle.locked(session, invitation_key, for_update=True)
    if lock is not None:
        return SignupOutcome(locked=lock)
    if password_hash is None:
        return SignupOutcome()
    if _username_taken(session, signup.username):
        throttle.record_failure(session, invitation_key)
        return SignupOutcome(problems={"username": USERNAME_TAKEN})
    user = User(
        username=signup.username,
        password_hash=password_hash,
        role=Role.client,
        display_name=signup.display_name,
        locale=locale,
    )
    try:
        with session.begin_nested():  # another request may have taken the name since we looked
            session.add(user)
            session.flush()
    except IntegrityError:
        return SignupOutcome(problems={"username": USERNAME_TAKEN})
    assert user.id is not None
    invitation.used_at = utcnow()
    registration = Registration(user_id=user.id, therapist_id=invitation.therapist_id)
    session.add(registration)
    session.flush()
    assert registration.id is not None
    agreed = consent.record_privacy_statement(session, registration.id)
    session.flush()
    actor = Actor(user.id, Role.client.value)
    record(session, actor, "redeem", "invitation", invitation.id, registration_id=registration.id)
    record(session, actor, "create", "registration", registration.id, registration_id=registration.id)
    record(session, actor, "create", "consent", agreed.id, registration_id=registration.id)
    if previous_session_id is not None:  # whoever was logged in on this browser before is not carried over
        sessions.end(session, previous_session_id)
    throttle.record_success(session, key)
    return SignupOutcome(token=sessions.start(session, user, mfa_ok=True, device=device))
