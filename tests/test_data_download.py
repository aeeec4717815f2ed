"""Download all my data: one zip with everything of the client (and nothing of anyone else), streamed."""

from __future__ import annotations

import codecs
import csv
import io
import json
import time
import zipfile
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import anyio
import pytest
from sqlmodel import col, func, select
from starlette.testclient import TestClient

from rom_portal.app import Portal
from rom_portal.db import Database
from rom_portal.i18n import current_language
from rom_portal.i18n import gettext as _
from rom_portal.models import (
    Answer,
    Assignment,
    AuditEvent,
    Consent,
    ConsentKind,
    InformantLink,
    Registration,
    Reminder,
    Respondent,
    Submission,
    SubmissionStatus,
    User,
)
from rom_portal.models.base import utcnow
from rom_portal.paths import resource_dir
from rom_portal.questionnaires import Catalogue, load_catalogue
from rom_portal.security import sessions
from rom_portal.security.tokens import hash_code, hash_token, new_token
from rom_portal.services import data_export, plans
from rom_portal.services.assignments import assign
from rom_portal.services.audit import Actor, record
from rom_portal.services.client_area import practice_today
from rom_portal.services.filling import save_answers, submit
from rom_portal.web import data_download, thread_stream
from rom_portal.web.session_middleware import cookie_name
from tests.conftest import People, login_as

PATH = "/client/privacy/download"
PHQ9 = {str(n): 1 for n in range(1, 11)}
IQCODE = {str(n): 3 for n in range(1, 17)}


@pytest.fixture
def catalogue() -> Catalogue:
    return load_catalogue(resource_dir("questionnaires"))


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 2 KiB, so a test-sized history streams in many of them (and fills the queue between)."""
    monkeypatch.setattr(thread_stream, "CHUNK_BYTES", 2048)


# --- Reading the zip ---------------------------------------------------------------------------------------


def stems(lang: str = "nl") -> dict[str, str]:
    """File name (without extension) of each topic in ``lang``, by its English message id."""
    token = current_language.set(lang)
    try:
        return {topic.stem: _(topic.stem) for topic in data_export.TOPICS}
    finally:
        current_language.reset(token)


def read_csv(archive: zipfile.ZipFile, name: str, delimiter: str = ";") -> list[list[str]]:
    raw = archive.read(name)
    assert raw.startswith(codecs.BOM_UTF8), f"{name} has no byte order mark for Excel"
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=delimiter))


def read_json_rows(archive: zipfile.ZipFile, name: str) -> list[dict[str, Any]]:
    found = json.loads(archive.read(name))
    return [found] if isinstance(found, dict) else found


def as_cell(value: Any, yes: str = "ja", no: str = "nee", decimal: str = ",") -> str:
    """What a JSON value must look like in the CSV file (written out here, not taken from the code under test)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return yes if value else no
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(value).replace(".", decimal)
    text = ", ".join(str(one) for one in value) if isinstance(value, list) else str(value)
    return "'" + text if text and text[0] in "=+-@\t\r" else text


def download(client: TestClient, db: Database, user: User) -> zipfile.ZipFile:
    login_as(client, db, user)
    response = client.get(PATH)
    assert response.status_code == 200, response.text[:300]
    return zipfile.ZipFile(io.BytesIO(response.content))


def all_text(archive: zipfile.ZipFile) -> str:
    """Every file of the zip unpacked: markers are looked for in what a reader would see, not in deflated bytes."""
    return "\n".join(archive.read(name).decode("utf-8-sig") for name in archive.namelist())


# --- Making data ---------------------------------------------------------------------------------------------


def give_self(
    db: Database, catalogue: Catalogue, therapist: User, registration: Registration, key: str = "phq9"
) -> str:
    """An assignment of the client, filled in and sent; returns its public id."""
    with db.session(write=True) as session:
        assignment = assign(session, catalogue, Actor(therapist.id, "therapist"), registration, key)
        save_answers(session, catalogue, assignment, PHQ9 if key == "phq9" else {"1": 2})
        submit(session, catalogue, assignment, Actor(registration.user_id, "client"))
        return assignment.public_id


