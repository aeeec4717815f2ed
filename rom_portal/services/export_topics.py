"""The files of a client's data download: what each holds, its columns, and the query behind it.

A topic gives one JSON and one CSV file with the same columns: the JSON keys are fixed English names (for
computers), the CSV headers and every explanation are in the client's language. Each ``rows`` function yields the
values of one row at a time, read in batches, and selects by the client's own registration or user id only.
This module has the client's account and the log; ``export_answers`` has questionnaires, answers and scores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import aliased
from sqlmodel import Session, and_, col, or_, select

from rom_portal.i18n import LANGUAGE_NAMES, N_
from rom_portal.i18n import gettext as _
from rom_portal.labels import role_label
from rom_portal.models import AuditEvent, AuthSession, Consent, MeasurementPlan, Registration, Reminder, Role, User
from rom_portal.questionnaires import Catalogue, Questionnaire, Scale

BATCH = 500  # rows fetched from the database at a time
Row = tuple[Any, ...]


@dataclass(frozen=True)
class FormWords:
    """One version of a questionnaire in the reader's words, looked up once per export rather than per answer."""

    title: str
    questions: dict[str, str]  # item id -> the question's text
    positions: dict[str, int]  # item id -> place in the form
    choices: dict[str, dict[Any, str]]  # item id -> option value -> its label (choice questions only)
    scales: dict[str, Scale]

    @classmethod
    def of(cls, definition: Questionnaire | None, key: str, lang: str) -> FormWords:
        if definition is None:  # taken out of the catalogue: the stored values still go into the export
            return cls(key, {}, {}, {}, {})
        items = [item for item in definition.items if item.type != "instruction"]
        return cls(
            title=definition.title.get(lang),
            questions={item.id: item.text.get(lang) for item in items},
            positions={item.id: place for place, item in enumerate(definition.items)},
            choices={
                item.id: {option.value: option.label.get(lang) for option in options}
                for item in items
                if (options := getattr(item, "options", None)) is not None
            },
            scales={scale.id: scale for scale in definition.scales},
        )

    def answer(self, item_id: str, value: Any) -> str:
        """The answer in words: the option's label for a choice, the value itself otherwise."""
        labels = self.choices.get(item_id)
        if labels is None:
            return str(value)
        if isinstance(value, list):
            return ", ".join(labels.get(one, str(one)) for one in value)
        return labels.get(value, str(value))


@dataclass
class Export:
    """Whose data, and how to put it into words: the client's language and the practice's time zone."""

    registration_id: int
    user_id: int
    catalogue: Catalogue
    lang: str
    zone: ZoneInfo
    default_language: str
    _forms: dict[tuple[str, int], FormWords] = field(default_factory=dict)

    def when(self, moment: datetime | None) -> str | None:
        """A moment in the practice's time zone with its offset from UTC: readable, and exact for a computer."""
        if moment is None:
            return None
        return moment.astimezone(self.zone).replace(microsecond=0).isoformat()

    @staticmethod
    def day(value: date | None) -> str | None:
        return value.isoformat() if value is not None else None

    def form(self, key: str, version: int) -> FormWords:
        """The version that was filled in; the latest when that one left the catalogue; just the key when all did."""
        found = self._forms.get((key, version))
        if found is None:
            try:
                definition: Questionnaire | None = self.catalogue.get_version(key, version)
            except KeyError:
                definition = self.catalogue.get(key)
            found = self._forms[(key, version)] = FormWords.of(definition, key, self.lang)
        return found


@dataclass(frozen=True)
class Column:
    key: str  # the JSON key
    header: str  # message id of the CSV header
    meaning: str  # message id of its explanation in the README


@dataclass(frozen=True)
class Topic:
    stem: str  # message id of the file name without extension ("answers": antwoorden.json, antwoorden.csv)
    title: str  # message id
    about: str  # message id: what the file holds, for the README
    columns: tuple[Column, ...]
    rows: Callable[[Session, Export], Iterator[Row]]
    one_row: bool = False  # the profile: one JSON object rather than a list

    def headers(self) -> list[str]:
        return [_(column.header) for column in self.columns]


