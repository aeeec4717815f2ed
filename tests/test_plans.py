"""Measurement plans: due dates on the calendar, changes and cancelling that keep what was started, own clients only."""

from __future__ import annotations

import re
from datetime import date, timedelta
from itertools import pairwise

import pytest
from sqlmodel import col, select
from starlette.testclient import TestClient

from rom_portal.app import Portal
from rom_portal.db import Database
from rom_portal.models import (
    Assignment,
    AuditEvent,
    InformantLink,
    MeasurementPlan,
    Registration,
    Respondent,
    Submission,
    SubmissionStatus,
)
from rom_portal.models.base import utcnow
from rom_portal.security.tokens import hash_token
from rom_portal.services import plans
from rom_portal.services.audit import Actor
from rom_portal.services.client_area import home_of, practice_today
from rom_portal.services.filling import save_answers, submit
from rom_portal.services.plans import PlanSpec, Repeat, Schedule, due_dates, occasion_status
from tests.conftest import BASE_URL, People, csrf_of, login_as

AMSTERDAM_SPRING_FORWARD = date(2026, 3, 29)  # last Sunday of March: clocks go from 02:00 to 03:00
AMSTERDAM_FALL_BACK = date(2026, 10, 25)  # last Sunday of October: clocks go from 03:00 back to 02:00


def _browser(app: Portal) -> TestClient:
    return TestClient(app, base_url=BASE_URL, raise_server_exceptions=False)


def _path(registration: Registration) -> str:
    return f"/therapist/clients/{registration.public_id}/plans"


def _alice(people: People) -> Actor:
    return Actor(people.alice.id, "therapist", "test")


def _make(
    app: Portal,
    people: People,
    schedule: Schedule,
    *,
    made_on: date,
    key: str = "phq9",
    respondent: Respondent = Respondent.self,
    relation: str = "",
) -> str:
    """A plan for carol, made by alice on ``made_on``; returns the plan's public id."""
    spec = PlanSpec(key, respondent, relation, schedule)
    with app.state.db.session(write=True) as session:
        plan = plans.create_plan(
            session, app.state.catalogue, _alice(people), people.carol_registration.public_id, spec, made_on
        )
        return plan.public_id


def _occasions(db: Database, plan_public_id: str) -> list[Assignment]:
    with db.session() as session:
        plan = session.exec(select(MeasurementPlan).where(MeasurementPlan.public_id == plan_public_id)).one()
        return list(
            session.exec(select(Assignment).where(Assignment.plan_id == plan.id).order_by(col(Assignment.occasion)))
        )


def _start(app: Portal, assignment: Assignment, *, send: bool = False) -> None:
    """The client starts (a draft with one answer) or sends (all answers) an occasion."""
    catalogue = app.state.catalogue
    answers = {str(n): 1 for n in range(1, 10)} | {"9": 0, "10": 1} if send else {"1": 2}
    with app.state.db.session(write=True) as session:
        save_answers(session, catalogue, assignment, answers)
        if send:
            submit(session, catalogue, assignment, Actor(None, "client"))


def _errors(page: str) -> list[str]:
    return re.findall(r'<span class="error-message" id="([\w-]+)-error">([^<]+)</span>', page)


# --- Due dates on the calendar ----------------------------------------------------------------------------


def test_weekly_due_dates_keep_their_weekday_across_both_daylight_saving_changes() -> None:
    dates = due_dates(Schedule(date(2026, 3, 15), Repeat(1, end_on=date(2026, 11, 8))))
    assert dates[0] == date(2026, 3, 15) and dates[-1] == date(2026, 11, 8)
    assert AMSTERDAM_SPRING_FORWARD in dates and AMSTERDAM_FALL_BACK in dates
    assert {one.weekday() for one in dates} == {6}  # every one a Sunday
    assert {(later - earlier).days for earlier, later in pairwise(dates)} == {7}
    assert len(dates) == 35