def give_informant(
    db: Database, catalogue: Catalogue, therapist: User, registration: Registration, relation: str, *, send: bool = True
) -> str:
    """An IQCODE about the client by an informant, with its link; sent, or left as a draft."""
    with db.session(write=True) as session:
        assignment = assign(
            session,
            catalogue,
            Actor(therapist.id, "therapist"),
            registration,
            "iqcode16",
            respondent=Respondent.informant,
            informant_label=relation,
        )
        session.add(
            InformantLink(
                assignment_id=assignment.id,
                registration_id=registration.id,
                token_hash=hash_token(new_token()),
                code_hash=hash_code("1234-5678"),
                expires_at=utcnow() + timedelta(days=14),
            )
        )
        save_answers(session, catalogue, assignment, IQCODE if send else {"1": 2})
        if send:
            submit(session, catalogue, assignment, Actor(None, "informant"))
        return assignment.public_id


def draft(db: Database, catalogue: Catalogue, therapist: User, registration: Registration) -> str:
    with db.session(write=True) as session:
        assignment = assign(session, catalogue, Actor(therapist.id, "therapist"), registration, "gad7")
        save_answers(session, catalogue, assignment, {"1": 2, "2": 1})
        return assignment.public_id


def history(db: Database, catalogue: Catalogue, registration: Registration, count: int) -> None:
    """``count`` sent PHQ-9s, straight into the tables (the services would take minutes for a long history)."""
    definition = catalogue["phq9"]
    start = utcnow() - timedelta(weeks=count)
    with db.session(write=True) as session:
        for week in range(count):
            assignment = Assignment(
                registration_id=registration.id,
                questionnaire_key="phq9",
                questionnaire_version=definition.version,
                respondent=Respondent.self,
            )
            session.add(assignment)
            session.flush()
            submission = Submission(
                assignment_id=assignment.id,
                registration_id=registration.id,
                status=SubmissionStatus.submitted,
                submitted_at=start + timedelta(weeks=week),
            )
            session.add(submission)
            session.flush()
            for item in definition.items:
                session.add(Answer(submission_id=submission.id, item_id=item.id, value=json.dumps(week % 4)))


def plan_for(db: Database, catalogue: Catalogue, therapist: User, registration: Registration) -> str:
    today = practice_today("Europe/Amsterdam")
    spec = plans.PlanSpec("phq9", Respondent.self, "", plans.Schedule(today, plans.Repeat(4, None, 3)))
    with db.session(write=True) as session:
        made = plans.create_plan(
            session, catalogue, Actor(therapist.id, "therapist"), registration.public_id, spec, today
        )
        return made.public_id


# --- The zip -------------------------------------------------------------------------------------------------


def test_the_zip_has_a_readme_and_each_topic_as_json_and_csv_that_agree(
    client: TestClient, db: Database, people: People, catalogue: Catalogue
) -> None:
    carol = people.carol_registration
    give_self(db, catalogue, people.alice, carol)
    give_informant(db, catalogue, people.alice, carol, "moeder")
    draft(db, catalogue, people.alice, carol)
    plan_for(db, catalogue, people.alice, carol)
    with db.session(write=True) as session:
        session.add(Consent(registration_id=carol.id, kind=ConsentKind.research, statement_version="2026-11"))
        session.add(Reminder(registration_id=carol.id))
        session.get(Registration, carol.id).birth_year = 1990

    archive = download(client, db, people.carol)

    names = archive.namelist()
    assert names[0] == "README.txt"
    readme = archive.read("README.txt").decode()
    assert "Uw gegevens uit het vragenlijstenportaal" in readme
    for stem in stems().values():
        assert f"{stem}.json" in names and f"{stem}.csv" in names
        assert f"{stem}.json, {stem}.csv" in readme  # every file is explained
        records = read_json_rows(archive, f"{stem}.json")
        header, *rows = read_csv(archive, f"{stem}.csv")
        assert len(rows) == len(records), stem
        for entry, row in zip(records, rows, strict=True):
            assert len(header) == len(entry) == len(row)
            assert row == [as_cell(value) for value in entry.values()], stem
    assert "antwoorden.csv" in names  # file names and column headers in the client's language
    assert read_csv(archive, "antwoorden.csv")[0][9] == "Vraag"
    assert read_json_rows(archive, "profiel.json")[0]["birth_year"] == 1990
    assert len(read_json_rows(archive, "meetplannen.json")) == 1
    assert [c["kind"] for c in read_json_rows(archive, "toestemmingen.json")] == ["onderzoek"]
    assert len(read_json_rows(archive, "herinneringen.json")) == 1


