"""Heteroanamnesis: a parent, partner, teacher or relative fills in one questionnaire about a client.

The therapist issues an informant assignment with a link (a 256-bit token in the URL) and a short code
(40 bits) to hand over separately; only their SHA-256 hashes are stored, and the link expires. Guessing the
code is throttled per link and per address. An unknown link, a wrong code, an expired and a closed link are
one and the same refusal. The right code starts an informant session that reaches that one assignment only.

Sending the answers closes the link and ends its sessions. The informant can have what they entered removed
while the link is open, and once more right after sending (with a short-lived receipt the web layer signs).

Functions that check a code return an outcome instead of raising: ``Database.write`` rolls back on an
exception, and a refused code must still commit its throttle count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, delete, select

from rom_portal.i18n import N_
from rom_portal.models import (
    Alert,
    Answer,
    Assignment,
    AuthSession,
    InformantLink,
    Registration,
    Respondent,
    Role,
    Score,
    Submission,
    SubmissionStatus,
    User,
)
from rom_portal.models.base import utcnow
from rom_portal.questionnaires import Catalogue, Questionnaire
from rom_portal.security import sessions, throttle
from rom_portal.security.sessions import InformantAuth
from rom_portal.security.throttle import Locked
from rom_portal.security.tokens import hash_code, hash_token, new_code, new_token, same
from rom_portal.services import filling
from rom_portal.services.assignments import assign, opened_by
from rom_portal.services.audit import Actor, record
from rom_portal.services.onboarding import NotFound, clean_text, code_address_key, registration_of

RELATION_MAX = 60  # Assignment.informant_label
CODE_GROUPS = 2  # 8 characters, 40 bits: the link's token carries the real entropy
# How long after sending the informant may still have their answers removed (the done page offers it).
REMOVAL_WINDOW = timedelta(minutes=30)


class Closed(Exception):
    """The link was closed (sent or removed) while this request was on its way."""


def link_key(link_id: int) -> str:
    return f"informant-link:{link_id}"


# --- Therapist side ---------------------------------------------------------------------------------------


def informant_questionnaires(catalogue: Catalogue) -> list[Questionnaire]:
    """The catalogue's questionnaires meant for an informant (not for the client themself)."""
    return [catalogue[key] for key in catalogue if catalogue[key].respondent.kind == "informant"]


def issue_problems(catalogue: Catalogue, questionnaire_key: str, relation: str) -> dict[str, str]:
    """Field name -> message id, for the issue form."""
    problems: dict[str, str] = {}
    if questionnaire_key not in {definition.key for definition in informant_questionnaires(catalogue)}:
        problems["questionnaire"] = N_("Choose a questionnaire.")
    if not relation:
        problems["relation"] = N_("Fill in who the informant is to the client, for example “mother” or “teacher”.")
    elif len(relation) > RELATION_MAX:
        problems["relation"] = N_("Use at most 60 characters.")
    return problems


@dataclass(frozen=True)
class IssuedLink:
    token: str  # in clear, shown once; only the hashes are stored
    code: str
    relation: str
    questionnaire_key: str
    expires_at: datetime
    client_name: str
    name_shown: bool  # whether the informant will see the client's roepnaam


def _new_link(session: Session, assignment: Assignment, token: str, code: str, expires_at: datetime) -> InformantLink:
    assert assignment.id is not None
    link = InformantLink(
        assignment_id=assignment.id,
        registration_id=assignment.registration_id,
        token_hash=hash_token(token),
        code_hash=hash_code(code),
        expires_at=expires_at,
    )
    session.add(link)
    session.flush()
    return link


def issue(
    session: Session,
    catalogue: Catalogue,
    actor: Actor,
    public_id: str,
    questionnaire_key: str,
    relation: str,
    valid_for: timedelta,
) -> IssuedLink:
    """An informant assignment for one of the actor's own clients, with a new link and code."""
    assert actor.user_id is not None and actor.role == Role.therapist.value
    registration = registration_of(session, actor.user_id, public_id)
    relation = clean_text(relation)
    if issue_problems(catalogue, questionnaire_key, relation):
        raise ValueError("the view checks the form first")
    assignment = assign(
        session,
        catalogue,
        actor,
        registration,
        questionnaire_key,
        respondent=Respondent.informant,
        informant_label=relation,
    )
    return _hand_out(session, actor, registration, assignment, valid_for)