def test_due_dates_over_month_ends_and_a_leap_february_are_whole_weeks_apart() -> None:
    every_four_weeks = Repeat(4, occurrences=3)
    assert due_dates(Schedule(date(2026, 1, 31), every_four_weeks)) == [
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 28),
    ]
    assert due_dates(Schedule(date(2028, 1, 31), every_four_weeks)) == [  # 2028 is a leap year
        date(2028, 1, 31),
        date(2028, 2, 28),
        date(2028, 3, 27),
    ]
    assert due_dates(Schedule(date(2028, 2, 22), Repeat(1, occurrences=2))) == [date(2028, 2, 22), date(2028, 2, 29)]
    # Over the year end; the end date is a last possible day, not a due date of its own.
    assert due_dates(Schedule(date(2026, 12, 20), Repeat(6, end_on=date(2027, 3, 13)))) == [
        date(2026, 12, 20),
        date(2027, 1, 31),
    ]
    assert due_dates(Schedule(date(2026, 5, 4))) == [date(2026, 5, 4)]  # once


def test_a_plan_over_the_spring_and_autumn_clock_changes_stores_calendar_dates(
    app: Portal, db: Database, people: People
) -> None:
    made_on = date(2026, 3, 20)
    plan_id = _make(app, people, Schedule(date(2026, 3, 22), Repeat(1, end_on=date(2026, 11, 1))), made_on=made_on)
    occasions = _occasions(db, plan_id)
    assert [one.occasion for one in occasions] == list(range(1, 34))
    due = {one.due_on: one for one in occasions}
    assert due[AMSTERDAM_SPRING_FORWARD].opens_on == date(2026, 3, 22)
    assert due[AMSTERDAM_FALL_BACK].opens_on == date(2026, 10, 18)
    assert occasions[0].opens_on == made_on  # due 22 March, would open 15 March: never before the plan was made
    assert all(one.respondent is Respondent.self and one.questionnaire_key == "phq9" for one in occasions)

    # The client sees the occasion due on the spring-forward Sunday from its opening day, not a day earlier.
    def listed(today: date) -> set[date | None]:
        with db.session() as session:
            return {one.due_on for one in home_of(session, app.state.catalogue, people.carol.id, today).open}

    assert AMSTERDAM_SPRING_FORWARD not in listed(date(2026, 3, 21))
    assert AMSTERDAM_SPRING_FORWARD in listed(date(2026, 3, 22))
    assert AMSTERDAM_FALL_BACK not in listed(date(2026, 10, 17))
    assert AMSTERDAM_FALL_BACK in listed(date(2026, 10, 18))


# --- Occasion status ----------------------------------------------------------------------------------------


def test_occasion_status_tells_waiting_open_overdue_and_non_response_apart() -> None:
    due, opened = date(2026, 6, 10), date(2026, 6, 3)
    draft, sent = SubmissionStatus.draft, SubmissionStatus.submitted

    def status(today: date, state: SubmissionStatus | None = None, next_due: date | None = None) -> str:
        return occasion_status(due, opened, state, next_due, today)

    assert status(date(2026, 6, 2)) == "waiting"
    assert status(date(2026, 6, 3)) == "open"
    assert status(date(2026, 6, 10), draft) == "started"
    assert status(date(2026, 6, 11)) == "overdue"
    assert status(date(2026, 6, 24), draft) == "overdue"  # 14 days past due: still overdue
    assert status(date(2026, 6, 25)) == "non_response"  # more than 14 days
    assert status(date(2026, 6, 17), next_due=date(2026, 6, 17)) == "non_response"  # the next one is due
    assert status(date(2026, 6, 16), next_due=date(2026, 6, 17)) == "overdue"
    assert status(date(2026, 7, 30), sent, next_due=date(2026, 6, 17)) == "submitted"


# --- The plans page -----------------------------------------------------------------------------------------