def test_every_answer_of_a_long_history_is_there_with_its_question(
    client: TestClient, db: Database, people: People, catalogue: Catalogue
) -> None:
    carol = people.carol_registration
    history(db, catalogue, carol, 200)
    with db.session() as session:
        in_database = session.exec(
            select(func.count())
            .select_from(Answer)
            .join(Submission, col(Submission.id) == Answer.submission_id)
            .where(Submission.registration_id == carol.id)
        ).one()
    assert in_database == 200 * 10

    archive = download(client, db, people.carol)

    answers = read_json_rows(archive, "antwoorden.json")
    assert len(answers) == in_database
    assert len(read_csv(archive, "antwoorden.csv")) == in_database + 1
    assert len({row["questionnaire_code"] for row in answers}) == 200
    phq9 = catalogue["phq9"]
    for row in answers:
        item = phq9.item(row["question_id"])
        assert row["question"] == item.text.nl
        assert row["answer"] == next(o.label.nl for o in item.options if o.value == row["value"])
    # In the order of the form within each questionnaire.
    assert [row["question_id"] for row in answers[:10]] == [str(n) for n in range(1, 11)]


def test_nothing_of_another_client_is_in_the_zip(
    client: TestClient, db: Database, people: People, catalogue: Catalogue
) -> None:
    carol, dave = people.carol_registration, people.dave_registration
    carol_ids = [
        give_self(db, catalogue, people.alice, carol),
        give_informant(db, catalogue, people.alice, carol, "carol-relation-7f3a"),
    ]
    dave_ids = [
        give_self(db, catalogue, people.bob, dave),
        give_informant(db, catalogue, people.bob, dave, "dave-relation-91c2"),
        give_informant(db, catalogue, people.bob, dave, "dave-draft-relation-5e0d", send=False),
        draft(db, catalogue, people.bob, dave),
        plan_for(db, catalogue, people.bob, dave),
    ]
    with db.session(write=True) as session:
        session.get(User, people.dave.id).display_name = "Dave-marker-b7e1"
        session.get(Registration, dave.id).reminder_email = "dave-marker-0c44@example.org"
        session.add(Consent(registration_id=dave.id, kind=ConsentKind.research, statement_version="dave-v-4d21"))
        record(
            session, Actor(people.bob.id, "therapist"), "read", "results", "dave-object-88aa", registration_id=dave.id
        )
        record(session, Actor(people.dave.id, "client"), "login", "account", "dave-login-3b9f")
        record(session, Actor(people.carol.id, "client"), "login", "account", "carol-login-2d7e")
        sessions.start(session, session.get(User, people.dave.id), mfa_ok=True, device="dave-device-6a0e")

    text = all_text(download(client, db, people.carol))

    for marker in (
        *dave_ids,
        dave.public_id,
        "dave-relation-91c2",
        "dave-draft-relation-5e0d",
        "Dave-marker-b7e1",
        "dave-marker-0c44",
        "dave-v-4d21",
        "dave-object-88aa",
        "dave-login-3b9f",
        "dave-device-6a0e",
        people.bob.display_name,
    ):
        assert marker not in text, marker
    for marker in (*carol_ids, carol.public_id, "carol-relation-7f3a", "carol-login-2d7e", people.alice.display_name):
        assert marker in text, marker  # so the search above can fail