def batched(session: Session, statement: Any) -> Iterator[Any]:
    """Rows of ``statement`` fetched ``BATCH`` at a time (a server-side cursor on PostgreSQL)."""
    yield from session.exec(statement, execution_options={"yield_per": BATCH})


RESPONDENT_WORDS = {"self": N_("you"), "informant": N_("an informant")}


def respondent_words(respondent: str) -> str:
    return _(RESPONDENT_WORDS.get(str(respondent), str(respondent)))


# --- Profile ----------------------------------------------------------------------------------------------

SEX_WORDS = {"female": N_("female"), "male": N_("male")}


def _profile_rows(session: Session, export: Export) -> Iterator[Row]:
    therapist = aliased(User)
    found = session.exec(
        select(Registration, User, therapist.display_name)
        .join(User, col(User.id) == Registration.user_id)
        .join(therapist, col(therapist.id) == Registration.therapist_id)
        .where(Registration.id == export.registration_id, Registration.user_id == export.user_id)
    ).one()
    registration, user, therapist_name = found
    language = user.locale or export.default_language
    sex = registration.sex
    yield (
        registration.public_id,
        user.username,
        user.display_name,
        LANGUAGE_NAMES.get(language, language),
        export.when(registration.created_at),
        registration.birth_year,
        _(SEX_WORDS[sex]) if sex in SEX_WORDS else sex,
        therapist_name or _("your therapist"),  # never a staff member's login name
        registration.results_visible,
        registration.show_name_to_informants,
        registration.reminder_email,
        user.totp_secret is not None,
        export.when(user.password_changed_at),
    )


PROFILE = Topic(
    N_("profile"),
    N_("Your account and registration"),
    N_("Who you are in the portal, and the settings of your registration. One row."),
    (
        Column("registration_code", N_("Registration code"), N_("A random code for your registration.")),
        Column("username", N_("Username"), N_("The name you log in with.")),
        Column("name", N_("Name"), N_("The name the portal calls you by.")),
        Column("language", N_("Language"), N_("The language of the portal for you.")),
        Column("registered_at", N_("Registered on"), N_("When you registered.")),
        Column("birth_year", N_("Year of birth"), N_("Only if it was filled in.")),
        Column("sex", N_("Sex"), N_("Only if it was filled in.")),
        Column("therapist", N_("Therapist"), N_("The name of your therapist.")),
        Column("results_visible", N_("You see your results"), N_("Whether you see your own scores in the portal.")),
        Column(
            "name_shown_to_informants",
            N_("Informants see your name"),
            N_("Whether people who fill in a questionnaire about you see your name."),
        ),
        Column("reminder_email", N_("E-mail address for reminders"), N_("Only if you gave one.")),
        Column("two_step_login", N_("Two-step verification"), N_("Whether you log in with a code from an app.")),
        Column("password_changed_at", N_("Password changed on"), N_("When your password was last set.")),
    ),
    _profile_rows,
    one_row=True,
)

# --- Consents ---------------------------------------------------------------------------------------------

CONSENT_WORDS = {"privacy_statement": N_("privacy statement"), "research": N_("research")}


def _consent_rows(session: Session, export: Export) -> Iterator[Row]:
    for consent in batched(
        session, select(Consent).where(Consent.registration_id == export.registration_id).order_by(col(Consent.id))
    ):
        kind = str(consent.kind)
        yield (
            _(CONSENT_WORDS[kind]) if kind in CONSENT_WORDS else kind,
            consent.statement_version,
            export.when(consent.given_at),
            export.when(consent.withdrawn_at),
        )