def _hand_out(
    session: Session, actor: Actor, registration: Registration, assignment: Assignment, valid_for: timedelta
) -> IssuedLink:
    """A new link and code for ``assignment`` (an informant assignment of ``registration``)."""
    token, code = new_token(), new_code(groups=CODE_GROUPS)
    link = _new_link(session, assignment, token, code, utcnow() + valid_for)
    record(session, actor, "create", "informant_link", link.id, registration_id=registration.id)
    client = session.get(User, registration.user_id)
    name = client.display_name if client else ""
    return IssuedLink(
        token,
        code,
        assignment.informant_label,
        assignment.questionnaire_key,
        link.expires_at,
        name,
        registration.show_name_to_informants,
    )


class AlreadySent(Exception):
    """The informant has sent this questionnaire: a new link would have nothing to fill in."""


def issue_for_assignment(
    session: Session, actor: Actor, public_id: str, assignment_public_id: str, valid_for: timedelta, today: date
) -> IssuedLink:
    """A link and code for an existing informant assignment (a planned occasion) of the actor's own client.

    NotFound for anything out of reach and for an occasion that has not opened yet (``today`` is the
    practice's date). A link given out before stops working: only one link per assignment, so an informant
    who lost theirs gets a new one. The new link starts empty: what was typed through the old one and not
    sent is deleted, so whoever opens the new link never sees another person's answers.
    """
    assert actor.user_id is not None and actor.role == Role.therapist.value
    registration = registration_of(session, actor.user_id, public_id)
    assignment = session.exec(
        select(Assignment)
        .where(
            Assignment.public_id == assignment_public_id,
            Assignment.registration_id == registration.id,
            Assignment.respondent == Respondent.informant,
            opened_by(today),
        )
        .with_for_update()  # two clicks at once: the second waits, then replaces the first one's link
    ).first()
    if assignment is None:
        raise NotFound
    entered = session.exec(select(Submission).where(Submission.assignment_id == assignment.id)).first()
    if entered is not None and entered.status is SubmissionStatus.submitted:
        raise AlreadySent
    if entered is not None:  # a draft typed through the old link
        assert entered.id is not None and registration.id is not None
        _delete_submission(session, actor, entered.id, registration.id)
    old = session.exec(select(InformantLink).where(InformantLink.assignment_id == assignment.id)).first()
    if old is not None:
        # Deleting the row ends the sessions opened with it too (ON DELETE CASCADE).
        session.exec(delete(InformantLink).where(col(InformantLink.id) == old.id))
        record(session, actor, "delete", "informant_link", old.id, registration_id=registration.id)
    return _hand_out(session, actor, registration, assignment, valid_for)


@dataclass(frozen=True)
class InformantRow:
    relation: str
    questionnaire_key: str
    questionnaire_version: int
    created_at: datetime
    expires_at: datetime
    status: str  # not_opened, in_progress, sent, closed
    closed_because: str = ""  # for closed: "removed" (by the informant) or "expired"


@dataclass(frozen=True)
class ClientInformants:
    public_id: str
    display_name: str
    name_shown: bool  # whether informants see the client's roepnaam
    rows: list[InformantRow]
    registration_id: int  # for the audit row the page view writes


def _status(link: InformantLink, submission_status: SubmissionStatus | None, now: datetime) -> tuple[str, str]:
    if submission_status is SubmissionStatus.submitted:
        return "sent", ""
    if link.closed_at is not None:
        return "closed", "removed"  # links close only at sending or at the informant's removal request
    if link.expires_at <= now:
        return "closed", "expired"
    return ("in_progress" if submission_status is SubmissionStatus.draft else "not_opened"), ""


def informants_of(session: Session, therapist_id: int, public_id: str) -> ClientInformants:
    """The informant assignments of one of the therapist's own clients, newest first (NotFound otherwise).

    A read only: the view audits it afterwards in a short write (``client_record.audit_read``).
    """
    registration = registration_of(session, therapist_id, public_id)
    client = session.get(User, registration.user_id)
    rows = session.exec(
        select(Assignment, InformantLink, Submission.status)
        .join(InformantLink, col(InformantLink.assignment_id) == Assignment.id)
        .outerjoin(Submission, col(Submission.assignment_id) == Assignment.id)
        .where(Assignment.registration_id == registration.id, Assignment.respondent == Respondent.informant)
        .order_by(col(Assignment.created_at).desc(), col(Assignment.id).desc())
    )
    now = utcnow()
    listed = []
    for assignment, link, submission_status in rows:
        status, because = _status(link, submission_status, now)
        listed.append(
            InformantRow(
                assignment.informant_label,
                assignment.questionnaire_key,
                assignment.questionnaire_version,
                assignment.created_at,
                link.expires_at,
                status,
                because,
            )
        )
    name = client.display_name if client else ""
    assert registration.id is not None
    return ClientInformants(registration.public_id, name, registration.show_name_to_informants, listed, registration.id)