def test_csv_cells_that_a_spreadsheet_would_run_as_a_formula_start_with_an_apostrophe(
    client: TestClient, db: Database, people: People, catalogue: Catalogue
) -> None:
    carol = people.carol_registration
    relations = ["+moeder", "-vader", "@zus", "\tbroer", "\rtante", "=oom"]
    for relation in relations:
        give_informant(db, catalogue, people.alice, carol, relation, send=False)
    with db.session(write=True) as session:
        session.get(User, people.carol.id).display_name = '=HYPERLINK("https://example.org","klik")'

    archive = download(client, db, people.carol)

    header, row = read_csv(archive, "profiel.csv")
    assert row[header.index("Naam")] == '\'=HYPERLINK("https://example.org","klik")'
    assert read_json_rows(archive, "profiel.json")[0]["name"] == '=HYPERLINK("https://example.org","klik")'
    header, *rows = read_csv(archive, "vragenlijsten.csv")
    shown = [row[header.index("Informant")] for row in rows]
    assert shown == ["'" + relation for relation in relations]
    assert [r["informant_relation"] for r in read_json_rows(archive, "vragenlijsten.json")] == relations
    # Numbers are no formulas: the answer value 2 stays a plain 2.
    header, *rows = read_csv(archive, "antwoorden.csv")
    assert {row[header.index("Antwoord (waarde)")] for row in rows} == {"2"}


def test_the_download_is_audited_once_with_the_registration(client: TestClient, db: Database, people: People) -> None:
    archive = download(client, db, people.carol)

    with db.session() as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.action == "export")).all()
    assert [(r.actor_user_id, r.actor_role, r.registration_id, r.object_type) for r in rows] == [
        (people.carol.id, "client", people.carol_registration.id, "all_data")
    ]
    # The zip's own access log already has it: the row is written before the export is read.
    log = read_json_rows(archive, f"{stems()['access-log']}.json")
    assert [(e["who"], e["action"]) for e in log] == [("u", "export")]


def test_drafts_are_included_and_marked_as_not_sent(
    client: TestClient, db: Database, people: People, catalogue: Catalogue
) -> None:
    carol = people.carol_registration
    sent = give_self(db, catalogue, people.alice, carol)
    unsent = draft(db, catalogue, people.alice, carol)
    with db.session(write=True) as session:
        assign(session, catalogue, Actor(people.alice.id, "therapist"), carol, "who5")

    archive = download(client, db, people.carol)

    statuses = {r["questionnaire_code"]: r["status"] for r in read_json_rows(archive, "vragenlijsten.json")}
    assert statuses[sent] == "verstuurd"
    assert statuses[unsent] == "niet verstuurd (concept)"
    assert sorted(statuses.values()) == ["niet begonnen", "niet verstuurd (concept)", "verstuurd"]
    answers = read_json_rows(archive, "antwoorden.json")
    assert [(a["question_id"], a["status"], a["sent_at"]) for a in answers if a["questionnaire_code"] == unsent] == [
        ("1", "niet verstuurd (concept)", None),
        ("2", "niet verstuurd (concept)", None),
    ]
    assert {r["questionnaire_code"] for r in read_json_rows(archive, "scores.json")} == {sent}


def test_what_informants_filled_in_about_the_client_is_included(
    client: TestClient, db: Database, people: People, catalogue: Catalogue
) -> None:
    carol = people.carol_registration
    by_mother = give_informant(db, catalogue, people.alice, carol, "moeder")

    archive = download(client, db, people.carol)

    answers = [a for a in read_json_rows(archive, "antwoorden.json") if a["questionnaire_code"] == by_mother]
    assert len(answers) == 16
    assert {(a["filled_in_by"], a["informant_relation"], a["status"]) for a in answers} == {
        ("een informant", "moeder", "verstuurd")
    }
    assert answers[0]["question"] == catalogue["iqcode16"].item("1").text.nl
    scores = [s for s in read_json_rows(archive, "scores.json") if s["questionnaire_code"] == by_mother]
    assert scores and scores[0]["informant_relation"] == "moeder"
    assert scores[0]["score"] is not None and scores[0]["scale"]
    (row,) = [q for q in read_json_rows(archive, "vragenlijsten.json") if q["questionnaire_code"] == by_mother]
    assert row["informant_link_valid_until"] is not None