def test_a_therapist_plans_a_repeating_questionnaire_and_sees_its_occasions(
    app: Portal, db: Database, people: People
) -> None:
    therapist = _browser(app)
    login_as(therapist, db, people.alice)
    path = _path(people.carol_registration)
    today = practice_today(app.state.settings.timezone)
    form = {"questionnaire": "gad7", "respondent": "self", "schedule": "repeat", "start": today.isoformat()}
    response = therapist.post(
        path,
        data={"csrf_token": csrf_of(therapist, path), **form, "interval": "6", "count": "4"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == f"{path}?m=created"
    with db.session() as session:
        plan = session.exec(select(MeasurementPlan)).one()
        events = session.exec(select(AuditEvent).where(AuditEvent.object_type == "measurement_plan")).all()
    assert (plan.interval_weeks, plan.occurrences, plan.end_on, plan.created_by) == (6, 4, None, people.alice.id)
    assert [(event.action, event.registration_id) for event in events] == [("create", people.carol_registration.id)]
    occasions = _occasions(db, plan.public_id)
    assert [one.due_on for one in occasions] == [today + timedelta(weeks=6 * k) for k in range(4)]
    assert [one.opens_on for one in occasions] == [today] + [one.due_on - timedelta(days=7) for one in occasions[1:]]

    page = therapist.get(f"{path}?m=created")
    assert page.status_code == 200
    assert "Het plan is gemaakt." in page.text
    assert "Om de 6 weken, vanaf" in page.text and "4 keer in totaal" in page.text
    assert page.text.count("Nog niet open") == 3 and ">Open<" in page.text
    with db.session() as session:
        reads = session.exec(
            select(AuditEvent).where(AuditEvent.object_type == "measurement_plans", AuditEvent.action == "read")
        ).all()
    assert reads and all(event.registration_id == people.carol_registration.id for event in reads)


def test_the_caseload_links_to_each_clients_plans_page_which_starts_empty_with_the_form(
    app: Portal, db: Database, people: People
) -> None:
    therapist = _browser(app)
    login_as(therapist, db, people.alice)
    assert _path(people.carol_registration) in therapist.get("/therapist").text
    page = therapist.get(_path(people.carol_registration))
    assert page.status_code == 200 and "no-store" in page.headers["cache-control"]
    assert "Er zijn nog geen meetplannen voor Carol." in page.text
    today = practice_today(app.state.settings.timezone)
    assert f'name="start" type="date" value="{today.isoformat()}"' in page.text
    assert '<optgroup label="Vult de cliënt zelf in">' in page.text and '<option value="phq9">' in page.text


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"questionnaire": "nope"}, "questionnaire", "Kies een vragenlijst."),
        ({"questionnaire": "iqcode16"}, "respondent", "Deze vragenlijst is voor een informant."),
        ({"respondent": "informant", "questionnaire": "iqcode16"}, "relation", "Vul in wie de informant is"),
        ({"start": "2020-01-01"}, "start", "Deze datum is te lang geleden. Kies een datum vanaf"),
        ({"start": "31-02-2026"}, "start", "Vul een datum in als dag-maand-jaar"),
        ({"start": ""}, "start", "Vul een datum in."),
        ({"schedule": "repeat", "interval": "0", "count": "3"}, "interval", "Vul een heel aantal weken in"),
        ({"schedule": "repeat", "interval": "53", "count": "3"}, "interval", "van 1 tot en met 52"),
        ({"schedule": "repeat", "interval": "2"}, "until", "Vul een einddatum of een aantal keer in."),
        ({"schedule": "repeat", "interval": "2", "count": "3", "end": "2030-01-01"}, "until", "niet allebei"),
        ({"schedule": "repeat", "interval": "2", "end": "END_BEFORE"}, "end", "De einddatum ligt vóór de eerste"),
        ({"schedule": "repeat", "interval": "1", "count": "105"}, "count", "van 1 tot en met 104"),
        ({"schedule": "repeat", "interval": "1", "end": "FAR"}, "end", "meer dan 104 kan niet"),
    ],
)
def test_a_form_with_a_mistake_says_so_next_to_the_field_and_keeps_what_was_typed(
    app: Portal, db: Database, people: People, form: dict[str, str], field: str, message: str
) -> None:
    therapist = _browser(app)
    login_as(therapist, db, people.alice)
    path = _path(people.carol_registration)
    today = practice_today(app.state.settings.timezone)
    typed = {"questionnaire": "phq9", "respondent": "self", "schedule": "once", "start": today.isoformat(), **form}
    typed["end"] = typed.get("end", "").replace("END_BEFORE", (today - timedelta(days=1)).isoformat())
    typed["end"] = typed["end"].replace("FAR", (today + timedelta(weeks=110)).isoformat())
    typed["relation"] = typed.get("relation", "")
    response = therapist.post(path, data={"csrf_token": csrf_of(therapist, path), **typed})
    assert response.status_code == 400
    errors = dict(_errors(response.text))
    assert field in errors and message in errors[field], errors
    assert f'href="#{field}"' in response.text  # the summary at the top leads to the field
    for name in ("start", "interval", "end", "count"):
        if typed.get(name):
            assert f'name="{name}" type' in response.text
            assert f'value="{typed[name]}"' in response.text, name
    if typed["questionnaire"] != "nope":
        assert f'value="{typed["questionnaire"]}" selected' in response.text
    with db.session() as session:
        assert session.exec(select(MeasurementPlan)).all() == []
        assert session.exec(select(Assignment)).all() == []


