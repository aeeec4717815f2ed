"""The therapist's record of one client: results over time, critical-item alerts, and the client's settings.

Every function reaches the client through the therapist's own caseload (``registration_of`` or a join on
``Registration.therapist_id``): another therapist's client, alert or submission is NotFound, whatever the id.

Reading is split from auditing on purpose: ``record_of`` and ``submission_of`` run in a read transaction
(hundreds of rows for a long treatment), then ``audit_read`` writes the one audit row in a short write
transaction before the page is shown. On SQLite a write holds the database's only writer, and clients'
autosaves should not wait while a long record is loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select, update

from rom_portal.models import (
    Alert,
    Answer,
    Assignment,
    Registration,
    Score,
    Submission,
    SubmissionStatus,
    User,
)
from rom_portal.models.base import utcnow
from rom_portal.questionnaires import Catalogue, Item, LocalText, Questionnaire, visible_items
from rom_portal.services.audit import Actor, record
from rom_portal.services.onboarding import NotFound
from rom_portal.services.progress import InstrumentProgress, ScoreRow, SubmittedRow, progress_of

__all__ = [
    "AlertRow",
    "AnsweredItem",
    "ClientRecord",
    "NotFound",
    "SubmissionDetail",
    "acknowledge_alert",
    "answer_text",
    "audit_read",
    "record_of",
    "submission_of",
    "update_settings",
]


@dataclass(frozen=True)
class Client:
    registration_id: int
    public_id: str
    display_name: str
    username: str
    since: datetime
    results_visible: bool
    show_name_to_informants: bool


@dataclass(frozen=True)
class AlertRow:
    id: int
    definition: Questionnaire | None  # the version filled in; None if taken out of the catalogue
    questionnaire_key: str
    item_id: str
    value: Any  # the answer as stored (None if the answer is gone)
    respondent: str  # "" for the client, else the informant's label
    assignment_public_id: str
    submitted_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str  # the therapist's display name (or username)

    @property
    def item(self) -> Item | None:
        if self.definition is None or not self.definition.has_item(self.item_id):
            return None
        return self.definition.item(self.item_id)

    @property
    def message(self) -> LocalText | None:
        """What the questionnaire's critical rule says the therapist should do."""
        if self.definition is None:
            return None
        return next((rule.message for rule in self.definition.critical_items if rule.item == self.item_id), None)


@dataclass(frozen=True)
class ClientRecord:
    client: Client
    instruments: list[InstrumentProgress]
    open_alerts: list[AlertRow]  # newest first
    acknowledged_alerts: list[AlertRow]  # most recently acknowledged first


def _client(session: Session, therapist_id: int, public_id: str) -> Client:
    row = session.exec(
        select(Registration, User)
        .join(User, col(User.id) == Registration.user_id)
        .where(Registration.public_id == public_id, Registration.therapist_id == therapist_id)
    ).first()
    if row is None:
        raise NotFound
    registration, user = row
    assert registration.id is not None
    return Client(
        registration.id,
        registration.public_id,
        user.display_name,
        user.username,
        registration.created_at,
        registration.results_visible,
        registration.show_name_to_informants,
    )


def _definition(catalogue: Catalogue, key: str, version: int) -> Questionnaire | None:
    try:
        return catalogue.get_version(key, version)
    except KeyError:
        return catalogue.get(key)


def record_of(session: Session, catalogue: Catalogue, therapist_id: int, public_id: str) -> ClientRecord:
    """One of the therapist's clients with every submitted result and alert: four queries, however many rows."""
    client = _client(session, therapist_id, public_id)
    submitted = [
        SubmittedRow(*row)
        for row in session.exec(
            select(
                Submission.id,
                Assignment.public_id,
                Assignment.questionnaire_key,
                Assignment.questionnaire_version,
                Assignment.respondent,
                Assignment.informant_label,
                Submission.submitted_at,
            )
            .join(Assignment, col(Assignment.id) == Submission.assignment_id)
            .where(
                Submission.registration_id == client.registration_id,
                Submission.status == SubmissionStatus.submitted,
            )
            .order_by(col(Submission.submitted_at), col(Submission.id))
        )
    ]
    # Scores exist only for submitted submissions, so the registration alone selects the right ones.
    scores = {
        (submission_id, scale_id): ScoreRow(value, band, prorated)
        for submission_id, scale_id, value, band, prorated in session.exec(
            select(Score.submission_id, Score.scale_id, Score.value, Score.band, Score.prorated).where(
                Score.registration_id == client.registration_id
            )
        )
    }
    alerts = _alerts(session, catalogue, client.registration_id)
    open_alerts = [alert for alert in alerts if alert.acknowledged_at is None]
    acknowledged = [alert for alert in alerts if alert.acknowledged_at is not None]
    acknowledged.sort(key=lambda alert: alert.acknowledged_at or utcnow(), reverse=True)
    return ClientRecord(client, progress_of(catalogue, submitted, scores), open_alerts, acknowledged)


