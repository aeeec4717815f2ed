"""The questionnaire part of a client's data download: questionnaires, every answer, scores and alerts.

What informants filled in about the client is included, marked with who they are to the client. Drafts (not
sent yet) are included and marked as such. Question texts, answer labels, scale and band names come from the
version of the questionnaire that was filled in, in the client's language.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

from sqlmodel import Session, col, select

from rom_portal.i18n import N_
from rom_portal.i18n import gettext as _
from rom_portal.models import (
    Alert,
    Answer,
    Assignment,
    InformantLink,
    MeasurementPlan,
    Score,
    Submission,
    SubmissionStatus,
)
from rom_portal.services.export_topics import (
    PLAN_ID,
    QUESTIONNAIRE_KEY,
    QUESTIONNAIRE_TITLE,
    RELATION,
    RESPONDENT,
    Column,
    Export,
    FormWords,
    Row,
    Topic,
    batched,
    respondent_words,
)

STATUS_WORDS = {
    None: N_("not started"),
    SubmissionStatus.draft: N_("not sent (draft)"),
    SubmissionStatus.submitted: N_("sent"),
}


def status_words(status: SubmissionStatus | None) -> str:
    return _(STATUS_WORDS[status])


ASSIGNMENT_ID = Column(
    "questionnaire_code",
    N_("Code"),
    N_("A random code for this one time of the questionnaire: the same in every file."),
)
VERSION = Column("version", N_("Version"), N_("The version of the questionnaire."))
STATUS = Column("status", N_("Status"), N_("Sent, not sent (draft), or not started."))
SENT_AT = Column("sent_at", N_("Sent on"), N_("When it was sent; empty if it was not sent."))

# Rows about one assignment start alike: these columns selected, and these in the file.
ABOUT_SELECTED = (
    Assignment.public_id,
    Assignment.questionnaire_key,
    Assignment.questionnaire_version,
    Assignment.respondent,
    Assignment.informant_label,
)
ABOUT_COLUMNS = (ASSIGNMENT_ID, QUESTIONNAIRE_KEY, QUESTIONNAIRE_TITLE, VERSION, RESPONDENT, RELATION)


def about(export: Export, public_id: str, key: str, version: int, respondent: str, label: str) -> tuple[FormWords, Row]:
    """The form filled in, and the start of a row (ABOUT_COLUMNS) from what ABOUT_SELECTED read."""
    form = export.form(key, version)
    return form, (public_id, key, form.title, version, respondent_words(respondent), label or None)


# --- Questionnaires ---------------------------------------------------------------------------------------


def _questionnaire_rows(session: Session, export: Export) -> Iterator[Row]:
    statement = (
        select(
            *ABOUT_SELECTED,
            Assignment.created_at,
            Assignment.opens_on,
            Assignment.due_on,
            MeasurementPlan.public_id,
            Assignment.occasion,
            Submission.status,
            Submission.started_at,
            Submission.submitted_at,
            Assignment.reminded_at,
            InformantLink.expires_at,
            InformantLink.closed_at,
        )
        .outerjoin(MeasurementPlan, col(MeasurementPlan.id) == Assignment.plan_id)
        .outerjoin(Submission, col(Submission.assignment_id) == Assignment.id)
        .outerjoin(InformantLink, col(InformantLink.assignment_id) == Assignment.id)
        .where(Assignment.registration_id == export.registration_id)
        .order_by(col(Assignment.created_at), col(Assignment.id))
    )
    for (
        *selected,
        created_at,
        opens_on,
        due_on,
        plan_id,
        occasion,
        status,
        started_at,
        submitted_at,
        reminded_at,
        link_expires,
        link_closed,
    ) in batched(session, statement):
        _form, head = about(export, *selected)
        yield (
            *head,
            export.when(created_at),
            export.day(opens_on),
            export.day(due_on),
            plan_id,
            occasion,
            status_words(status),
            export.when(started_at),
            export.when(submitted_at),
            export.when(reminded_at),
            export.when(link_expires),
            export.when(link_closed),
        )


QUESTIONNAIRES = Topic(
    N_("questionnaires"),
    N_("Questionnaires"),
    N_("Every questionnaire your therapist asked you or an informant to fill in: one row for each time."),
    (
        *ABOUT_COLUMNS,
        Column("assigned_at", N_("Asked on"), N_("When your therapist asked for it.")),
        Column("opens_on", N_("Opens on"), N_("From this day on it could be filled in; empty: at once.")),
        Column("due_on", N_("Fill in before"), N_("The date it was asked for, if there was one.")),
        PLAN_ID,
        Column("occasion", N_("Time in the plan"), N_("1 for the first time of a plan, 2 for the second, and so on.")),
        STATUS,
        Column("started_at", N_("Started on"), N_("When the first answer was given.")),
        SENT_AT,
        Column("reminded_at", N_("Reminder sent on"), N_("When a reminder e-mail named it.")),
        Column(
            "informant_link_valid_until",
            N_("Informant link valid until"),
            N_("Until when the informant's link worked."),
        ),
        Column("informant_link_closed_at", N_("Informant link closed on"), N_("When the informant's link closed.")),
    ),
    _questionnaire_rows,
)

# --- Answers ------------------------------------------------------------------------------------------------


def _answer_rows(session: Session, export: Export) -> Iterator[Row]:
    statement = (
        select(
            Submission.id,
            *ABOUT_SELECTED,
            Submission.status,
            Submission.submitted_at,
            Answer.item_id,
            Answer.value,
            Answer.updated_at,
        )
        .join(Assignment, col(Assignment.id) == Submission.assignment_id)
        .join(Answer, col(Answer.submission_id) == Submission.id)
        .where(Submission.registration_id == export.registration_id)
        .order_by(col(Submission.id), col(Answer.id))
    )
    # One submission's answers at a time (a few dozen), put in the order of the form.
    for _submission, rows in itertools.groupby(batched(session, statement), key=lambda row: row[0]):
        answers = list(rows)
        form, about_head = about(export, *answers[0][1:6])
        status, submitted_at = answers[0][6:8]
        unknown = len(form.positions)  # an item no longer in the form goes last
        answers.sort(key=lambda row: form.positions.get(row.item_id, unknown))
        head = (*about_head, status_words(status), export.when(submitted_at))
        for row in answers:
            value = json.loads(row.value)
            yield (
                *head,
                row.item_id,
                form.questions.get(row.item_id),
                value,
                form.answer(row.item_id, value),
                export.when(row.updated_at),
            )


ANSWERS = Topic(
    N_("answers"),
    N_("Answers"),
    N_(
        "Every answer, with the question as it was asked. Answers of a questionnaire that was not sent yet are "
        "included too: their status is “not sent (draft)”."
    ),
    (
        *ABOUT_COLUMNS,
        STATUS,
        SENT_AT,
        Column("question_id", N_("Question number"), N_("The number of the question in the questionnaire.")),
        Column("question", N_("Question"), N_("The text of the question.")),
        Column("value", N_("Answer (value)"), N_("The answer as the portal stores it, often a number.")),
        Column("answer", N_("Answer"), N_("The answer in words, as it was shown.")),
        Column("answered_at", N_("Answered on"), N_("When the answer was given or last changed.")),
    ),
    _answer_rows,
)

# --- Scores -------------------------------------------------------------------------------------------------


def _score_rows(session: Session, export: Export) -> Iterator[Row]:
    statement = (
        select(
            *ABOUT_SELECTED,
            Submission.submitted_at,
            Score.scale_id,
            Score.value,
            Score.band,
            Score.answered,
            Score.complete,
            Score.prorated,
        )
        .join(Submission, col(Submission.id) == Score.submission_id)
        .join(Assignment, col(Assignment.id) == Submission.assignment_id)
        .where(Score.registration_id == export.registration_id, Submission.registration_id == export.registration_id)
        .order_by(col(Submission.id), col(Score.id))
    )
    for row in batched(session, statement):
        submitted_at, scale_id, value, band_id, *counts = row[5:]
        form, head = about(export, *row[:5])
        scale = form.scales.get(scale_id)
        band = next((one for one in scale.bands if one.id == band_id), None) if scale else None
        yield (
            *head,
            export.when(submitted_at),
            scale_id,
            scale.label.get(export.lang) if scale else None,
            value,
            band_id,
            band.label.get(export.lang) if band else None,
            *counts,  # answered, complete, estimated
        )


SCORES = Topic(
    N_("scores"),
    N_("Scores"),
    N_("The scores of every questionnaire that was sent, for each scale, with the range the score falls in."),
    (
        *ABOUT_COLUMNS,
        SENT_AT,
        Column("scale_id", N_("Scale code"), N_("The short name of the scale.")),
        Column("scale", N_("Scale"), N_("What the score measures.")),
        Column("score", N_("Score"), N_("The score; empty when too many questions were skipped to count it.")),
        Column("band_id", N_("Range code"), N_("The short name of the range the score falls in.")),
        Column("band", N_("Range"), N_("The range the score falls in, for example “mild”.")),
        Column("answered", N_("Questions answered"), N_("How many questions of this scale were answered.")),
        Column("complete", N_("Complete"), N_("Whether every question of the scale was answered.")),
        Column("estimated", N_("Estimated"), N_("Whether the score was estimated from the questions answered.")),
    ),
    _score_rows,
)

# --- Alerts -------------------------------------------------------------------------------------------------


def _alert_rows(session: Session, export: Export) -> Iterator[Row]:
    statement = (
        select(
            *ABOUT_SELECTED,
            Alert.item_id,
            Alert.created_at,
            Alert.acknowledged_at,
        )
        .join(Submission, col(Submission.id) == Alert.submission_id)
        .join(Assignment, col(Assignment.id) == Submission.assignment_id)
        .where(Alert.registration_id == export.registration_id, Submission.registration_id == export.registration_id)
        .order_by(col(Alert.created_at), col(Alert.id))
    )
    for public_id, key, version, respondent, label, item_id, created_at, acknowledged_at in batched(session, statement):
        form = export.form(key, version)
        yield (
            public_id,
            key,
            form.title,
            respondent_words(respondent),
            label or None,
            item_id,
            form.questions.get(item_id),
            export.when(created_at),
            export.when(acknowledged_at),
            _("your therapist") if acknowledged_at is not None else None,
        )


ALERTS = Topic(
    N_("alerts"),
    N_("Alerts"),
    N_(
        "Some answers are sent to your therapist at once as an alert, for example about thoughts of death, so "
        "that your therapist can contact you. Here you see which answers did that, and when your therapist saw it."
    ),
    (
        ASSIGNMENT_ID,
        QUESTIONNAIRE_KEY,
        QUESTIONNAIRE_TITLE,
        RESPONDENT,
        RELATION,
        Column("question_id", N_("Question number"), N_("The number of the question in the questionnaire.")),
        Column("question", N_("Question"), N_("The text of the question.")),
        Column("raised_at", N_("Alert on"), N_("When the alert was made.")),
        Column("seen_at", N_("Seen on"), N_("When it was marked as seen; empty if not yet.")),
        Column("seen_by", N_("Seen by"), N_("Who marked it as seen.")),
    ),
    _alert_rows,
)