def test_a_date_typed_by_hand_as_day_month_year_is_read(app: Portal, db: Database, people: People) -> None:
    therapist = _browser(app)
    login_as(therapist, db, people.alice)
    path = _path(people.carol_registration)
    day = practice_today(app.state.settings.timezone) + timedelta(days=10)
    form = {"questionnaire": "phq9", "respondent": "self", "schedule": "once", "start": day.strftime("%d-%m-%Y")}
    response = therapist.post(path, data={"csrf_token": csrf_of(therapist, path), **form}, follow_redirects=False)
    assert response.status_code == 303
    with db.session() as session:
        assignment = session.exec(select(Assignment)).one()
    assert (assignment.due_on, assignment.opens_on, assignment.occasion) == (day, day - timedelta(days=7), 1)


# --- Changing and cancelling --------------------------------------------------------------------------------


def test_changing_a_plan_keeps_started_and_sent_occasions_and_replans_the_rest(
    app: Portal, db: Database, people: People
) -> None:
    day0 = date(2026, 2, 2)
    plan_id = _make(app, people, Schedule(day0, Repeat(2, occurrences=6)), made_on=day0)
    before = _occasions(db, plan_id)
    _start(app, before[0], send=True)  # sent
    _start(app, before[2])  # started early (it is open from day0 + 21)
    today = day0 + timedelta(days=22)  # occasion 2 (due day0 + 14) is past and untouched: it stays too
    with db.session(write=True) as session:
        plans.change_plan(
            session,
            app.state.catalogue,
            _alice(people),
            people.carol_registration.public_id,
            plan_id,
            Repeat(4, occurrences=5),
            today,
        )
    after = _occasions(db, plan_id)
    kept = [before[0].public_id, before[1].public_id, before[2].public_id]
    assert [one.public_id for one in after[:3]] == kept
    assert [one.occasion for one in after] == [1, 2, 3, 4, 5]
    assert [one.due_on for one in after] == [
        day0,
        day0 + timedelta(weeks=2),
        day0 + timedelta(weeks=4),
        day0 + timedelta(weeks=8),
        day0 + timedelta(weeks=12),
    ]
    assert {one.public_id for one in before[3:]}.isdisjoint(one.public_id for one in after)
    with db.session() as session:
        plan = session.exec(select(MeasurementPlan).where(MeasurementPlan.public_id == plan_id)).one()
        drafts = session.exec(select(Submission).order_by(col(Submission.id))).all()
        actions = [
            event.action
            for event in session.exec(select(AuditEvent).where(AuditEvent.object_type == "measurement_plan"))
        ]
        deleted = session.exec(
            select(AuditEvent).where(AuditEvent.object_type == "assignment", AuditEvent.action == "delete")
        ).all()
    assert (plan.interval_weeks, plan.occurrences, plan.start_on) == (4, 5, day0)
    assert [draft.status for draft in drafts] == [SubmissionStatus.submitted, SubmissionStatus.draft]
    assert actions == ["create", "update"]
    assert len(deleted) == 3 and all(event.registration_id == people.carol_registration.id for event in deleted)


def test_a_change_to_fewer_times_than_the_occasions_that_stay_is_refused(
    app: Portal, db: Database, people: People
) -> None:
    today = practice_today(app.state.settings.timezone)
    plan_id = _make(app, people, Schedule(today - timedelta(days=21), Repeat(1, occurrences=8)), made_on=today)
    therapist = _browser(app)
    login_as(therapist, db, people.alice)
    path = _path(people.carol_registration)
    form = {"csrf_token": csrf_of(therapist, path), "interval": "1", "count": "2"}
    response = therapist.post(f"{path}/{plan_id}/change", data=form)
    assert response.status_code == 400
    errors = dict(_errors(response.text))
    prefix = f"change-{plan_id}-"
    assert "3 vragenlijsten blijven zoals ze zijn" in errors[prefix + "count"]
    assert f'href="#{prefix}count"' in response.text
    assert '<details class="plan__details" open>' in response.text  # that plan's change form, as typed
    assert f'id="{prefix}count" name="count" type="number" value="2"' in response.text
    assert len(_occasions(db, plan_id)) == 8