def _alerts(session: Session, catalogue: Catalogue, registration_id: int) -> list[AlertRow]:
    acknowledger = aliased(User)
    rows = session.exec(
        select(
            Alert.id,
            Alert.item_id,
            Alert.created_at,
            Alert.acknowledged_at,
            Assignment.questionnaire_key,
            Assignment.questionnaire_version,
            Assignment.respondent,
            Assignment.informant_label,
            Assignment.public_id,
            Submission.submitted_at,
            Answer.value,
            acknowledger.display_name,
            acknowledger.username,
        )
        .join(Submission, col(Submission.id) == Alert.submission_id)
        .join(Assignment, col(Assignment.id) == Submission.assignment_id)
        .join(
            Answer,
            (col(Answer.submission_id) == Alert.submission_id) & (col(Answer.item_id) == Alert.item_id),
            isouter=True,
        )
        .join(acknowledger, col(acknowledger.id) == Alert.acknowledged_by, isouter=True)
        .where(Alert.registration_id == registration_id)
        .order_by(col(Alert.created_at).desc(), col(Alert.id).desc())
    ).all()
    return [
        AlertRow(
            id=alert_id,
            definition=_definition(catalogue, key, version),
            questionnaire_key=key,
            item_id=item_id,
            value=json.loads(value) if value is not None else None,
            respondent=label if respondent == "informant" else "",
            assignment_public_id=assignment_public_id,
            submitted_at=submitted_at or created_at,
            acknowledged_at=acknowledged_at,
            acknowledged_by=(by_name or by_username or "") if acknowledged_at else "",
        )
        for (
            alert_id,
            item_id,
            created_at,
            acknowledged_at,
            key,
            version,
            respondent,
            label,
            assignment_public_id,
            submitted_at,
            value,
            by_name,
            by_username,
        ) in rows
    ]


def audit_read(session: Session, actor: Actor, object_type: str, object_id: object, registration_id: int) -> None:
    """One audit row for one page of client data the actor is about to see."""
    record(session, actor, "read", object_type, object_id, registration_id=registration_id)


# --- Alerts and settings ---------------------------------------------------------------------------------


def acknowledge_alert(session: Session, actor: Actor, alert_id: int) -> str:
    """Mark an alert of the actor's own client as seen, once: who and when. Returns the client's public id."""
    assert actor.user_id is not None
    found = session.exec(
        select(Alert.id, Alert.registration_id, Registration.public_id)
        .join(Registration, col(Registration.id) == Alert.registration_id)
        .where(Alert.id == alert_id, Registration.therapist_id == actor.user_id)
    ).first()
    if found is None:
        raise NotFound
    _, registration_id, public_id = found
    # Conditional, so a second click (or a colleague at the same moment) keeps the first who and when.
    done = session.exec(  # type: ignore[call-overload]
        update(Alert)
        .where(col(Alert.id) == alert_id, col(Alert.acknowledged_at).is_(None))
        .values(acknowledged_by=actor.user_id, acknowledged_at=utcnow())
    )
    if done.rowcount:
        record(session, actor, "acknowledge", "alert", alert_id, registration_id=registration_id)
    return str(public_id)


def update_settings(
    session: Session, actor: Actor, public_id: str, *, results_visible: bool, show_name_to_informants: bool
) -> None:
    """What the client sees of their own results, and whether informants see the client's roepnaam."""
    assert actor.user_id is not None
    registration = session.exec(
        select(Registration).where(Registration.public_id == public_id, Registration.therapist_id == actor.user_id)
    ).first()
    if registration is None:
        raise NotFound
    registration.results_visible = results_visible
    registration.show_name_to_informants = show_name_to_informants
    session.add(registration)
    record(session, actor, "update", "registration_settings", registration.id, registration_id=registration.id)


# --- One submission's answers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AnsweredItem:
    item: Item
    value: Any  # None: not answered


@dataclass(frozen=True)
class SubmissionDetail:
    client: Client
    submission_id: int
    definition: Questionnaire  # the version that was filled in
    respondent: str  # "" for the client, else the informant's label
    submitted_at: datetime
    items: list[AnsweredItem]  # the questions the respondent saw, in form order
    scores: dict[str, ScoreRow]  # by scale id
    alert_items: set[str]


def submission_of(
    session: Session, catalogue: Catalogue, therapist_id: int, public_id: str, assignment_public_id: str
) -> SubmissionDetail:
    """A submitted questionnaire of one of the therapist's clients, answer by answer. Drafts are NotFound."""
    client = _client(session, therapist_id, public_id)
    found = session.exec(
        select(Assignment, Submission)
        .join(Submission, col(Submission.assignment_id) == Assignment.id)
        .where(
            Assignment.public_id == assignment_public_id,
            Assignment.registration_id == client.registration_id,
            Submission.status == SubmissionStatus.submitted,
        )
    ).first()
    if found is None:
        raise NotFound
    assignment, submission = found
    assert submission.id is not None and submission.submitted_at is not None
    definition = _definition(catalogue, assignment.questionnaire_key, assignment.questionnaire_version)
    if definition is None:
        raise NotFound
    answers = {
        item_id: json.loads(value)
        for item_id, value in session.exec(
            select(Answer.item_id, Answer.value).where(Answer.submission_id == submission.id)
        )
    }
    scores = {
        scale_id: ScoreRow(value, band, prorated)
        for scale_id, value, band, prorated in session.exec(
            select(Score.scale_id, Score.value, Score.band, Score.prorated).where(Score.submission_id == submission.id)
        )
    }
    alert_items = set(session.exec(select(Alert.item_id).where(Alert.submission_id == submission.id)).all())
    items = [
        AnsweredItem(item, answers.get(item.id))
        for item in visible_items(definition, answers)
        if item.type != "instruction"
    ]
    respondent = assignment.informant_label if assignment.respondent == "informant" else ""
    return SubmissionDetail(
        client, submission.id, definition, respondent, submission.submitted_at, items, scores, alert_items
    )


def answer_text(item: Item | None, value: Any, lang: str) -> str:
    """An answer in words: the option's label for a choice, the value itself otherwise ("" if unanswered)."""
    if value is None:
        return ""
    options = getattr(item, "options", None)
    if options is None:
        return str(value)
    labels = {option.value: option.label.get(lang) for option in options}
    if isinstance(value, list):
        return ", ".join(labels.get(one, str(one)) for one in value)
    return labels.get(value, str(value))
