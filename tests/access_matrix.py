"""The access-control matrix: every route of the app, who may use it, and which object is out of reach.

Each later feature adds its routes here; ``test_access_matrix.py`` fails when a route of the app is
missing, and checks every route against every persona.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

PUBLIC = "public"  # anyone, logged in or not
HALF = "half"  # any logged-in user, also before the second factor
ANY = "any"  # any fully logged-in user
CLIENT, THERAPIST, RESEARCHER, ADMIN = "client", "therapist", "researcher", "admin"

Params = Callable[[dict[str, object]], dict[str, object]]


def _none(_: dict[str, object]) -> dict[str, object]:
    return {}


@dataclass(frozen=True)
class Rule:
    who: frozenset[str]
    params: Params = _none  # path parameters of an object the allowed persona may reach
    foreign: Params | None = None  # path parameters of an object out of the allowed persona's reach: 404
    form: dict[str, str] = field(default_factory=dict)

    @property
    def public(self) -> bool:
        return PUBLIC in self.who


def rule(*who: str, params: Params = _none, foreign: Params | None = None, form: dict[str, str] | None = None) -> Rule:
    return Rule(frozenset(who), params, foreign, form or {})


# The personas' password (tests/conftest.py PERSONA_PASSWORD) and a code that is wrong
STAFF_ERASURE_FORM = {"confirm": "yes", "password": "groene fiets op de dijk", "code": "000000"}


# Objects, by name, are made by the test's fixture: alice's and bob's invitation, carol's and dave's
# registration (public id), staff and client user ids.
MATRIX: dict[tuple[str, str], Rule] = {
    ("GET", "/"): rule(PUBLIC),
    ("GET", "/healthz"): rule(PUBLIC),
    ("GET", "/privacy"): rule(PUBLIC),
    ("GET", "/login"): rule(PUBLIC),
    ("POST", "/login"): rule(PUBLIC),
    ("GET", "/register"): rule(PUBLIC),
    ("POST", "/register"): rule(PUBLIC),
    ("GET", "/reset"): rule(PUBLIC),
    ("POST", "/reset"): rule(PUBLIC),
    ("POST", "/logout"): rule(HALF),
    ("GET", "/login/code"): rule(HALF),
    ("POST", "/login/code"): rule(HALF),
    ("GET", "/login/code/setup"): rule(HALF),
    ("POST", "/login/code/setup"): rule(HALF),
    ("GET", "/account"): rule(ANY),
    ("POST", "/account/language"): rule(ANY, form={"language": "nl"}),
    ("POST", "/account/sessions/end-others"): rule(ANY),
    ("GET", "/account/password"): rule(ANY),
    ("POST", "/account/password"): rule(ANY),
    ("POST", "/account/recovery-codes"): rule(ANY),
    ("POST", "/account/code/remove"): rule(ANY),
    ("GET", "/account/reminders"): rule(CLIENT),
    ("POST", "/account/reminders"): rule(CLIENT, form={"email": "carol@example.org"}),
    ("POST", "/account/reminders/remove"): rule(CLIENT),
    ("GET", "/client"): rule(CLIENT),
    ("GET", "/client/results"): rule(CLIENT),
    # Erasure: the client's own registration (found through their login); a therapist's own clients; an admin
    # any client, named in the form. The staff POST carries the confirmation and the password (the code is wrong:
    # a missing ownership check answers 400 for the foreign client instead of 404).
    ("GET", "/client/privacy/erase"): rule(CLIENT),
    ("POST", "/client/privacy/erase"): rule(CLIENT),
    **{
        (method, "/therapist/clients/{public_id}/erase"): rule(
            THERAPIST,
            params=lambda o: {"public_id": o["carol_public_id"]},
            foreign=lambda o: {"public_id": o["dave_public_id"]},
            form=STAFF_ERASURE_FORM if method == "POST" else None,
        )
        for method in ("GET", "POST")
    },
    ("GET", "/admin/erasures"): rule(ADMIN),
    ("POST", "/admin/erasures"): rule(ADMIN, form={"username": "carol"}),
    ("POST", "/admin/erasures/erase"): rule(ADMIN, form=STAFF_ERASURE_FORM),
    # The client's privacy page: everything is their own, found through their login (no object in the path).
    ("GET", "/client/privacy"): rule(CLIENT),
    ("POST", "/client/privacy/name"): rule(CLIENT, form={"display_name": "Carol"}),
    ("POST", "/client/privacy/research"): rule(CLIENT, form={"agree": "yes"}),
    ("POST", "/client/privacy/research/withdraw"): rule(CLIENT),
    ("GET", "/client/privacy/log"): rule(CLIENT),
    # Download all my data: the zip of the logged-in client's own data (no object in the path to swap).
    ("GET", "/client/privacy/download"): rule(CLIENT),
    # Research exports: aggregates only, no object in the path (the choices are in the query).
    ("GET", "/research"): rule(RESEARCHER),
    ("GET", "/research/export.zip"): rule(RESEARCHER),
    ("GET", "/research/export.json"): rule(RESEARCHER),
    ("GET", "/therapist"): rule(THERAPIST),
    ("GET", "/therapist/invitations"): rule(THERAPIST),
    ("POST", "/therapist/invitations"): rule(THERAPIST),
    ("POST", "/therapist/invitations/{invitation_id:int}/revoke"): rule(
        THERAPIST,
        params=lambda o: {"invitation_id": o["alice_invitation"]},
        foreign=lambda o: {"invitation_id": o["bob_invitation"]},
    ),
    ("POST", "/therapist/clients/{public_id}/reset-code"): rule(
        THERAPIST,
        params=lambda o: {"public_id": o["carol_public_id"]},
        foreign=lambda o: {"public_id": o["dave_public_id"]},
    ),
    # The therapist's record of one client (results, answers, alerts, settings, report).
    **{
        ("GET", "/therapist/clients/{public_id}" + tail): rule(
            THERAPIST,
            params=lambda o: {"public_id": o["carol_public_id"]},
            foreign=lambda o: {"public_id": o["dave_public_id"]},
        )
        for tail in ("", "/report")
    },
    ("GET", "/therapist/clients/{public_id}/submissions/{assignment_id}"): rule(
        THERAPIST,
        params=lambda o: {"public_id": o["carol_public_id"], "assignment_id": o["carol_submitted"]},
        foreign=lambda o: {"public_id": o["dave_public_id"], "assignment_id": o["dave_submitted"]},
    ),
    ("POST", "/therapist/clients/{public_id}/settings"): rule(
        THERAPIST,
        params=lambda o: {"public_id": o["carol_public_id"]},
        foreign=lambda o: {"public_id": o["dave_public_id"]},
        form={"results_visible": "1", "show_name_to_informants": "1"},
    ),
    ("POST", "/therapist/alerts/{alert_id:int}/acknowledge"): rule(
        THERAPIST,
        params=lambda o: {"alert_id": o["carol_alert"]},
        foreign=lambda o: {"alert_id": o["dave_alert"]},
    ),
    ("GET", "/admin"): rule(ADMIN),
    ("POST", "/admin/users"): rule(ADMIN),
    ("GET", "/admin/users/{user_id:int}"): rule(
        ADMIN, params=lambda o: {"user_id": o["bob_id"]}, foreign=lambda o: {"user_id": o["carol_id"]}
    ),
    ("GET", "/admin/users/{user_id:int}/{action}"): rule(
        ADMIN,
        params=lambda o: {"user_id": o["bob_id"], "action": "disable"},
        foreign=lambda o: {"user_id": o["carol_id"], "action": "disable"},
    ),
    **{
        ("POST", f"/admin/users/{{user_id:int}}/{action}"): rule(
            ADMIN, params=lambda o: {"user_id": o["bob_id"]}, foreign=lambda o: {"user_id": o["carol_id"]}
        )
        for action in ("disable", "enable", "reset-password", "reset-2fa")
    },
    **{
        (method, "/client/questionnaires/{public_id}" + tail): rule(
            CLIENT,
            params=lambda o: {"public_id": o["carol_assignment"]},
            foreign=lambda o: {"public_id": o["dave_assignment"]},
            form={"item": "1", "item-1": "1"} if tail == "/answer" else None,
        )
        for method, tail in (
            ("GET", ""),
            ("POST", ""),
            ("POST", "/answer"),
            ("GET", "/review"),
            ("POST", "/submit"),
            ("GET", "/done"),
        )
    },
    # Informants (heteroanamnesis): the therapist issues; the informant's pages are public, because an informant
    # has no account: without a live informant session they only say that the link no longer works.
    ("GET", "/therapist/clients/{public_id}/informants"): rule(
        THERAPIST,
        params=lambda o: {"public_id": o["carol_public_id"]},
        foreign=lambda o: {"public_id": o["dave_public_id"]},
    ),
    ("POST", "/therapist/clients/{public_id}/informants"): rule(
        THERAPIST,
        params=lambda o: {"public_id": o["carol_public_id"]},
        foreign=lambda o: {"public_id": o["dave_public_id"]},
        form={"questionnaire": "iqcode16", "relation": "moeder"},
    ),
    # Measurement plans: each client's plans and occasions are reached through the therapist's own client only.
    ("GET", "/therapist/clients/{public_id}/plans"): rule(
        THERAPIST,
        params=lambda o: {"public_id": o["carol_public_id"]},
        foreign=lambda o: {"public_id": o["dave_public_id"]},
    ),
    ("POST", "/therapist/clients/{public_id}/plans"): rule(
        THERAPIST,
        params=lambda o: {"public_id": o["carol_public_id"]},
        foreign=lambda o: {"public_id": o["dave_public_id"]},
        form={"questionnaire": "phq9", "respondent": "self", "schedule": "once", "start": date.today().isoformat()},
    ),
    **{
        ("POST", "/therapist/clients/{public_id}/plans/{plan_id}/" + action): rule(
            THERAPIST,
            params=lambda o: {"public_id": o["carol_public_id"], "plan_id": o["carol_plan"]},
            foreign=lambda o: {"public_id": o["dave_public_id"], "plan_id": o["dave_plan"]},
            form={"interval": "4", "count": "2"} if action == "change" else None,
        )
        for action in ("change", "cancel")
    },
    ("POST", "/therapist/clients/{public_id}/plans/occasions/{occasion_id}/link"): rule(
        THERAPIST,
        params=lambda o: {"public_id": o["carol_public_id"], "occasion_id": o["carol_occasion"]},
        foreign=lambda o: {"public_id": o["dave_public_id"], "occasion_id": o["dave_occasion"]},
    ),
    ("GET", "/i/{token}"): rule(PUBLIC, params=lambda o: {"token": o["informant_token"]}),
    ("POST", "/i/{token}"): rule(PUBLIC, params=lambda o: {"token": o["informant_token"]}, form={"code": "0000-0000"}),
    ("GET", "/i/form"): rule(PUBLIC),
    ("POST", "/i/form"): rule(PUBLIC),
    ("POST", "/i/form/answer"): rule(PUBLIC, form={"item": "1", "item-1": "1"}),
    ("GET", "/i/form/review"): rule(PUBLIC),
    ("POST", "/i/form/submit"): rule(PUBLIC),
    ("GET", "/i/form/done"): rule(PUBLIC),
    ("GET", "/i/form/remove"): rule(PUBLIC),
    ("POST", "/i/form/remove"): rule(PUBLIC),
    ("GET", "/i/closed"): rule(PUBLIC),
    ("GET", "/i/removed"): rule(PUBLIC),
}
