"""Staff accounts, as the admin manages them: list, create, disable, enable, reset password or second factor.

An admin manages colleagues, never clients: client accounts are out of reach here (least privilege), and an
id that belongs to a client is treated exactly like an id that does not exist. Codes handed out here are
returned once, in clear, for the admin to pass on; only their hashes are stored and none reaches the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from rom_portal.i18n import N_
from rom_portal.models import AuditEvent, RecoveryCode, Role, User
from rom_portal.models.base import utcnow
from rom_portal.security import sessions
from rom_portal.services import reset_codes
from rom_portal.services.accounts import valid_username
from rom_portal.services.audit import Actor, record

# The same rule as `rom-portal create-user`: 3 to 64 characters, starting with a letter or digit.
DISPLAY_NAME_MAX = 80
STAFF_ROLES = (Role.therapist, Role.researcher, Role.admin)


class StaffError(Exception):
    """A rule refused the request; ``message`` is an untranslated message id for the admin."""

    message: str = ""


class StaffNotFound(StaffError, LookupError):
    """No staff account with this id (it does not exist, or it is a client's)."""


class InvalidStaffForm(StaffError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


class UsernameTaken(StaffError):
    message = N_("This username is already taken. Choose another one.")


class OwnAccount(StaffError):
    message = N_("You cannot do this to your own account. Use My account, or ask another administrator.")


class LastAdmin(StaffError):
    message = N_("This is the last active administrator account. Enable or create another administrator first.")


class NeedsSecondAdmin(StaffError):
    message = N_(
        "You reset this colleague's password or two-step verification in the last 7 days. Resetting both would "
        "let one person take over the account, so another administrator must do this."
    )


# One admin resetting both the password and the second factor of an account could log in as that
# colleague (and read their clients' answers). Within this window the second reset needs another admin.
FOUR_EYES_WINDOW = timedelta(days=7)


def _reset_recently(session: Session, actor: Actor, user_id: int, action: str) -> bool:
    return (
        session.exec(
            select(AuditEvent.id).where(
                AuditEvent.object_type == "account",
                AuditEvent.object_id == str(user_id),
                AuditEvent.action == action,
                AuditEvent.actor_user_id == actor.user_id,
                col(AuditEvent.at) > utcnow() - FOUR_EYES_WINDOW,
            )
        ).first()
        is not None
    )


@dataclass(frozen=True)
class StaffAccount:
    """What the admin sees of a colleague: no password hash, second-factor secret or sessions."""

    id: int
    username: str
    display_name: str
    role: Role
    created_at: datetime
    has_second_factor: bool
    active: bool


@dataclass(frozen=True)
class NewStaff:
    username: str
    role: Role
    display_name: str


@dataclass(frozen=True)
class IssuedCode:
    """A one-time code to set a password, to be shown once to the admin who asked for it."""

    account: StaffAccount
    code: str
    valid_for: timedelta


def _view(user: User) -> StaffAccount:
    assert user.id is not None
    return StaffAccount(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        created_at=user.created_at,
        has_second_factor=user.totp_secret is not None,
        active=user.is_active,
    )


def parse_new_staff(username: str, role: str, display_name: str) -> NewStaff:
    """Check the create form; raises ``InvalidStaffForm`` with a message id per field."""
    username = username.strip().lower()
    display_name = display_name.strip()
    errors: dict[str, str] = {}
    if not valid_username(username):
        errors["username"] = N_("Use 3 to 64 characters: letters a-z, digits, dot, dash or underscore.")
    if role not in {r.value for r in STAFF_ROLES}:
        errors["role"] = N_("Choose a role.")
    if not display_name:
        errors["display_name"] = N_("Enter the name colleagues know this person by.")
    elif len(display_name) > DISPLAY_NAME_MAX or not display_name.isprintable():
        errors["display_name"] = N_("Use at most 80 characters, without special characters.")
    if errors:
        raise InvalidStaffForm(errors)
    return NewStaff(username=username, role=Role(role), display_name=display_name)


def list_staff(session: Session) -> list[StaffAccount]:
    users = session.exec(select(User).where(col(User.role).in_(STAFF_ROLES)).order_by(col(User.username)))
    return [_view(user) for user in users]


def _load(session: Session, user_id: int) -> User:
    user = session.exec(select(User).where(User.id == user_id, col(User.role).in_(STAFF_ROLES))).first()
    if user is None:
        raise StaffNotFound(user_id)
    return user


def get_staff(session: Session, user_id: int) -> StaffAccount:
    return _view(_load(session, user_id))


def _not_self(actor: Actor, user: User) -> None:
    # Disabling or resetting yourself through the admin page locks you out half-way; your own password is
    # changed on My account, and a lost authenticator is reset by another admin.
    if actor.user_id == user.id:
        raise OwnAccount()


def create_staff(
    session: Session, actor: Actor, new: NewStaff, *, password_hash: str, valid_for: timedelta
) -> IssuedCode:
    """Create the account with an unusable password and a setup code: the colleague chooses their own password."""
    if session.exec(select(User.id).where(User.username == new.username)).first() is not None:
        raise UsernameTaken()
    user = User(username=new.username, password_hash=password_hash, role=new.role, display_name=new.display_name)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        # Another admin took the name between our check and this insert; the unit of work rolls back.
        raise UsernameTaken() from None
    assert user.id is not None
    code = reset_codes.issue(session, user_id=user.id, valid_for=valid_for)
    record(session, actor, "create", "account", user.id)
    return IssuedCode(account=_view(user), code=code, valid_for=valid_for)


def _other_active_admins(session: Session, user_id: int) -> int:
    # Lock the active admin rows (in id order, so two such locks cannot deadlock): when two admins disable
    # each other at the same moment, the second waits on PostgreSQL and then sees the first one's change.
    # SQLite serialises writers anyway.
    active = session.exec(
        select(User.id)
        .where(User.role == Role.admin, col(User.disabled_at).is_(None))
        .order_by(col(User.id))
        .with_for_update()
    )
    return sum(1 for found in active if found != user_id)


def disable(session: Session, actor: Actor, user_id: int) -> StaffAccount:
    """Disable the account and end all its sessions at once."""
    user = _load(session, user_id)
    _not_self(actor, user)
    if user.role is Role.admin and user.is_active and _other_active_admins(session, user_id) == 0:
        raise LastAdmin()
    if user.is_active:
        user.disabled_at = utcnow()
        session.add(user)
        record(session, actor, "disable", "account", user_id)
    sessions.end_all(session, user_id)
    session.flush()
    return _view(user)


def enable(session: Session, actor: Actor, user_id: int) -> StaffAccount:
    user = _load(session, user_id)
    if not user.is_active:
        user.disabled_at = None
        reset_codes.void(session, user_id)  # a code from before the account was disabled must not revive it
        session.add(user)
        record(session, actor, "enable", "account", user_id)
        session.flush()
    return _view(user)


def reset_password(
    session: Session, actor: Actor, user_id: int, *, password_hash: str, valid_for: timedelta
) -> IssuedCode:
    """A reset code for the colleague; the old password stops working and all their sessions end.

    The old password is replaced by ``password_hash`` (of a random, unknown password) because an admin
    reset is also the answer to a password that may have leaked.
    """
    user = _load(session, user_id)
    _not_self(actor, user)
    if _reset_recently(session, actor, user_id, "reset_2fa"):
        raise NeedsSecondAdmin()
    user.password_hash = password_hash
    session.add(user)
    code = reset_codes.issue(session, user_id=user_id, valid_for=valid_for)
    sessions.end_all(session, user_id)
    record(session, actor, "reset_password", "account", user_id)
    return IssuedCode(account=_view(user), code=code, valid_for=valid_for)


def reset_second_factor(session: Session, actor: Actor, user_id: int) -> StaffAccount:
    """Forget the authenticator and recovery codes; at the next login the colleague sets up a new one."""
    user = _load(session, user_id)
    _not_self(actor, user)
    if _reset_recently(session, actor, user_id, "reset_password"):
        raise NeedsSecondAdmin()
    user.totp_secret = None
    user.totp_last_step = None
    session.add(user)
    session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    sessions.end_all(session, user_id)
    record(session, actor, "reset_2fa", "account", user_id)
    session.flush()
    return _view(user)