# --- Informant side ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Opened:
    token: str | None = None  # a new informant session: the link and code were right
    locked: Locked | None = None  # too many wrong codes from this address or for this link


def open_link(
    session: Session,
    catalogue: Catalogue,
    actor: Actor,
    token: str,
    code: str,
    *,
    address: str | None,
    previous_session_id: int | None = None,
) -> Opened:
    """Check the code of a link and start an informant session; ``Opened()`` is the one refusal for all."""
    link = session.exec(select(InformantLink).where(InformantLink.token_hash == hash_token(token))).first()
    keys = [code_address_key(address)]
    if link is not None:
        assert link.id is not None
        keys.append(link_key(link.id))
    lock = throttle.locked(session, *keys, for_update=True)
    if lock is not None:
        return Opened(locked=lock)
    now = utcnow()
    right_code = link is not None and same(hash_code(code), link.code_hash)
    if link is None or not right_code or link.closed_at is not None or link.expires_at <= now:
        throttle.record_failure(session, *keys)
        registration_id = link.registration_id if link is not None else None
        record(
            session,
            actor,
            "open",
            "informant_link",
            link.id if link else "",
            registration_id=registration_id,
            outcome="failure",
        )
        return Opened()
    assignment = session.get(Assignment, link.assignment_id)
    assert assignment is not None
    try:
        # An empty draft marks the link as opened ("in progress" for the therapist); answers come later.
        filling.save_answers(session, catalogue, assignment, {})
    except filling.Locked:  # sent by some other way: the link has done its work
        _close(session, link)
        return Opened()
    if previous_session_id is not None:  # whoever was logged in on this browser is not carried over
        sessions.end(session, previous_session_id)
    throttle.record_success(session, *keys)
    record(session, actor, "open", "informant_link", link.id, registration_id=link.registration_id)
    return Opened(token=sessions.start_informant(session, link))


@dataclass(frozen=True)
class InformantForm:
    assignment: Assignment
    about: str | None  # the client's roepnaam, unless the client's registration hides it from informants


def form_of(session: Session, informant: InformantAuth) -> InformantForm:
    """The one assignment an informant session may fill in."""
    assignment = session.get(Assignment, informant.assignment_id)
    registration = session.get(Registration, informant.registration_id)
    if (
        assignment is None
        or registration is None
        or assignment.registration_id != registration.id
        or assignment.respondent is not Respondent.informant
    ):
        raise NotFound
    about = None
    if registration.show_name_to_informants:
        client = session.get(User, registration.user_id)
        about = client.display_name if client and client.display_name else None
    return InformantForm(assignment, about)


def _close(session: Session, link: InformantLink) -> None:
    """The link opens nothing any more, and every session started with it ends now."""
    if link.closed_at is None:
        link.closed_at = utcnow()
        session.add(link)
    session.exec(delete(AuthSession).where(col(AuthSession.informant_link_id) == link.id))


@dataclass(frozen=True)
class Sent:
    link_id: int
    submission_id: int


def submit(session: Session, catalogue: Catalogue, actor: Actor, informant: InformantAuth) -> Sent:
    """Lock the answers (``filling.Incomplete`` when some are missing), then close the link and its sessions."""
    link = session.get(InformantLink, informant.link_id, with_for_update=True, populate_existing=True)
    if link is None or link.closed_at is not None or link.expires_at <= utcnow():
        raise Closed
    assignment = session.get(Assignment, link.assignment_id)
    assert assignment is not None and link.id is not None
    submitted = filling.submit(session, catalogue, assignment, actor)
    _close(session, link)
    record(session, actor, "close", "informant_link", link.id, registration_id=link.registration_id)
    assert submitted.submission.id is not None
    return Sent(link.id, submitted.submission.id)