def test_alerts_say_when_they_were_seen_and_by_the_therapist_without_a_name(
    client: TestClient, db: Database, people: People, catalogue: Catalogue
) -> None:
    carol = people.carol_registration
    give_self(db, catalogue, people.alice, carol)  # PHQ-9 item 9 above 0: an alert
    archive = download(client, db, people.carol)
    (alert,) = read_json_rows(archive, "meldingen.json")
    assert (alert["question_id"], alert["seen_at"], alert["seen_by"]) == ("9", None, None)
    assert alert["question"] == catalogue["phq9"].item("9").text.nl


def test_a_therapist_without_a_display_name_is_not_shown_by_login_name(
    client: TestClient, db: Database, people: People
) -> None:
    with db.session(write=True) as session:
        session.get(User, people.alice.id).display_name = ""
    archive = download(client, db, people.carol)
    assert read_json_rows(archive, "profiel.json")[0]["therapist"] == "uw behandelaar"
    for name in archive.namelist():
        assert b'"alice"' not in archive.read(name) and b",alice," not in archive.read(name), name


@pytest.mark.parametrize("persona", ["alice", "rita", "adam"])
def test_only_clients_download_their_data(client: TestClient, db: Database, people: People, persona: str) -> None:
    login_as(client, db, getattr(people, persona))
    assert client.get(PATH).status_code == 404


def test_anonymous_visitors_are_sent_to_login(client: TestClient, people: People) -> None:
    response = client.get(PATH, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fclient%2Fprivacy%2Fdownload"


def test_the_file_is_an_attachment_named_by_date_not_by_client_and_never_cached(
    client: TestClient, db: Database, people: People
) -> None:
    with db.session(write=True) as session:
        session.get(User, people.carol.id).display_name = "Carol Veldhuis"
    login_as(client, db, people.carol)
    response = client.get(PATH)
    day = practice_today("Europe/Amsterdam").isoformat()
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith(f'attachment; filename="mijn-gegevens-{day}.zip"')
    assert "carol" not in response.headers["content-disposition"].lower()
    assert response.headers["cache-control"] == "no-store"


def test_a_client_who_reads_english_gets_english_files_and_commas(
    client: TestClient, db: Database, people: People, catalogue: Catalogue
) -> None:
    give_self(db, catalogue, people.alice, people.carol_registration)
    with db.session(write=True) as session:
        session.get(User, people.carol.id).locale = "en"
    login_as(client, db, people.carol)
    response = client.get(PATH)
    assert 'filename="my-data-' in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert "Your data from the questionnaire portal" in archive.read("README.txt").decode()
    header, *rows = read_csv(archive, "answers.csv", delimiter=",")
    assert header[9] == "Question" and len(rows) == 10
    records = read_json_rows(archive, "answers.json")
    assert rows[0] == [as_cell(v, "yes", "no", ".") for v in records[0].values()]
    assert records[0]["question"] == catalogue["phq9"].item("1").text.en
    assert records[0]["answer"] == "Several days"


def test_the_export_reads_one_snapshot_while_others_write(db: Database, people: People, catalogue: Catalogue) -> None:
    """The JSON and the CSV of a topic are two reads; a write in between must not make them disagree."""
    carol = people.carol_registration
    give_self(db, catalogue, people.alice, carol)
    count = select(func.count()).select_from(Answer)
    with db.session() as reader:
        data_export.begin_snapshot(reader)
        before = reader.exec(count).one()
        draft(db, catalogue, people.alice, carol)  # committed by another connection meanwhile
        assert reader.exec(count).one() == before
    with db.session() as session:
        assert session.exec(count).one() == before + 2


# --- Streaming -----------------------------------------------------------------------------------------------


def asgi_get(
    app: Portal, path: str, cookie: str, *, on_body: Callable[[int], None], spec_version: str
) -> tuple[int, int, BaseException | None]:
    """GET ``path`` through the ASGI app itself (a test client would gather the whole body first).

    ``on_body(bytes so far)`` is called for each piece of the body. It may raise OSError, as the ``send`` of an
    ASGI 2.4 server does once the socket is closed, or ConnectionAbortedError to make ``receive`` report the
    disconnect, as an ASGI 2.3 server does. Returns (status, bytes received, what the app raised).
    """
    got: dict[str, Any] = {"status": 0, "bytes": 0, "error": None}

    async def main() -> None:
        gone = anyio.Event()
        asked = False

        async def receive() -> dict[str, Any]:
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                got["status"] = message["status"]
            elif message["type"] == "http.response.body":
                got["bytes"] += len(message.get("body", b""))
                try:
                    on_body(got["bytes"])
                except ConnectionAbortedError:
                    gone.set()

        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": spec_version},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "https",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"testserver"), (b"cookie", cookie.encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 443),
        }
        try:
            await app(scope, receive, send)
        except Exception as error:
            got["error"] = error

    anyio.run(main)
    return got["status"], got["bytes"], got["error"]


