"""Shared fixtures: a real database per test (a SQLite file, and a fresh PostgreSQL schema), the app, a client.

Every test that asks for ``database_url`` (or anything built on it) runs twice: on SQLite and on PostgreSQL.
PostgreSQL comes from ``ROM_PORTAL_TEST_POSTGRESQL_URL``; without it those runs skip, unless
``ROM_PORTAL_TEST_REQUIRE_POSTGRESQL=1`` (as in CI), when they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from rom_portal.app import Portal, create_app
from rom_portal.db import Database
from rom_portal.models import Registration, Role, User
from rom_portal.schema import migrate
from rom_portal.security import sessions
from rom_portal.security.passwords import hash_password
from rom_portal.settings import Settings, load_settings
from rom_portal.web.session_middleware import cookie_name

POSTGRESQL_URL = os.environ.get("ROM_PORTAL_TEST_POSTGRESQL_URL", "")
REQUIRE_POSTGRESQL = os.environ.get("ROM_PORTAL_TEST_REQUIRE_POSTGRESQL") == "1"
TEST_SECRET = "test-secret-key-0123456789abcdefghijklmnop"
BASE_URL = "https://testserver"


def _postgresql_schema_url(schema: str) -> str:
    url = make_url(POSTGRESQL_URL).set(drivername="postgresql+psycopg")
    url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or a new schema on the PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'portal.db'}"
        return
    if not POSTGRESQL_URL:
        message = (
            "PostgreSQL run skipped: set ROM_PORTAL_TEST_POSTGRESQL_URL, e.g. "
            "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )
        if REQUIRE_POSTGRESQL:
            pytest.fail(message.replace("skipped", "required"))
        pytest.skip(message)
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(make_url(POSTGRESQL_URL).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        if REQUIRE_POSTGRESQL:
            pytest.fail(f"PostgreSQL required but unusable: {exc}")
        pytest.skip(f"PostgreSQL run skipped: server unusable ({type(exc).__name__})")
    try:
        yield _postgresql_schema_url(schema)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {"database_url": database_url, "secret_key": TEST_SECRET}
    values.update(overrides)
    return load_settings({}, **values)


@pytest.fixture
def migrated_url(database_url: str) -> str:
    database = Database(database_url, threads=2)
    try:
        migrate(database.engine)
    finally:
        database.dispose()
    return database_url


@pytest.fixture
def settings(migrated_url: str) -> Settings:
    return make_settings(migrated_url)


@pytest.fixture
def app(settings: Settings) -> Iterator[Portal]:
    application = create_app(settings)
    yield application
    application.state.db.dispose()


@pytest.fixture
def client(app: Portal) -> Iterator[TestClient]:
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def db(app: Portal) -> Database:
    return app.state.db


# --- Personas -------------------------------------------------------------------------------------------
# alice and bob are therapists; carol is alice's client, dave is bob's; rita researches; adam administers.

PERSONA_PASSWORD = "groene fiets op de dijk"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@dataclass
class People:
    alice: User
    bob: User
    carol: User
    dave: User
    rita: User
    adam: User
    carol_registration: Registration
    dave_registration: Registration


def _password_hash() -> str:
    # One hash shared by every persona: hashing per test would cost ~20 ms each.
    global _PERSONA_HASH
    if _PERSONA_HASH is None:
        _PERSONA_HASH = hash_password(PERSONA_PASSWORD)
    return _PERSONA_HASH


_PERSONA_HASH: str | None = None


@pytest.fixture
def people(db: Database) -> People:
    with db.session(write=True) as session:
        users = {}
        for name, role, display in (
            ("alice", Role.therapist, "Alice Jansen"),
            ("bob", Role.therapist, "Bob de Boer"),
            ("carol", Role.client, "Carol"),
            ("dave", Role.client, "Dave"),
            ("rita", Role.researcher, "Rita"),
            ("adam", Role.admin, "Adam"),
        ):
            user = User(
                username=name,
                password_hash=_password_hash(),
                role=role,
                display_name=display,
                totp_secret=TOTP_SECRET if role.is_staff else None,
            )
            session.add(user)
            users[name] = user
        session.flush()
        carol_reg = Registration(user_id=users["carol"].id, therapist_id=users["alice"].id)
        dave_reg = Registration(user_id=users["dave"].id, therapist_id=users["bob"].id)
        session.add(carol_reg)
        session.add(dave_reg)
        session.flush()
    return People(**users, carol_registration=carol_reg, dave_registration=dave_reg)


def login_as(client: TestClient, db: Database, user: User, *, mfa_ok: bool = True) -> str:
    """Log ``user`` in by creating a real server-side session, and give the client its cookie."""
    with db.session(write=True) as session:
        token = sessions.start(session, user, mfa_ok=mfa_ok, device="test")
    # Host-only, like the cookie the server sets, so a later login replaces it rather than adding a second.
    client.cookies.set(cookie_name(client.app.state.settings), token, domain="testserver.local")
    return token


def csrf_of(client: TestClient, path: str = "/account") -> str:
    """The CSRF token a page hands out (the logged-in session's, or a signed anonymous one)."""
    import re

    page = client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, f"no csrf_token on {path}"
    return match.group(1)