@dataclass(frozen=True)
class SentEntry:
    definition: Questionnaire
    submitted_at: datetime
    removable_until: datetime


def _removable_until(link: InformantLink, submission: Submission) -> datetime | None:
    if submission.status is not SubmissionStatus.submitted or submission.submitted_at is None:
        return None
    return min(submission.submitted_at + REMOVAL_WINDOW, link.expires_at)


def sent_entry(session: Session, catalogue: Catalogue, link_id: int, submission_id: int) -> SentEntry | None:
    """What the thank-you page may say about a sending, while it can still be taken back; else None."""
    link = session.get(InformantLink, link_id)
    submission = session.get(Submission, submission_id)
    if link is None or submission is None or submission.assignment_id != link.assignment_id:
        return None
    until = _removable_until(link, submission)
    if until is None or until <= utcnow():
        return None
    assignment = session.get(Assignment, link.assignment_id)
    assert assignment is not None and submission.submitted_at is not None
    return SentEntry(filling.definition_of(catalogue, assignment), submission.submitted_at, until)


def _delete_submission(session: Session, actor: Actor, submission_id: int, registration_id: int) -> None:
    """What an informant entered (answers, and scores and alerts once sent) goes, with its submission."""
    for table in (Answer, Score, Alert):
        session.exec(delete(table).where(col(table.submission_id) == submission_id))
    session.exec(delete(Submission).where(col(Submission.id) == submission_id))
    record(session, actor, "delete", "submission", submission_id, registration_id=registration_id)


def remove_entry(session: Session, actor: Actor, link_id: int, *, submission_id: int | None = None) -> bool:
    """Delete what the informant entered and close the link. False when that is no longer possible.

    Without ``submission_id`` (from a live informant session) the link must still be open. With it (from the
    receipt made at sending) only that submission goes, within ``REMOVAL_WINDOW`` of sending and before the
    link would have expired. Asking again after a removal is not an error: what was entered is gone.
    """
    link = session.get(InformantLink, link_id, with_for_update=True, populate_existing=True)
    if link is None or link.expires_at <= utcnow():
        return False
    submission = session.exec(select(Submission).where(Submission.assignment_id == link.assignment_id)).first()
    if submission_id is None:
        if link.closed_at is not None:
            return False
    elif submission is not None:
        until = _removable_until(link, submission)
        if submission.id != submission_id or until is None or until <= utcnow():
            return False
    if submission is not None:
        assert submission.id is not None
        _delete_submission(session, actor, submission.id, link.registration_id)
    _close(session, link)
    record(session, actor, "remove", "informant_link", link.id, registration_id=link.registration_id)
    return True


# --- Demo ---------------------------------------------------------------------------------------------------

# Public on purpose, like the demo passwords: the demo login page lists this link and code.
DEMO_INFORMANT_TOKEN = "demo-naaste-vragenlijst"  # noqa: S105
DEMO_INFORMANT_CODE = "K7RT-4XWM"
_DEMO_VALID_FOR = timedelta(days=90)


def seed_demo_informant(
    session: Session, catalogue: Catalogue, registration: Registration, therapist: User
) -> tuple[str, str]:
    """An open informant link (IQCODE, from a partner) about the demo client; returns (token, code).

    Idempotent: an open demo link is kept. One that was used up (sent, removed or expired) keeps its row
    for the therapist's list, with its token retired, and a fresh link takes over the demo token.
    """
    token_hash = hash_token(DEMO_INFORMANT_TOKEN)
    current = session.exec(select(InformantLink).where(InformantLink.token_hash == token_hash)).first()
    if current is not None:
        if current.closed_at is None and current.expires_at > utcnow():
            return DEMO_INFORMANT_TOKEN, DEMO_INFORMANT_CODE
        current.token_hash = hash_token(new_token())
        session.add(current)
        session.flush()
    actor = Actor(therapist.id, Role.therapist.value, "demo")
    assignment = assign(
        session, catalogue, actor, registration, "iqcode16", respondent=Respondent.informant, informant_label="partner"
    )
    link = _new_link(session, assignment, DEMO_INFORMANT_TOKEN, DEMO_INFORMANT_CODE, utcnow() + _DEMO_VALID_FOR)
    record(session, actor, "create", "informant_link", link.id, registration_id=registration.id)
    return DEMO_INFORMANT_TOKEN, DEMO_INFORMANT_CODE
