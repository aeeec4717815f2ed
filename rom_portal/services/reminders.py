"""Reminder e-mails: "a questionnaire is waiting", to clients who gave an address for that alone.

Rules:
- Only open self-report questionnaires that have opened (practice's today), of clients whose account is active.
- Each questionnaire is named in at most one reminder ever: a run *claims* it (``reminded_at``) in a conditional
  UPDATE, commits, and only then sends. A crash or a failed send therefore loses a reminder rather than repeating
  it; two runs at once (threads or processes, SQLite or PostgreSQL) never claim the same questionnaire.
- One e-mail per client per run, however many are waiting, and at most ``limit`` per client in any 30 days
  (counted from ``Reminder`` rows, checked under a lock on the client's registration row).
- The message says only that something is waiting, and where: no questionnaire, therapist or health content.
"""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import exists, func, update
from sqlmodel import Session, col, delete, select

from rom_portal.db import Database
from rom_portal.i18n import current_language, ngettext
from rom_portal.i18n import gettext as _
from rom_portal.mail import Mailer, MailError, MailServerError, SmtpConfig, build_message, plausible_address
from rom_portal.models import (
    Assignment,
    Registration,
    Reminder,
    Respondent,
    Submission,
    SubmissionStatus,
    User,
)
from rom_portal.models.base import utcnow
from rom_portal.services.assignments import still_open
from rom_portal.services.audit import Actor, record
from rom_portal.services.filling import NotFound, registration_of_user

__all__ = [
    "AddressError",
    "Claim",
    "Due",
    "NotFound",
    "RunReport",
    "Waiting",
    "claim",
    "compose",
    "due",
    "reminder_address",
    "remove_address",
    "send_reminders",
    "set_address",
]

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())  # the command prints failures itself; a server's logging config may add more
WINDOW = timedelta(days=30)
COMMAND = "reminders send"


# --- The client's address -----------------------------------------------------------------------------------


class AddressError(ValueError):
    """The address cannot be used; the view shows why."""


def reminder_address(session: Session, user_id: int) -> str | None:
    """The client's own reminder address (for their own eyes only)."""
    return registration_of_user(session, user_id).reminder_email


def set_address(session: Session, actor: Actor, address: str) -> None:
    """Store ``address`` exactly as given (after trimming the ends). Audited without the address."""
    assert actor.user_id is not None
    address = address.strip()
    if not plausible_address(address):
        raise AddressError(address)
    registration = registration_of_user(session, actor.user_id)
    registration.reminder_email = address
    session.add(registration)
    record(session, actor, "update", "reminder_address", registration.id, registration_id=registration.id)


def remove_address(session: Session, actor: Actor) -> bool:
    """Forget the address; False when there was none."""
    assert actor.user_id is not None
    registration = registration_of_user(session, actor.user_id)
    if registration.reminder_email is None:
        return False
    registration.reminder_email = None
    session.add(registration)
    record(session, actor, "delete", "reminder_address", registration.id, registration_id=registration.id)
    return True


# --- Who is due ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Waiting:
    """A client with questionnaires waiting that no reminder named yet."""

    registration_id: int
    assignment_ids: tuple[int, ...]


@dataclass(frozen=True)
class Due:
    clients: list[Waiting]  # under the limit: each gets one e-mail
    at_limit: int  # clients with questionnaires waiting who had their reminders for these 30 days

    @property
    def questionnaires(self) -> int:
        return sum(len(one.assignment_ids) for one in self.clients)


def _submitted():  # type: ignore[no-untyped-def]
    return exists().where(
        col(Submission.assignment_id) == Assignment.id, col(Submission.status) == SubmissionStatus.submitted
    )


def due(session: Session, today: date, now: datetime, limit: int) -> Due:
    """The clients a run would remind now (nothing is changed)."""
    rows = session.exec(
        select(Assignment.registration_id, Assignment.id)
        .join(Registration, col(Registration.id) == Assignment.registration_id)
        .join(User, col(User.id) == Registration.user_id)
        .where(
            col(Assignment.respondent) == Respondent.self,
            col(Assignment.reminded_at).is_(None),
            still_open(today),
            col(Registration.reminder_email).is_not(None),
            col(User.disabled_at).is_(None),
            ~_submitted(),
        )
        .order_by(col(Assignment.registration_id), col(Assignment.id))
    ).all()
    waiting: dict[int, list[int]] = {}
    for registration_id, assignment_id in rows:
        waiting.setdefault(registration_id, []).append(assignment_id)
    if not waiting:
        return Due([], 0)
    sent = dict(
        session.exec(
            select(Reminder.registration_id, func.count())
            .where(col(Reminder.registration_id).in_(list(waiting)), col(Reminder.sent_at) > now - WINDOW)
            .group_by(col(Reminder.registration_id))
        ).all()
    )
    clients = [Waiting(rid, tuple(ids)) for rid, ids in waiting.items() if sent.get(rid, 0) < limit]
    return Due(clients, len(waiting) - len(clients))


# --- Claiming -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """Questionnaires this run claimed for one e-mail; the Reminder row counts towards the limit."""

    registration_id: int
    reminder_id: int
    address: str
    language: str | None
    questionnaires: int


