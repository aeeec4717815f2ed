"""Words for domain values, in the language of the current request."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime

from rom_portal.i18n import N_, current_language
from rom_portal.i18n import gettext as _
from rom_portal.models import Role


def role_label(role: Role | str) -> str:
    return {
        Role.client: _("Client"),
        Role.therapist: _("Therapist"),
        Role.researcher: _("Researcher"),
        Role.admin: _("Administrator"),
    }[Role(role)]


def format_when(value: datetime | None, timezone: str) -> str:
    """'23 nov. 2026 14:05' in the practice's time zone and the reader's language."""
    if value is None:
        return "–"
    return format_datetime(value, "d MMM y HH:mm", tzinfo=ZoneInfo(timezone), locale=current_language.get())


def format_day(value: date | datetime | None, timezone: str) -> str:
    if value is None:
        return "–"
    if isinstance(value, datetime):
        value = value.astimezone(ZoneInfo(timezone)).date()
    return format_date(value, "d MMMM y", locale=current_language.get())


# --- The client's access log ("who looked at my data") ------------------------------------------------------
# What an audit row means, in words for the client. Keys are (action, object_type); a few depend on the outcome
# or on who acted. Rows of an unknown kind fall back on the action alone, so a new kind of row is never hidden.

_AUDIT_WHAT: dict[tuple[str, str], str] = {
    ("read", "results"): N_("Looked at your results"),
    ("read", "report"): N_("Looked at the report of your results"),
    ("read", "submission"): N_("Looked at your answers to a questionnaire"),
    ("read", "informants"): N_("Looked at the questionnaires for informants about you"),
    ("read", "measurement_plans"): N_("Looked at the planning of your questionnaires"),
    ("read", "access_log"): N_("Looked at who looked at your information"),
    ("acknowledge", "alert"): N_("Read an alert about your answers and marked it as handled"),
    ("update", "registration_settings"): N_("Changed the settings of your registration"),
    ("create", "measurement_plan"): N_("Planned questionnaires for you"),
    ("update", "measurement_plan"): N_("Changed the planning of your questionnaires"),
    ("cancel", "measurement_plan"): N_("Stopped a planning of questionnaires"),
    ("create", "assignment"): N_("Gave you a questionnaire to fill in"),
    ("delete", "assignment"): N_("Took away a questionnaire that was not filled in yet"),
    ("create", "informant_link"): N_("Made a link for an informant to fill in a questionnaire about you"),
    ("delete", "informant_link"): N_("Replaced a link for an informant; the old link no longer works"),
    ("open", "informant_link"): N_("Opened a questionnaire about you with a link"),
    ("close", "informant_link"): N_("Closed the link after filling in"),
    ("remove", "informant_link"): N_("Asked to remove what was filled in about you"),
    ("delete", "submission"): N_("Removed answers to a questionnaire about you"),
    ("create", "reset_code"): N_("Made a code for you to set a new password"),
    ("use", "reset_code"): N_("Set a new password with a code"),
    ("send", "reminder"): N_("Sent you a reminder by e-mail"),
    ("redeem", "invitation"): N_("Used the invitation code to make an account"),
    ("create", "registration"): N_("Made your registration"),
    ("update", "consent"): N_("Withdrew permission for research"),
    ("update", "reminder_address"): N_("Changed your e-mail address for reminders"),
    ("delete", "reminder_address"): N_("Removed your e-mail address for reminders"),
    ("update", "display_name"): N_("Changed the name we call you by"),
    ("login", "account"): N_("Logged in to the portal"),
    ("logout", "account"): N_("Logged out of the portal"),
    ("second_factor", "account"): N_("Gave the code for two-step verification"),
    ("use_recovery_code", "account"): N_("Used a recovery code"),
    ("enrol_second_factor", "account"): N_("Switched on two-step verification"),
    ("new_recovery_codes", "account"): N_("Made new recovery codes"),
    ("remove_second_factor", "account"): N_("Switched off two-step verification"),
    ("change_password", "account"): N_("Changed your password"),
    ("end_sessions", "account"): N_("Logged out on other devices"),
}

# Where a failed attempt means something else than "it did not work".
_AUDIT_FAILED: dict[tuple[str, str], str] = {
    ("login", "account"): N_("Tried to log in with your username, but the password was wrong"),
    ("second_factor", "account"): N_("Gave a wrong code for two-step verification"),
    ("confirm_password", "account"): N_("Typed a wrong password to confirm"),
    ("open", "informant_link"): N_("Tried to open a questionnaire about you with a link, but the code was wrong"),
    ("use", "reset_code"): N_("Tried a code to set a new password, but it did not work"),
    ("send", "reminder"): N_("Tried to send you a reminder by e-mail, but that did not work"),
}

_CONSENT_GIVEN = {
    "research": N_("Gave permission for research"),
    "privacy_statement": N_("Agreed to the privacy statement"),
}

_AUDIT_ACTION: dict[str, str] = {
    "read": N_("Looked at your information"),
    "create": N_("Added information"),
    "update": N_("Changed information"),
    "delete": N_("Removed information"),
    "export": N_("Downloaded your information"),
}


_UNKNOWN = N_("Unknown")
_NOT_STAFF = {
    "self": N_("You"),
    "informant": N_("An informant"),
    "system": N_("The portal"),
    "anonymous": N_("Someone who was not logged in"),
}


def audit_who(who: str, name: str, role: str) -> str:
    """Who acted, for the client: "U zelf", "Jeroen de Vries (behandelaar)", "Een informant", ..."""
    if who == "staff":
        try:
            role_word = role_label(role).lower()
        except ValueError:
            role_word = role
        if name:
            return _("%(name)s (%(role)s)") % {"name": name, "role": role_word}
        return _("A staff member (%(role)s)") % {"role": role_word}
    return _(_NOT_STAFF.get(who, _UNKNOWN))


def audit_what(who: str, action: str, object_type: str, outcome: str, detail: str = "") -> tuple[str, bool]:
    """What was done, in plain words, and whether it did not succeed (for a failure not already said in words)."""
    key = (action, object_type)
    failed = outcome != "success"
    if failed and key in _AUDIT_FAILED:
        return _(_AUDIT_FAILED[key]), False
    if key == ("submit", "submission"):
        text = N_("Filled in a questionnaire about you") if who == "informant" else N_("Sent in a questionnaire")
    elif key == ("create", "consent"):
        text = _CONSENT_GIVEN.get(detail, N_("Gave permission"))
    elif action == "export":
        text = _AUDIT_ACTION["export"]
    elif key in _AUDIT_WHAT:
        text = _AUDIT_WHAT[key]
    else:
        text = _AUDIT_ACTION.get(action, N_("Another action"))
    return _(text), failed


def audit_is_known(action: str, object_type: str) -> bool:
    """Whether the row has its own words (else the page also shows its technical name)."""
    key = (action, object_type)
    return (
        key in _AUDIT_WHAT
        or key in _AUDIT_FAILED
        or key in {("submit", "submission"), ("create", "consent")}
        or action == "export"
    )