CONSENTS = Topic(
    N_("consents"),
    N_("Your consents"),
    N_("What you agreed to: the privacy statement, and research if you chose to take part."),
    (
        Column("kind", N_("Consent for"), N_("The privacy statement, or research.")),
        Column("statement_version", N_("Version of the text"), N_("The version of the text you agreed to.")),
        Column("given_at", N_("Given on"), N_("When you agreed.")),
        Column("withdrawn_at", N_("Withdrawn on"), N_("When you took it back; empty if you did not.")),
    ),
    _consent_rows,
)

# --- Measurement plans -------------------------------------------------------------------------------------


def _plan_rows(session: Session, export: Export) -> Iterator[Row]:
    statement = (
        select(MeasurementPlan)
        .where(MeasurementPlan.registration_id == export.registration_id)
        .order_by(col(MeasurementPlan.id))
    )
    for plan in batched(session, statement):
        latest = export.catalogue.get(plan.questionnaire_key)  # a plan assigns the latest version each time
        yield (
            plan.public_id,
            plan.questionnaire_key,
            latest.title.get(export.lang) if latest else plan.questionnaire_key,
            respondent_words(plan.respondent),
            plan.informant_label or None,
            export.day(plan.start_on),
            plan.interval_weeks,
            export.day(plan.end_on),
            plan.occurrences,
            plan.open_days_before,
            export.when(plan.created_at),
            export.when(plan.cancelled_at),
        )


PLAN_ID = Column("plan_code", N_("Plan code"), N_("A random code for the plan."))
QUESTIONNAIRE_KEY = Column("questionnaire_key", N_("Short name"), N_("The short name of the questionnaire."))
QUESTIONNAIRE_TITLE = Column("questionnaire", N_("Questionnaire"), N_("The name of the questionnaire."))
RESPONDENT = Column("filled_in_by", N_("Filled in by"), N_("You, or an informant: someone who knows you."))
RELATION = Column("informant_relation", N_("Informant"), N_("Who the informant is to you, as your therapist wrote it."))

PLANS = Topic(
    N_("measurement-plans"),
    N_("Measurement plans"),
    N_("Questionnaires your therapist planned to come back, for example every 4 weeks."),
    (
        PLAN_ID,
        QUESTIONNAIRE_KEY,
        QUESTIONNAIRE_TITLE,
        RESPONDENT,
        RELATION,
        Column("starts_on", N_("First date"), N_("The date of the first time.")),
        Column("every_weeks", N_("Every how many weeks"), N_("Empty if it is only once.")),
        Column("ends_on", N_("Until"), N_("The last possible date, if there is one.")),
        Column("times", N_("Number of times"), N_("How many times, if that was set.")),
        Column("opens_days_before", N_("Opens days before"), N_("How many days before its date it can be filled in.")),
        Column("made_at", N_("Made on"), N_("When the plan was made.")),
        Column("cancelled_at", N_("Stopped on"), N_("When the plan was stopped; empty if it still runs.")),
    ),
    _plan_rows,
)

# --- Reminders and logins ------------------------------------------------------------------------------------


def _reminder_rows(session: Session, export: Export) -> Iterator[Row]:
    statement = select(Reminder.sent_at).where(Reminder.registration_id == export.registration_id)
    for sent_at in batched(session, statement.order_by(col(Reminder.id))):
        yield (export.when(sent_at),)


REMINDERS = Topic(
    N_("reminders"),
    N_("Reminder e-mails"),
    N_("When the portal e-mailed you that a questionnaire was waiting. The e-mails themselves are not kept."),
    (Column("sent_at", N_("Sent on"), N_("When the e-mail was sent.")),),
    _reminder_rows,
)


def _login_rows(session: Session, export: Export) -> Iterator[Row]:
    statement = (
        select(AuthSession.created_at, AuthSession.last_seen_at, AuthSession.device)
        .where(AuthSession.user_id == export.user_id)
        .order_by(col(AuthSession.id))
    )
    for created_at, last_seen_at, device in batched(session, statement):
        yield (export.when(created_at), export.when(last_seen_at), device or None)