def test_a_change_with_an_end_date_ends_the_plan_early(app: Portal, db: Database, people: People) -> None:
    today = practice_today(app.state.settings.timezone)
    plan_id = _make(app, people, Schedule(today, Repeat(1, occurrences=10)), made_on=today)
    therapist = _browser(app)
    login_as(therapist, db, people.alice)
    path = _path(people.carol_registration)
    end = today + timedelta(days=15)
    form = {"csrf_token": csrf_of(therapist, path), "interval": "1", "end": end.isoformat()}
    response = therapist.post(f"{path}/{plan_id}/change", data=form, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"{path}?m=changed#plan-{plan_id}"
    assert [one.due_on for one in _occasions(db, plan_id)] == [today + timedelta(weeks=k) for k in range(3)]


def test_cancelling_removes_unstarted_occasions_and_keeps_started_and_sent_ones(
    app: Portal, db: Database, people: People
) -> None:
    today = practice_today(app.state.settings.timezone)
    plan_id = _make(app, people, Schedule(today - timedelta(days=14), Repeat(1, occurrences=6)), made_on=today)
    before = _occasions(db, plan_id)
    _start(app, before[0], send=True)
    _start(app, before[1])
    therapist = _browser(app)
    login_as(therapist, db, people.alice)
    path = _path(people.carol_registration)
    response = therapist.post(
        f"{path}/{plan_id}/cancel", data={"csrf_token": csrf_of(therapist, path)}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == f"{path}?m=cancelled"
    after = _occasions(db, plan_id)
    assert [one.public_id for one in after] == [before[0].public_id, before[1].public_id]
    with db.session() as session:
        plan = session.exec(select(MeasurementPlan).where(MeasurementPlan.public_id == plan_id)).one()
        cancelled = session.exec(
            select(AuditEvent).where(AuditEvent.object_type == "measurement_plan", AuditEvent.action == "cancel")
        ).one()
    assert plan.cancelled_at is not None and cancelled.registration_id == people.carol_registration.id
    page = therapist.get(f"{path}?m=cancelled").text
    assert "Het plan is gestopt." in page and "Gestopt" in page
    assert f"{plan_id}/change" not in page and f"{plan_id}/cancel" not in page

    again = therapist.post(f"{path}/{plan_id}/cancel", data={"csrf_token": csrf_of(therapist, path)})
    assert again.status_code == 200 and "Dit plan was al gestopt." in again.text
    change = therapist.post(
        f"{path}/{plan_id}/change", data={"csrf_token": csrf_of(therapist, path), "interval": "1", "count": "9"}
    )
    assert change.status_code == 200 and "Dit plan was al gestopt." in change.text
    assert len(_occasions(db, plan_id)) == 2


# --- Own clients only ---------------------------------------------------------------------------------------


def test_a_therapist_never_reaches_another_therapists_client_plans(app: Portal, db: Database, people: People) -> None:
    today = practice_today(app.state.settings.timezone)
    carol_plan = _make(app, people, Schedule(today, Repeat(1, occurrences=3)), made_on=today)
    informant_plan = _make(
        app, people, Schedule(today), made_on=today, key="iqcode16", respondent=Respondent.informant, relation="zus"
    )
    occasion = _occasions(db, informant_plan)[0].public_id
    bob = _browser(app)
    login_as(bob, db, people.bob)
    token = csrf_of(bob, "/therapist")
    carol = _path(people.carol_registration)
    dave = _path(people.dave_registration)
    form = {"questionnaire": "phq9", "respondent": "self", "schedule": "once", "start": today.isoformat()}
    assert bob.get(carol).status_code == 404
    for path, data in (
        (carol, form),
        (f"{carol}/{carol_plan}/change", {"interval": "2", "count": "2"}),
        (f"{carol}/{carol_plan}/cancel", {}),
        (f"{carol}/occasions/{occasion}/link", {}),
        # bob's own client with alice's plan and occasion: still not found
        (f"{dave}/{carol_plan}/change", {"interval": "2", "count": "2"}),
        (f"{dave}/{carol_plan}/cancel", {}),
        (f"{dave}/occasions/{occasion}/link", {}),
    ):
        assert bob.post(path, data={"csrf_token": token, **data}).status_code == 404, path
    with db.session() as session:
        assert len(session.exec(select(MeasurementPlan)).all()) == 2
        assert all(plan.cancelled_at is None for plan in session.exec(select(MeasurementPlan)))
        assert len(session.exec(select(Assignment)).all()) == 4
        assert session.exec(select(InformantLink)).all() == []
    assert carol_plan not in bob.get(dave).text


# --- The client's side --------------------------------------------------------------------------------------


def test_an_occasion_not_open_yet_is_not_on_the_client_home_and_cannot_be_filled_in(
    app: Portal, db: Database, people: People
) -> None:
    today = practice_today(app.state.settings.timezone)
    later = _make(app, people, Schedule(today + timedelta(days=20)), made_on=today)
    soon = _make(app, people, Schedule(today + timedelta(days=3)), made_on=today)
    hidden, shown = _occasions(db, later)[0], _occasions(db, soon)[0]
    assert hidden.opens_on == today + timedelta(days=13) and shown.opens_on == today
    client = _browser(app)
    login_as(client, db, people.carol)
    home = client.get("/client").text
    assert f"/client/questionnaires/{shown.public_id}" in home
    assert hidden.public_id not in home
    # Needs the opens_on condition in services/filling.client_assignment.
    assert client.get(f"/client/questionnaires/{hidden.public_id}").status_code == 404
    assert client.get(f"/client/questionnaires/{shown.public_id}").status_code == 200


# --- Informants per occasion --------------------------------------------------------------------------------


def test_an_informant_link_is_issued_for_an_open_planned_occasion_and_replaced_on_request(
    app: Portal, db: Database, people: People
) -> None:
    today = practice_today(app.state.settings.timezone)
    plan_id = _make(
        app,
        people,
        Schedule(today, Repeat(4, occurrences=2)),
        made_on=today,
        key="iqcode16",
        respondent=Respondent.informant,
        relation="zus",
    )
    first, second = _occasions(db, plan_id)
    assert (first.respondent, first.informant_label) == (Respondent.informant, "zus")
    therapist = _browser(app)
    login_as(therapist, db, people.alice)
    path = _path(people.carol_registration)
    page = therapist.get(path).text
    assert f"{path}/occasions/{first.public_id}/link" in page
    assert f"{path}/occasions/{second.public_id}/link" not in page  # not open yet

    issued = therapist.post(f"{path}/occasions/{first.public_id}/link", data={"csrf_token": csrf_of(therapist, path)})
    assert issued.status_code == 200 and "no-store" in issued.headers["cache-control"]
    token = re.search(r"https://testserver/i/([A-Za-z0-9_-]+)<", issued.text)
    code = re.search(r'class="letter__value code-display">([0-9A-Z]{4}-[0-9A-Z]{4})<', issued.text)
    assert token and code and "Terug naar de meetplannen van Carol" in issued.text
    with db.session() as session:
        link = session.exec(select(InformantLink)).one()
    assert link.assignment_id == first.id and link.token_hash == hash_token(token.group(1))

    informant = _browser(app)
    opened = informant.post(
        f"/i/{token.group(1)}",
        data={"csrf_token": csrf_of(informant, f"/i/{token.group(1)}"), "code": code.group(1)},
        follow_redirects=False,
    )
    assert opened.status_code == 303 and opened.headers["location"] == "/i/form"
    assert informant.get("/i/form").status_code == 200

    # A new link for the same occasion: the old one (and the session opened with it) stops working.
    again = therapist.post(f"{path}/occasions/{first.public_id}/link", data={"csrf_token": csrf_of(therapist, path)})
    assert again.status_code == 200
    assert informant.get("/i/form", follow_redirects=False).headers["location"] == "/i/closed"
    with db.session() as session:
        links = session.exec(select(InformantLink)).all()
        actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.object_type == "informant_link"))]
    assert len(links) == 1 and links[0].token_hash != hash_token(token.group(1))
    assert actions == ["create", "open", "delete", "create"]
    not_open = therapist.post(
        f"{path}/occasions/{second.public_id}/link", data={"csrf_token": csrf_of(therapist, path)}
    )
    assert not_open.status_code == 404


