"""Every route × every persona: wrong role → 404, anonymous → login, foreign object → 404, no token → 403."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlmodel import Session, select
from starlette.routing import Route
from starlette.testclient import TestClient

from rom_portal.app import Portal
from rom_portal.db import Database
from rom_portal.models import Alert, Assignment, AuthSession, InformantLink, Invitation, Registration, Respondent, User
from rom_portal.models.base import utcnow
from rom_portal.paths import resource_dir
from rom_portal.questionnaires import Catalogue, load_catalogue
from rom_portal.security.tokens import hash_code, hash_token, new_token
from rom_portal.services import plans
from rom_portal.services.assignments import assign
from rom_portal.services.audit import Actor
from rom_portal.services.client_area import practice_today
from rom_portal.services.filling import save_answers, submit
from rom_portal.web.session_middleware import anonymous_serializer
from tests.access_matrix import ANY, HALF, MATRIX, Rule
from tests.conftest import BASE_URL, People, login_as

PERSONAS = ("anonymous", "carol", "alice", "rita", "adam")
ROLE_OF = {"carol": "client", "alice": "therapist", "rita": "researcher", "adam": "admin"}


@dataclass
class Visitor:
    client: TestClient
    csrf: str


def _visitor(app: Portal, db: Database, people: People, persona: str) -> Visitor:
    client = TestClient(app, base_url=BASE_URL, raise_server_exceptions=False)
    if persona == "anonymous":
        return Visitor(client, str(anonymous_serializer(app.state.settings).dumps("anonymous")))
    token = login_as(client, db, getattr(people, persona))
    with db.session() as session:
        row = session.exec(select(AuthSession).where(AuthSession.token_hash == hash_token(token))).one()
    return Visitor(client, row.csrf_token)


@pytest.fixture
def objects(db: Database, people: People) -> dict[str, object]:
    with db.session(write=True) as session:
        invitations = {}
        for owner in (people.alice, people.bob):
            invitation = Invitation(code_hash=hash_token(new_token()), therapist_id=owner.id, expires_at=utcnow())
            session.add(invitation)
            invitations[owner.username] = invitation
        session.flush()
        catalogue = load_catalogue(resource_dir("questionnaires"))
        # Carol's practice shows her her own results (the route is 404 otherwise).
        session.get(Registration, people.carol_registration.id).results_visible = True
        carol_assignment = assign(
            session, catalogue, Actor(people.alice.id, "therapist"), people.carol_registration, "phq9"
        )
        dave_assignment = assign(
            session, catalogue, Actor(people.bob.id, "therapist"), people.dave_registration, "phq9"
        )
        # A submitted PHQ-9 with a critical answer (an alert) for each client, for the client record's routes.
        submitted = {
            name: _submitted_with_alert(session, catalogue, therapist, registration)
            for name, therapist, registration in (
                ("carol", people.alice, people.carol_registration),
                ("dave", people.bob, people.dave_registration),
            )
        }
        informant_token = new_token()
        informant_assignment = assign(
            session,
            catalogue,
            Actor(people.alice.id, "therapist"),
            people.carol_registration,
            "iqcode16",
            respondent=Respondent.informant,
            informant_label="moeder",
        )
        session.add(
            InformantLink(
                assignment_id=informant_assignment.id,
                registration_id=people.carol_registration.id,
                token_hash=hash_token(informant_token),
                code_hash=hash_code("0000-0001"),
                expires_at=utcnow() + timedelta(days=1),
            )
        )
    return {
        "carol_assignment": carol_assignment.public_id,
        "dave_assignment": dave_assignment.public_id,
        "alice_invitation": invitations["alice"].id,
        "bob_invitation": invitations["bob"].id,
        "carol_public_id": people.carol_registration.public_id,
        "dave_public_id": people.dave_registration.public_id,
        "bob_id": people.bob.id,
        "carol_id": people.carol.id,
        "informant_token": informant_token,
        "carol_submitted": submitted["carol"][0],
        "dave_submitted": submitted["dave"][0],
        "carol_alert": submitted["carol"][1],
        "dave_alert": submitted["dave"][1],
        **_plans(db, people),
    }


def _plans(db: Database, people: People) -> dict[str, object]:
    """A repeating informant plan for carol and for dave, whose first occasion is open today."""
    catalogue = load_catalogue(resource_dir("questionnaires"))
    today = practice_today("Europe/Amsterdam")
    spec = plans.PlanSpec("iqcode16", Respondent.informant, "broer", plans.Schedule(today, plans.Repeat(4, None, 2)))
    found: dict[str, object] = {}
    with db.session(write=True) as session:
        for name, therapist, registration in (
            ("carol", people.alice, people.carol_registration),
            ("dave", people.bob, people.dave_registration),
        ):
            actor = Actor(therapist.id, "therapist")
            plan = plans.create_plan(session, catalogue, actor, registration.public_id, spec, today)
            first = session.exec(select(Assignment).where(Assignment.plan_id == plan.id, Assignment.occasion == 1))
            found[f"{name}_plan"] = plan.public_id
            found[f"{name}_occasion"] = first.one().public_id
    return found


def _submitted_with_alert(
    session: Session, catalogue: Catalogue, therapist: User, registration: Registration
) -> tuple[str, int]:
    assignment = assign(session, catalogue, Actor(therapist.id, "therapist"), registration, "phq9")
    answers = {str(n): 1 for n in range(1, 11)}
    save_answers(session, catalogue, assignment, answers)
    submission = submit(session, catalogue, assignment, Actor(None, "client")).submission
    alert = session.exec(select(Alert).where(Alert.submission_id == submission.id)).one()
    return assignment.public_id, alert.id


def _path(template: str, params: dict[str, object]) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: str(params[m.group(1)]), template)


def _app_routes(app: Portal) -> dict[tuple[str, str], Route]:
    found: dict[tuple[str, str], Route] = {}
    for route in app.routes:
        if isinstance(route, Route):
            for method in (route.methods or set()) - {"HEAD"}:
                found[(method, route.path)] = route
    return found


def _allowed(rule: Rule, persona: str) -> bool:
    if rule.public:
        return True
    if persona == "anonymous":
        return False
    return bool({ANY, HALF} & rule.who) or ROLE_OF[persona] in rule.who


def _request(visitor: Visitor, method: str, path: str, form: dict[str, str], *, token: bool = True) -> int:
    data = {**form, "csrf_token": visitor.csrf} if token else dict(form)
    return visitor.client.request(method, path, data=data or None, follow_redirects=False).status_code


def test_every_route_is_in_the_matrix(app: Portal) -> None:
    routes = set(_app_routes(app))
    assert sorted(routes - set(MATRIX)) == [], "add these routes to tests/access_matrix.py"
    assert sorted(set(MATRIX) - routes) == [], "the matrix lists routes the app no longer has"


def test_endpoint_guards_agree_with_the_matrix(app: Portal) -> None:
    for key, route in _app_routes(app).items():
        rule = MATRIX[key]
        required = getattr(route.endpoint, "required_roles", None)
        if rule.public:
            assert required is None, f"{key} is public in the matrix but guarded"
            continue
        assert required is not None, f"{key} is not behind require()"
        expected = set() if rule.who & {ANY, HALF} else set(rule.who)
        assert {role.value for role in required} == expected, key


def test_wrong_roles_get_404(app: Portal, db: Database, people: People, objects: dict[str, object]) -> None:
    failures = []
    for (method, template), rule in MATRIX.items():
        if rule.public or rule.who & {ANY, HALF}:
            continue
        path = _path(template, rule.params(objects))
        for persona in PERSONAS[1:]:
            if _allowed(rule, persona):
                continue
            status = _request(_visitor(app, db, people, persona), method, path, rule.form)
            if status != 404:
                failures.append((persona, method, path, status))
    assert failures == []


def test_anonymous_visitors_are_sent_to_login_or_refused(
    app: Portal, db: Database, people: People, objects: dict[str, object]
) -> None:
    failures = []
    for (method, template), rule in MATRIX.items():
        if rule.public:
            continue
        path = _path(template, rule.params(objects))
        visitor = _visitor(app, db, people, "anonymous")
        response = visitor.client.request(
            method, path, data={"csrf_token": visitor.csrf, **rule.form}, follow_redirects=False
        )
        if method == "GET":
            ok = response.status_code == 303 and response.headers["location"].startswith("/login?next=")
        else:
            ok = response.status_code == 403
        if not ok:
            failures.append((method, path, response.status_code))
    assert failures == []


def test_unsafe_requests_without_a_token_or_from_another_site_get_403(
    app: Portal, db: Database, people: People, objects: dict[str, object]
) -> None:
    failures = []
    for (method, template), rule in MATRIX.items():
        if method == "GET":
            continue
        persona = next(p for p in PERSONAS if _allowed(rule, p))
        path = _path(template, rule.params(objects))
        visitor = _visitor(app, db, people, persona)
        if _request(visitor, method, path, rule.form, token=False) != 403:
            failures.append(("no token", persona, method, path))
        data = {**rule.form, "csrf_token": visitor.csrf}
        cross = visitor.client.request(method, path, data=data, headers={"Sec-Fetch-Site": "cross-site"})
        if cross.status_code != 403:
            failures.append(("cross-site", persona, method, path))
    assert failures == []


def test_objects_of_another_caseload_are_404(
    app: Portal, db: Database, people: People, objects: dict[str, object]
) -> None:
    failures = []
    for (method, template), rule in MATRIX.items():
        if rule.foreign is None:
            continue
        persona = next(p for p in PERSONAS[1:] if _allowed(rule, p))
        path = _path(template, rule.foreign(objects))
        status = _request(_visitor(app, db, people, persona), method, path, rule.form)
        if status != 404:
            failures.append((persona, method, path, status))
    assert failures == []


def test_allowed_personas_reach_every_page(
    app: Portal, db: Database, people: People, objects: dict[str, object]
) -> None:
    failures = []
    for (method, template), rule in MATRIX.items():
        if method != "GET":
            continue
        path = _path(template, rule.params(objects))
        for persona in PERSONAS:
            if not _allowed(rule, persona):
                continue
            status = _request(_visitor(app, db, people, persona), method, path, {})
            if status not in (200, 303):
                failures.append((persona, path, status))
    assert failures == []


def test_no_page_is_reachable_before_the_second_factor(
    app: Portal, db: Database, people: People, objects: dict[str, object]
) -> None:
    failures = []
    for (method, template), rule in MATRIX.items():
        if method != "GET" or rule.public or HALF in rule.who:
            continue
        client = TestClient(app, base_url=BASE_URL, raise_server_exceptions=False)
        login_as(client, db, people.alice, mfa_ok=False)
        response = client.get(_path(template, rule.params(objects)), follow_redirects=False)
        if response.status_code != 303 or response.headers["location"] != "/login/code":
            failures.append((template, response.status_code))
    assert failures == []


def test_disabled_users_lose_access_at_once(app: Portal, db: Database, people: People) -> None:
    visitor = _visitor(app, db, people, "alice")
    assert visitor.client.get("/therapist").status_code == 200
    with db.session(write=True) as session:
        session.get(User, people.alice.id).disabled_at = utcnow()
    assert visitor.client.get("/therapist", follow_redirects=False).status_code == 303


def test_the_data_download_holds_no_object_of_another_client(
    app: Portal, db: Database, people: People, objects: dict[str, object]
) -> None:
    """The download has no object in its path to swap: what must stay out of reach is inside the zip."""
    import io
    import zipfile

    response = _visitor(app, db, people, "carol").client.get("/client/privacy/download")
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    text = "\n".join(archive.read(name).decode("utf-8-sig") for name in archive.namelist())
    for name in ("assignment", "submitted", "public_id", "plan", "occasion"):
        assert str(objects[f"dave_{name}"]) not in text, name
        assert str(objects[f"carol_{name}"]) in text, name
