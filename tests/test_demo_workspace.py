"""The demo therapist's caseload tells a story: recovered, deteriorated, an open alert, informants told apart."""

from __future__ import annotations

import re

from sqlmodel import col, select
from starlette.testclient import TestClient

from rom_portal.app import Portal
from rom_portal.db import Database
from rom_portal.demo import seed_demo
from rom_portal.models import Alert, Assignment, MeasurementPlan, Registration, User
from tests.conftest import login_as


def _client_page(client: TestClient, db: Database, username: str) -> str:
    with db.session() as session:
        registration = session.exec(
            select(Registration).join(User, col(User.id) == Registration.user_id).where(User.username == username)
        ).one()
    return client.get(f"/therapist/clients/{registration.public_id}?lang=en").text


def test_the_demo_caseload_has_months_of_measurements_and_a_story(
    app: Portal, client: TestClient, db: Database
) -> None:
    with db.session(write=True) as session:
        seed_demo(session, app.state.catalogue)
    with db.session(write=True) as session:
        seed_demo(session, app.state.catalogue)  # a second start adds nothing
    with db.session() as session:
        therapist = session.exec(select(User).where(User.username == "demo-behandelaar")).one()
        registrations = session.exec(select(Registration).where(Registration.therapist_id == therapist.id)).all()
        open_alerts = session.exec(select(Alert).where(col(Alert.acknowledged_at).is_(None))).all()
        plans = session.exec(select(MeasurementPlan)).all()
        planned = session.exec(select(Assignment).where(col(Assignment.plan_id).is_not(None))).all()
    assert len(registrations) == 6 and len(open_alerts) == 1 and len(plans) == 8
    assert len(planned) == sum(plan.occurrences or 1 for plan in plans)

    login_as(client, db, therapist)
    caseload = client.get("/therapist?lang=en").text
    for name in ("Sanne", "Ahmed", "Mark", "Daan", "Els", "Lotte"):
        assert name in caseload
    assert re.search(r"Mark.*?#alerts", caseload, re.S)

    sanne = _client_page(client, db, "demo-client")
    assert "Recovered" in sanne
    ahmed = _client_page(client, db, "demo-ahmed")
    assert "Reliably deteriorated" in ahmed and "WHO-5" in ahmed
    mark = _client_page(client, db, "demo-mark")
    assert "Mark as seen" in mark or "mark as seen" in mark.lower()
    daan = _client_page(client, db, "demo-daan")
    assert "moeder" in daan and "leerkracht" in daan
    assert daan.count("<polyline") >= 2  # one line per informant
    lotte = client.get("/therapist?lang=en&q=Lotte").text
    assert "Lotte" in lotte and "Sanne" not in lotte