def test_an_occasion_with_an_informant_link_stays_at_a_change_and_its_link_goes_when_the_plan_is_cancelled(
    app: Portal, db: Database, people: People
) -> None:
    today = practice_today(app.state.settings.timezone)
    plan_id = _make(
        app,
        people,
        Schedule(today, Repeat(2, occurrences=3)),
        made_on=today,
        key="psc17",
        respondent=Respondent.informant,
        relation="vader",
    )
    first = _occasions(db, plan_id)[0]
    therapist = _browser(app)
    login_as(therapist, db, people.alice)
    path = _path(people.carol_registration)
    issued = therapist.post(f"{path}/occasions/{first.public_id}/link", data={"csrf_token": csrf_of(therapist, path)})
    token = re.search(r"https://testserver/i/([A-Za-z0-9_-]+)<", issued.text)
    assert issued.status_code == 200 and token

    # Due today and not started, but the father has a letter with its link: it stays as it is.
    form = {"csrf_token": csrf_of(therapist, path), "interval": "4", "count": "2"}
    assert therapist.post(f"{path}/{plan_id}/change", data=form, follow_redirects=False).status_code == 303
    after = _occasions(db, plan_id)
    assert [(one.public_id, one.due_on) for one in after] == [
        (first.public_id, today),
        (after[1].public_id, today + timedelta(weeks=4)),
    ]

    # Cancelled before anyone opened it: the occasion goes, and with it the link.
    cancel = therapist.post(f"{path}/{plan_id}/cancel", data={"csrf_token": csrf_of(therapist, path)})
    assert cancel.status_code == 200 and _occasions(db, plan_id) == []
    with db.session() as session:
        assert session.exec(select(InformantLink)).all() == []


