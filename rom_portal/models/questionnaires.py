"""Questionnaires given to a client: assignments, submissions (drafts and submitted), answers, scores, alerts.

Everything hangs off the Registration with ON DELETE CASCADE, so erasing a registration removes it all.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Column, Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from rom_portal.models.base import UTCDateTime, utcnow
from rom_portal.models.clients import new_public_id


def _registration_fk() -> Column[int]:
    return Column(Integer, ForeignKey("registration.id", ondelete="CASCADE"), nullable=False, index=True)


class Respondent(enum.StrEnum):
    self = "self"  # the client
    informant = "informant"  # a parent, partner, teacher or relative, through a link


class MeasurementPlan(SQLModel, table=True):
    """A questionnaire planned for repeated measurement: every ``interval_weeks`` from ``start_on``.

    The plan's occasions are made as assignments up front (``Assignment.plan_id``), ending at ``end_on`` or after
    ``occurrences`` times. A one-off plan has no interval. Cancelling removes the occasions nobody started.
    """

    __tablename__ = "measurement_plan"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=24, unique=True, index=True)
    registration_id: int = Field(sa_column=_registration_fk())
    questionnaire_key: str = Field(max_length=64)
    respondent: Respondent = Field(
        sa_column=Column(Enum(Respondent, name="respondent", native_enum=False, length=16), nullable=False)
    )
    informant_label: str = Field(default="", max_length=60)
    start_on: date
    interval_weeks: int | None = Field(default=None)  # None: once
    end_on: date | None = Field(default=None)
    occurrences: int | None = Field(default=None)
    # How many days before its due date an occasion opens for the respondent.
    open_days_before: int = Field(default=7)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: int | None = Field(default=None)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Assignment(SQLModel, table=True):
    """One questionnaire to be filled in once, by the client or by one informant."""

    __tablename__ = "assignment"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=24, unique=True, index=True)
    registration_id: int = Field(sa_column=_registration_fk())
    questionnaire_key: str = Field(max_length=64)
    questionnaire_version: int
    respondent: Respondent = Field(
        sa_column=Column(Enum(Respondent, name="respondent", native_enum=False, length=16), nullable=False)
    )
    # For informants: the relation as the therapist wrote it ("moeder", "leerkracht").
    informant_label: str = Field(default="", max_length=60)
    due_on: date | None = Field(default=None)
    # The respondent sees it from this day on (None: at once); planned occasions open a few days before due.
    opens_on: date | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: int | None = Field(default=None)  # the therapist's user id (no FK: audit-style reference)
    plan_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            ForeignKey("measurement_plan.id", ondelete="SET NULL", name="fk_assignment_plan_id"),
            nullable=True,
            index=True,
        ),
    )
    occasion: int | None = Field(default=None)  # 1, 2, ... within its plan
    # Set (once, atomically) when a reminder e-mail named this assignment as waiting.
    reminded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SubmissionStatus(enum.StrEnum):
    draft = "draft"
    submitted = "submitted"


class Submission(SQLModel, table=True):
    """The answers to one assignment: a draft while being filled in, locked once submitted."""

    __tablename__ = "submission"
    __table_args__ = (UniqueConstraint("assignment_id", name="uq_submission_assignment"),)

    id: int | None = Field(default=None, primary_key=True)
    assignment_id: int = Field(
        sa_column=Column(Integer, ForeignKey("assignment.id", ondelete="CASCADE"), nullable=False)
    )
    registration_id: int = Field(sa_column=_registration_fk())
    status: SubmissionStatus = Field(
        default=SubmissionStatus.draft,
        sa_column=Column(
            Enum(SubmissionStatus, name="submission_status", native_enum=False, length=16), nullable=False
        ),
    )
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Where the respondent was, so they resume on that page.
    page: int = Field(default=0)


class Answer(SQLModel, table=True):
    """One answer; autosave upserts the row of its item."""

    __tablename__ = "answer"
    __table_args__ = (UniqueConstraint("submission_id", "item_id", name="uq_answer_item"),)

    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(
        sa_column=Column(Integer, ForeignKey("submission.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    item_id: str = Field(sa_column=Column(String(64), nullable=False))
    value: str = Field(sa_column=Column(Text, nullable=False))  # JSON
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Score(SQLModel, table=True):
    """A scale's score of a submitted questionnaire (None when not scorable, never 0)."""

    __tablename__ = "score"
    __table_args__ = (UniqueConstraint("submission_id", "scale_id", name="uq_score_scale"),)

    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(
        sa_column=Column(Integer, ForeignKey("submission.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    registration_id: int = Field(sa_column=_registration_fk())
    scale_id: str = Field(max_length=64)
    value: float | None = Field(default=None)
    band: str | None = Field(default=None, max_length=64)
    complete: bool = Field(default=True)
    prorated: bool = Field(default=False)
    answered: int = Field(default=0)


class Alert(SQLModel, table=True):
    """A critical answer (e.g. PHQ-9 item 9 above 0) for the therapist to see and acknowledge."""

    __tablename__ = "alert"

    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(
        sa_column=Column(Integer, ForeignKey("submission.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    registration_id: int = Field(sa_column=_registration_fk())
    item_id: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    acknowledged_by: int | None = Field(default=None)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class InformantLink(SQLModel, table=True):
    """The link and short code that let one informant fill in one assignment; stored hashed, expiring."""

    __tablename__ = "informant_link"

    id: int | None = Field(default=None, primary_key=True)
    assignment_id: int = Field(
        sa_column=Column(Integer, ForeignKey("assignment.id", ondelete="CASCADE"), nullable=False, unique=True)
    )
    registration_id: int = Field(sa_column=_registration_fk())
    token_hash: str = Field(max_length=64, unique=True, index=True)
    code_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    # Set at submission or at the informant's removal request: after that the link opens nothing.
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Reminder(SQLModel, table=True):
    """That a reminder e-mail went to a client, and when: it caps how many a client gets. No content, no address."""

    __tablename__ = "reminder"

    id: int | None = Field(default=None, primary_key=True)
    registration_id: int = Field(sa_column=_registration_fk())
    sent_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