LOGINS = Topic(
    N_("logins"),
    N_("Where you are logged in"),
    N_("Your logins that have not ended yet. The portal ends a login after a while without activity."),
    (
        Column("started_at", N_("Logged in on"), N_("When you logged in.")),
        Column("last_active_at", N_("Last active"), N_("When you last did something in this login.")),
        Column("device", N_("Device"), N_("The browser and system, roughly.")),
    ),
    _login_rows,
)

# --- Who looked at your data ------------------------------------------------------------------------------------

STAFF_ROLES = frozenset(role.value for role in Role if role.is_staff)
OTHER_ACTORS = {
    "informant": N_("an informant"),
    "system": N_("the portal itself"),
    "anonymous": N_("someone who was not logged in"),
}
SOMEONE = N_("someone")  # an actor the log does not say more about


def _who(role: str, actor_user_id: int | None, name: str | None, export: Export, failed_login: bool) -> str:
    if failed_login:
        return _("someone who tried to log in with your username")
    if role == Role.client.value and actor_user_id in (None, export.user_id):
        return _("you")
    if role in STAFF_ROLES:
        return name or _("a staff member whose account was removed")
    return _(OTHER_ACTORS.get(role, SOMEONE))


def _role(role: str) -> str:
    if role in (*STAFF_ROLES, Role.client.value):
        return role_label(role)
    return _(OTHER_ACTORS[role]) if role in OTHER_ACTORS else role


def _access_rows(session: Session, export: Export) -> Iterator[Row]:
    # Rows about the registration, and what the client did without one in the row (logging in). A row that
    # names another registration is never theirs, whoever acted.
    about_them = or_(
        col(AuditEvent.registration_id) == export.registration_id,
        and_(col(AuditEvent.actor_user_id) == export.user_id, col(AuditEvent.registration_id).is_(None)),
    )
    statement = (
        select(
            AuditEvent.at,
            AuditEvent.actor_role,
            AuditEvent.actor_user_id,
            User.display_name,
            AuditEvent.action,
            AuditEvent.object_type,
            AuditEvent.object_id,
            AuditEvent.outcome,
            AuditEvent.access_point,
        )
        .outerjoin(User, col(User.id) == AuditEvent.actor_user_id)
        .where(about_them)
        .order_by(col(AuditEvent.at), col(AuditEvent.id))
    )
    for at, role, actor_user_id, name, action, object_type, object_id, outcome, access_point in batched(
        session, statement
    ):
        failed_login = action == "login" and outcome != "success"
        shown_name = name if role in STAFF_ROLES else None
        yield (
            export.when(at),
            _who(role, actor_user_id, shown_name, export, failed_login),
            _role(role),
            action,
            object_type,
            object_id or None,
            outcome,
            access_point,
        )


ACCESS_LOG = Topic(
    N_("access-log"),
    N_("Who looked at or changed your data"),
    N_(
        "The portal's log of every time someone looked at, made, changed or removed something of yours, you "
        "included. The log never holds your answers. Actions are written as the log stores them: read = looked "
        "at, create = made, update = changed, delete or remove = removed, submit = sent in, export = downloaded, "
        "login and logout = logged in and out, acknowledge = marked an alert as seen."
    ),
    (
        Column("at", N_("When"), N_("The date and time.")),
        Column("who", N_("Who"), N_("The name of the staff member, or who else it was.")),
        Column("role", N_("Role"), N_("Their role in the portal.")),
        Column("action", N_("Action"), N_("What they did.")),
        Column("object", N_("What"), N_("What it was about, for example results or submission.")),
        Column("object_id", N_("Number"), N_("The portal's own number of that thing.")),
        Column("outcome", N_("Outcome"), N_("success, failure or denied.")),
        Column("access_point", N_("Where"), N_("The page or command it happened through.")),
    ),
    _access_rows,
)