# --- Occasions closed as non-response -----------------------------------------------------------------------


def test_missed_occasions_close_as_non_response_for_the_client_the_caseload_and_reminders(
    app: Portal, client: TestClient, db: Database, people: People
) -> None:
    """Weekly from four weeks ago: the past occasions not sent are non-response and no longer offered."""
    from rom_portal.services import caseload, reminders
    from rom_portal.services.assignments import assign

    today = practice_today(app.state.settings.timezone)
    plan_id = _make(app, people, Schedule(today - timedelta(days=28), Repeat(1, occurrences=6)), made_on=today)
    occasions = _occasions(db, plan_id)
    assert [one.due_on for one in occasions] == [today + timedelta(days=7 * k - 28) for k in range(6)]
    _start(app, occasions[0], send=True)  # the first was sent, late: it stays among the completed
    _start(app, occasions[2])  # the third was started and left: closed all the same
    with db.session(write=True) as session:
        # Given once, outside a plan: stays open however late.
        long_ago = today - timedelta(days=30)
        once = assign(session, app.state.catalogue, _alice(people), people.carol_registration, "gad7", due_on=long_ago)
        people.carol_registration.reminder_email = "carol@example.org"
        session.add(people.carol_registration)

    with db.session() as session:
        home = home_of(session, app.state.catalogue, people.carol.id, today)
        listing = plans.plans_of(session, _alice(people), people.carol_registration.public_id, today)
    with db.session() as session:
        rows = caseload.caseload_of(session, _alice(people), today).rows
    with db.session() as session:
        waiting = reminders.due(session, today, utcnow(), 4)
    # Today's occasion and next week's (it opens a week ahead) are offered; the missed ones are not.
    offered = [occasions[4].public_id, occasions[5].public_id, once.public_id]
    assert sorted(one.public_id for one in home.open) == sorted(offered)
    assert len(home.completed) == 1
    statuses = [one.status for one in listing.plans[0].occasions]
    assert statuses[:4] == ["submitted", "non_response", "non_response", "non_response"]
    assert statuses[4] in ("open", "started")
    carol = next(row for row in rows if row.public_id == people.carol_registration.public_id)
    assert carol.overdue == 1  # the GAD-7 given once; not the three missed occasions
    reminded = sorted(one for entry in waiting.clients for one in entry.assignment_ids)
    assert reminded == sorted([occasions[4].id, occasions[5].id, once.id])

    login_as(client, db, people.carol)
    for missed in occasions[1:4]:
        assert client.get(f"/client/questionnaires/{missed.public_id}").status_code == 404
    assert client.get(f"/client/questionnaires/{occasions[0].public_id}/done").status_code == 200
    assert client.get(f"/client/questionnaires/{occasions[4].public_id}").status_code == 200