def claim(session: Session, waiting: Waiting, now: datetime, limit: int) -> Claim | None:
    """Claim the waiting questionnaires of one client, or None when another run (or a change) got there first.

    Runs in a write transaction. The registration row is locked first (PostgreSQL: FOR UPDATE; SQLite has one
    writer anyway), so two runs cannot both pass the 30-day limit; the conditional UPDATE counts only rows this
    transaction changed, so a questionnaire claimed elsewhere is never claimed again.
    """
    found = session.exec(
        select(Registration, User)
        .join(User, col(User.id) == Registration.user_id)
        .where(col(Registration.id) == waiting.registration_id)
        .with_for_update(of=Registration)  # type: ignore[arg-type]
    ).first()
    if found is None:
        return None
    registration, user = found
    address = registration.reminder_email
    if not address or not user.is_active:
        return None
    recent = session.exec(
        select(func.count())
        .select_from(Reminder)
        .where(col(Reminder.registration_id) == registration.id, col(Reminder.sent_at) > now - WINDOW)
    ).one()
    if recent >= limit:
        return None
    claimed = session.exec(  # type: ignore[call-overload]
        update(Assignment)
        .where(
            col(Assignment.id).in_(waiting.assignment_ids),
            col(Assignment.registration_id) == registration.id,
            col(Assignment.reminded_at).is_(None),
            ~_submitted(),
        )
        .values(reminded_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        return None
    reminder = Reminder(registration_id=registration.id, sent_at=now)
    session.add(reminder)
    session.flush()
    assert registration.id is not None and reminder.id is not None
    return Claim(registration.id, reminder.id, address, user.locale, claimed)


def _finish(session: Session, claim: Claim, sent: bool) -> None:
    """After the attempt: audit it; a reminder that did not go out does not count towards the limit.

    The questionnaires stay claimed either way: a later run does not name them again.
    """
    if not sent:
        session.exec(delete(Reminder).where(col(Reminder.id) == claim.reminder_id))  # type: ignore[call-overload]
    record(
        session,
        Actor.system(COMMAND),
        "send",
        "reminder",
        claim.reminder_id,
        registration_id=claim.registration_id,
        outcome="success" if sent else "failure",
    )


# --- The message --------------------------------------------------------------------------------------------


@contextmanager
def _speaking(language: str) -> Iterator[None]:
    token = current_language.set(language)
    try:
        yield
    finally:
        current_language.reset(token)


def compose(language: str, questionnaires: int, public_url: str) -> tuple[str, str]:
    """Subject and plain-text body in ``language``: that something waits, and the portal's address. Nothing else."""
    with _speaking(language):
        subject = _("A questionnaire is waiting for you")
        waiting = ngettext(
            "A questionnaire is waiting for you in the portal.",
            "%(num)s questionnaires are waiting for you in the portal.",
            questionnaires,
        ) % {"num": questionnaires}
        paragraphs = [
            _("Hello,"),
            waiting,
            _("You log in here:") + "\n" + public_url,
            _(
                "You get this e-mail because you gave your e-mail address for reminders. "
                "No longer want them? Remove your address under My account in the portal."
            ),
            _("This message was sent automatically. Replies are not read."),
        ]
    # Lines under 78 characters keep the text readable in any mail program (and its encoding plain).
    wrapped = [
        "\n".join(textwrap.fill(line, 72, break_long_words=False) for line in one.split("\n")) for one in paragraphs
    ]
    return subject, "\n\n".join(wrapped) + "\n"


# --- A run --------------------------------------------------------------------------------------------------


@dataclass
class RunReport:
    sent: int = 0  # e-mails
    questionnaires: int = 0  # named in those e-mails
    at_limit: int = 0
    skipped: int = 0  # claimed by another run, or changed since the list was made
    failed: list[str] = field(default_factory=list)  # one line each, no addresses
    stopped: str | None = None  # one line: the mail server could not be used, the rest waits for the next run


def send_reminders(
    database: Database,
    config: SmtpConfig,
    *,
    public_url: str,
    limit: int,
    default_language: str,
    today: date,
    now: Callable[[], datetime] = utcnow,
) -> RunReport:
    """Claim and send, one client at a time. Connects to the mail server only when someone is due.

    Raises MailServerError when the server cannot be reached at the start (then nothing is claimed).
    """
    report = RunReport()
    with database.session() as session:
        plan = due(session, today, now(), limit)
    report.at_limit = plan.at_limit
    if not plan.clients:
        return report
    with Mailer(config) as mailer:
        for waiting in plan.clients:
            try:
                mailer.ensure_connected()  # before claiming: a dead server must not swallow this client's reminder
            except MailServerError as exc:
                report.stopped = f"mail: {exc}; stopped, the others wait for the next run"
                log.warning(report.stopped)
                break
            with database.session(write=True) as session:
                claimed = claim(session, waiting, now(), limit)
            if claimed is None:
                report.skipped += 1
                continue
            subject, body = compose(claimed.language or default_language, claimed.questionnaires, public_url)
            problem: MailError | None = None
            try:
                mailer.send(build_message(config.sender, claimed.address, subject, body), claimed.address)
            except MailError as exc:
                problem = exc
            with database.session(write=True) as session:
                _finish(session, claimed, sent=problem is None)
            if problem is None:
                report.sent += 1
                report.questionnaires += claimed.questionnaires
                continue
            # Never the address in logs or output: the registration's internal number is enough to look into it.
            line = f"reminder for registration {claimed.registration_id} not sent: {problem}"
            log.warning(line)
            report.failed.append(line)
            if isinstance(problem, MailServerError):
                report.stopped = "mail: stopped after that error, the others wait for the next run"
                log.warning(report.stopped)
                break
    return report
