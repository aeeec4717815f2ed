"""Research exports against a real database (SQLite and PostgreSQL): who is counted, what is published, and that
nothing about one client can be read from the figures."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import timedelta

import pytest
from sqlmodel import select

from rom_portal.db import Database
from rom_portal.models import AuditEvent, Consent, Registration
from rom_portal.models.base import utcnow
from rom_portal.services.audit import Actor
from rom_portal.services.erasure import erase_registration
from rom_portal.services.research.export import (
    ALL,
    CHANGE,
    DISTRIBUTION,
    Cell,
    ResearchExport,
    Row,
    Table,
    compute_export,
    record_export,
)
from rom_portal.services.research.files import csv_zip_bytes, figures_csv, json_bytes
from rom_portal.services.research.request import WEEK_PERIODS, ExportRequest, Occasions, parse_request
from tests.conftest import People
from tests.research_cohort import Person, add_client, add_measurement

K = 10
COUNTS = {"n", "pairs", "recovered", "reliably_improved", "no_reliable_change", "reliably_deteriorated"}


def _export(db: Database, catalogue, request: ExportRequest, k: int = K) -> ResearchExport:  # type: ignore[no-untyped-def]
    with db.session() as session:
        return compute_export(session, catalogue, request, k=k, timezone="Europe/Amsterdam")


def _cohort(db: Database, catalogue, therapist_id: int, people: list[Person], prefix: str = "c") -> list[int]:  # type: ignore[no-untyped-def]
    with db.session(write=True) as session:
        return [
            add_client(session, catalogue, therapist_id, person, f"{prefix}{index}").id
            for index, person in enumerate(people)
        ]


def _row(export: ResearchExport, kind: str, occasion: str, age=ALL, sex=ALL, respondent=ALL) -> dict:  # type: ignore[no-untyped-def]
    for table in export.tables:
        if table.kind != kind:
            continue
        for row in table.rows:
            if (row.occasion, row.age_band, row.sex, row.respondent) == (occasion, age, sex, respondent):
                return {name: cell.value for name, cell in zip(table.statistics, row.cells, strict=True)} | {
                    "_suppressed": {
                        name for name, cell in zip(table.statistics, row.cells, strict=True) if cell.suppressed
                    }
                }
    raise AssertionError(f"no row {kind} {occasion} {age} {sex} {respondent}")


PHQ9 = ExportRequest(("phq9",), Occasions(first=True, last=True))


def test_only_consenting_clients_count_and_the_figures_are_right(app, db: Database, people: People) -> None:
    catalogue = app.state.catalogue
    consenting = [Person(totals=(t, max(0, t - 4))) for t in range(1, 25)]  # 24 clients, first totals 1..24
    _cohort(db, catalogue, people.alice.id, consenting)
    _cohort(db, catalogue, people.bob.id, [Person(consent=False, totals=(27, 27))] * 5, prefix="n")
    export = _export(db, catalogue, PHQ9)
    first = _row(export, DISTRIBUTION, "first")
    assert first["n"] == 24
    assert first["mean"] == 12.5 and first["median"] == 12.5
    assert first["q1"] == 6.75 and first["q3"] == 18.25
    assert first["sd"] == pytest.approx(7.07, abs=0.005)
    last = _row(export, DISTRIBUTION, "last")
    assert last["mean"] == 8.75
    change = _row(export, CHANGE, "first_to_last")
    assert change["pairs"] == 24 and change["mean_change"] == -3.75
    assert change["no_reliable_change"] == 24  # 4 points is below PHQ-9's threshold of 6
    # Below 2k clients the median and quartiles are (nearly) one person's score: only mean and sd are shown.
    small = _row(_export(db, catalogue, PHQ9, k=13), DISTRIBUTION, "first")
    assert small["n"] == 24 and small["mean"] == 12.5 and {"median", "q1", "q3"} <= small["_suppressed"]
    assert "min" not in first and "max" not in first


def test_withdrawn_consent_and_erasure_take_a_client_out_of_later_exports(app, db: Database, people: People) -> None:
    catalogue = app.state.catalogue
    ids = _cohort(db, catalogue, people.alice.id, [Person(totals=(12, 6))] * 12)
    assert _row(_export(db, catalogue, PHQ9), DISTRIBUTION, "first")["n"] == 12
    with db.session(write=True) as session:
        consent = session.exec(select(Consent).where(Consent.registration_id == ids[0])).one()
        consent.withdrawn_at = utcnow()
        session.add(consent)
    assert _row(_export(db, catalogue, PHQ9), DISTRIBUTION, "first")["n"] == 11
    with db.session(write=True) as session:
        erase_registration(session, Actor.system("test"), session.get(Registration, ids[1]), None)
    assert _row(_export(db, catalogue, PHQ9), DISTRIBUTION, "first")["n"] == 10
    with db.session(write=True) as session:
        erase_registration(session, Actor.system("test"), session.get(Registration, ids[2]), None)
    first = _row(_export(db, catalogue, PHQ9), DISTRIBUTION, "first")
    assert first["n"] is None and "mean" in first["_suppressed"]  # nine clients: below k


def test_a_count_below_k_is_suppressed_with_everything_that_rests_on_it(app, db: Database, people: People) -> None:
    catalogue = app.state.catalogue
    _cohort(db, catalogue, people.alice.id, [Person(totals=(12, 6))] * 9)
    first = _row(_export(db, catalogue, PHQ9), DISTRIBUTION, "first")
    assert first["n"] is None and {"n", "mean", "sd", "median", "q1", "q3"} <= first["_suppressed"]
    _cohort(db, catalogue, people.alice.id, [Person(totals=(12, 6))], prefix="ten")
    first = _row(_export(db, catalogue, PHQ9), DISTRIBUTION, "first")
    assert first["n"] == 10 and first["mean"] == 12


def test_published_counts_rest_on_k_clients_in_a_stratified_export(app, db: Database, people: People) -> None:
    catalogue = app.state.catalogue
    people_list = []
    for index in range(60):
        people_list.append(
            Person(
                birth_year=(1950, 1975, 1990, 2003)[index % 4],
                sex=("female", "male", None)[index % 3],
                totals=(5 + index % 20, max(0, index % 20 - 3), 4),
            )
        )
    _cohort(db, catalogue, people.alice.id, people_list)
    request = ExportRequest(
        ("phq9",), Occasions(first=True, last=True, nth=(2,), weeks=WEEK_PERIODS), ("age", "sex", "respondent")
    )
    export = _export(db, catalogue, request)
    assert export.suppressed_count > 0
    for table in export.tables:
        grand = {row.occasion: row for row in table.rows if (row.age_band, row.sex, row.respondent) == (ALL,) * 3}
        for row in table.rows:
            for name, cell in zip(table.statistics, row.cells, strict=True):
                if cell.suppressed or not (name in COUNTS or name.startswith("band_")):
                    continue
                if cell.value == 0:  # only a band or category nobody in the whole table has
                    total = grand[row.occasion].cells[table.statistics.index(name)]
                    assert total.value == 0 and not total.suppressed, (table.scale, row, name)
                else:
                    assert cell.value >= K, (table.kind, row, name, cell)
            if any(cell.suppressed for cell in row.cells[:1]):
                assert all(cell.suppressed for cell in row.cells[: (2 if table.kind == CHANGE else 6)])


def test_measurements_of_the_current_month_wait_for_the_next(app, db: Database, people: People) -> None:
    catalogue = app.state.catalogue
    ids = _cohort(db, catalogue, people.alice.id, [Person(totals=(12,))] * 10)
    with db.session(write=True) as session:
        for registration_id in ids:
            registration = session.get(Registration, registration_id)
            add_measurement(
                session,
                catalogue["phq9"],
                registration,
                utcnow() - timedelta(minutes=5),
                {str(item): 3 for item in range(1, 10)},
            )
    export = _export(db, catalogue, PHQ9)
    assert _row(export, DISTRIBUTION, "last")["mean"] == 12
    assert export.data_before.day == 1


def test_one_informant_series_per_client(app, db: Database, people: People) -> None:
    catalogue = app.state.catalogue
    from rom_portal.demo_caseload import psc17

    with db.session(write=True) as session:
        for index in range(10):
            registration = add_client(
                session,
                catalogue,
                people.alice.id,
                Person(key="psc17", totals=(20, 10), informant="moeder"),
                f"kid{index}",
                answers_of=psc17,
            )
            # A teacher starts later, with other scores: never mixed into the mother's series.
            for weeks, total in ((2, 30), (6, 30)):
                from tests.research_cohort import EPOCH

                add_measurement(
                    session,
                    catalogue["psc17"],
                    registration,
                    EPOCH + timedelta(weeks=weeks),
                    psc17(total),
                    "leerkracht",
                )
    request = ExportRequest(("psc17",), Occasions(first=True, last=True), ("respondent",))
    export = _export(db, catalogue, request)
    row = _row(export, DISTRIBUTION, "first", respondent="informant")
    assert row["n"] == 10 and row["mean"] == 20
    assert _row(export, DISTRIBUTION, "last")["mean"] == 10
    assert not any(row.respondent == "self" for table in export.tables for row in table.rows)


def test_files_hold_aggregates_only_with_a_codebook(app, db: Database, people: People) -> None:
    catalogue = app.state.catalogue
    _cohort(db, catalogue, people.alice.id, [Person(totals=(14, 7), birth_year=1971)] * 12, prefix="marker-user")
    request = ExportRequest(("phq9",), Occasions(), ("age", "sex"))
    export = _export(db, catalogue, request)
    with zipfile.ZipFile(io.BytesIO(csv_zip_bytes(export))) as archive:
        assert sorted(archive.namelist()) == ["codebook.txt", "figures.csv"]
        figures = archive.read("figures.csv").decode()
        book = archive.read("codebook.txt").decode()
    document = json.loads(json_bytes(export))
    for text in (figures, book, json.dumps(document)):
        assert "marker-user" not in text and "1971" not in text
        assert not re.search(r"\d{4}-\d{2}-\d{2}", text), "no date finer than a month"
    rows = list(csv.DictReader(io.StringIO(figures)))
    assert {row["statistic"] for row in rows} >= {"n", "mean", "sd", "median", "q1", "q3", "pairs", "mean_change"}
    assert len(rows) == len(document["figures"])
    assert document["codebook"]["k"] == K and document["codebook"]["generated_month"] == export.month
    assert document["codebook"]["portal_version"] and "k" in book.lower()
    assert str(K) in document["codebook"]["suppression"]


def test_csv_cells_a_spreadsheet_would_run_are_escaped() -> None:
    table = Table(
        '=HYPERLINK("http://x")',
        "+total",
        DISTRIBUTION,
        ("n", "mean"),
        (Row("@first", "-1", ALL, ALL, (Cell(12, False), Cell(-3.5, False))),),
    )
    export = ResearchExport(PHQ9, K, utcnow(), utcnow().date().replace(day=1), "0", (table,), ())
    rows = list(csv.reader(io.StringIO(figures_csv(export))))
    assert rows[1][:5] == ["distribution", '\'=HYPERLINK("http://x")', "'+total", "'@first", "'-1"]
    assert rows[2][-2:] == ["-3.5", "false"]  # a negative number stays a number


def test_every_preview_and_download_is_logged_with_its_parameters(app, db: Database, people: People) -> None:
    request, problems = parse_request(
        app.state.catalogue, questionnaires=["phq9", "gad7"], occasions=["first", "nth"], nth="3, 2", strata=["sex"]
    )
    assert not problems and request is not None
    with db.session(write=True) as session:
        for what in ("preview", "csv", "json"):
            record_export(session, Actor(people.rita.id, "researcher"), request, what)
    with db.session() as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.object_type == "research_export")).all()
    assert [row.action for row in rows] == ["preview", "csv", "json"]
    assert {row.detail for row in rows} == {"q=phq9,gad7;o=first,n2,n3;s=sex"}
    assert {row.actor_user_id for row in rows} == {people.rita.id} and {row.registration_id for row in rows} == {None}


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"questionnaires": []}, "questionnaire"),
        ({"questionnaires": ["nope"]}, "questionnaire"),
        ({"occasions": []}, "occasions"),
        ({"occasions": ["nth"], "nth": "0, x"}, "nth"),
        ({"strata": ["postcode"]}, "strata"),
    ],
)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_bad_requests_are_refused_with_a_message(app, fields: dict, problem: str) -> None:
    arguments = {"questionnaires": ["phq9"], "occasions": ["first"]} | fields
    request, problems = parse_request(app.state.catalogue, **arguments)
    assert request is None and problem in problems


def test_a_consent_given_this_month_counts_from_next_month(app, db: Database, people: People) -> None:
    catalogue = app.state.catalogue
    ids = _cohort(db, catalogue, people.alice.id, [Person(totals=(12, 6))] * 11)
    with db.session(write=True) as session:
        consent = session.exec(select(Consent).where(Consent.registration_id == ids[0])).one()
        consent.given_at = utcnow()  # a preview before and after this consent would differ by one client
        session.add(consent)
    assert _row(_export(db, catalogue, PHQ9), DISTRIBUTION, "first")["n"] == 10
    with db.session() as session:
        next_month = compute_export(
            session, catalogue, PHQ9, k=K, timezone="Europe/Amsterdam", now=utcnow() + timedelta(days=32)
        )
    assert _row(next_month, DISTRIBUTION, "first")["n"] == 11


def test_zip_entries_carry_no_date_finer_than_the_month(app, db: Database, people: People) -> None:
    export = _export(db, app.state.catalogue, PHQ9)
    with zipfile.ZipFile(io.BytesIO(csv_zip_bytes(export))) as archive:
        stamps = {entry.date_time for entry in archive.infolist()}
    assert stamps == {(export.data_before.year, export.data_before.month, 1, 0, 0, 0)}


def test_several_questionnaires_in_one_export(app, db: Database, people: People) -> None:
    # Each questionnaire is its own streamed pass over the same connection, one after the other.
    _cohort(db, app.state.catalogue, people.alice.id, [Person(totals=(12, 6))] * 10)
    export = _export(db, app.state.catalogue, ExportRequest(("phq9", "gad7", "who5"), Occasions()))
    assert {table.questionnaire for table in export.tables} == {"phq9", "gad7", "who5"}
    assert _row(export, DISTRIBUTION, "first")["n"] == 10