def _cookie(app: Portal, db: Database, user: User) -> str:
    with db.session(write=True) as session:
        token = sessions.start(session, session.get(User, user.id), mfa_ok=True, device="test")
    return f"{cookie_name(app.state.settings)}={token}"


def test_when_every_download_slot_is_taken_the_client_is_told_to_retry_soon(
    app: Portal, client: TestClient, db: Database, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data_download, "SLOT_WAIT_SECONDS", 0.2)
    slots = data_download._slots(app.state)
    others = [object() for _ in range(data_download.DOWNLOADS_AT_ONCE)]
    assert client.portal is not None  # the app's event loop: other downloads take their slots there

    def take(other: object) -> None:
        assert client.portal is not None
        client.portal.call(slots.acquire_on_behalf_of, other)

    login_as(client, db, people.carol)
    take(others[0])
    assert client.get(PATH).status_code == 200  # one download running elsewhere: there is room for more
    take(others[1])
    started = time.perf_counter()
    busy = client.get(PATH)
    assert time.perf_counter() - started < 5  # a bounded wait, not until a slot comes free
    assert busy.status_code == 503 and busy.headers["retry-after"] == "30"
    assert busy.headers["content-type"].startswith("text/html")  # a page, not the start of a zip
    assert "Probeer het over een minuut opnieuw" in busy.text
    with db.session() as session:  # nothing was exported, so nothing is in the log as exported
        exports = session.exec(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "export"))
        assert exports.one() == 1
    client.portal.call(slots.release_on_behalf_of, others[0])
    assert client.get(PATH).status_code == 200
    assert slots.borrowed_tokens == 1  # the finished downloads gave their slot back


@pytest.mark.usefixtures("small_chunks")
def test_the_zip_streams_in_pieces_while_it_is_read(
    app: Portal, db: Database, people: People, catalogue: Catalogue
) -> None:
    history(db, catalogue, people.carol_registration, 200)
    pieces: list[int] = []
    status, _size, error = asgi_get(
        app, PATH, _cookie(app, db, people.carol), on_body=pieces.append, spec_version="2.3"
    )
    assert (status, error) == (200, None)
    assert len(pieces) > 5  # handed over chunk by chunk, not as one body at the end
    assert db.engine.pool.checkedout() == 0


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("spec_version", ["2.3", "2.4"])
def test_a_download_broken_off_stops_reading_and_frees_its_connection(
    app: Portal, db: Database, people: People, catalogue: Catalogue, spec_version: str
) -> None:
    history(db, catalogue, people.carol_registration, 200)
    full = asgi_get(app, PATH, _cookie(app, db, people.carol), on_body=lambda _: None, spec_version="2.3")[1]

    def leave(_: int) -> None:
        if spec_version == "2.4":
            raise OSError("the socket is closed")  # what an ASGI 2.4 server's send does
        raise ConnectionAbortedError()  # our fake receive then reports http.disconnect

    started = time.perf_counter()
    status, size, error = asgi_get(app, PATH, _cookie(app, db, people.carol), on_body=leave, spec_version=spec_version)
    assert (status, error) == (200, None)  # a download the browser stopped is no error of the portal
    assert size < full / 2
    assert time.perf_counter() - started < 10
    assert db.engine.pool.checkedout() == 0  # the read transaction ended with the download
    with db.session() as session:  # ... and one export row for each download, the broken one too
        exports = session.exec(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "export"))
        assert exports.one() == 2
