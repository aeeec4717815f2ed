"""The rom-portal command: help everywhere, clear one-line errors, users created safely."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlmodel import select

from rom_portal.cli import main
from rom_portal.db import Database
from rom_portal.demo import seed_demo
from rom_portal.models import Role, User
from rom_portal.security.passwords import verify_password
from tests.conftest import TEST_SECRET

GOOD_PASSWORD = "paars kasteel onder de brug"


def _env(database_url: str, **extra: str) -> dict[str, str]:
    return {"ROM_PORTAL_DATABASE_URL": database_url, "ROM_PORTAL_SECRET_KEY": TEST_SECRET, **extra}


def _invoke(args: list[str], env: dict[str, str], stdin: str | None = None) -> click.testing.Result:
    clean = {key: None for key in os.environ if key.startswith("ROM_PORTAL_")}
    return CliRunner().invoke(main, args, env={**clean, **env}, input=stdin, catch_exceptions=False)


def _commands(group: click.Group, prefix: list[str]) -> list[list[str]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, [*prefix, name])
        else:
            found.append([*prefix, name])
    return found


@pytest.mark.parametrize("command", _commands(main, []), ids=lambda c: " ".join(c) or "rom-portal")
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_check_reports_an_unreachable_database_in_one_line() -> None:
    env = _env("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    completed = subprocess.run(
        [sys.executable, "-m", "rom_portal", "check"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 1
    assert "FAIL  database unreachable:" in completed.stdout
    assert "Traceback" not in completed.stdout + completed.stderr


def test_check_on_a_missing_sqlite_folder_is_one_clear_line(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "rom_portal", "check"],
        env={**os.environ, **_env(f"sqlite:///{tmp_path}/missing/portal.db")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 1
    assert completed.stderr.strip().count("\n") == 0
    assert "does not exist" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_check_passes_on_a_migrated_database(migrated_url: str, tmp_path: Path) -> None:
    # PostgreSQL needs a file for the erasure ledger (SQLite has one beside the database by default).
    result = _invoke(["check"], _env(migrated_url, ROM_PORTAL_ERASURE_LEDGER=str(tmp_path / "erasures")))
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output
    assert "database schema is current" in result.output


def test_check_fails_in_development_mode_and_on_an_old_schema(database_url: str) -> None:
    result = _invoke(["check"], _env(database_url, ROM_PORTAL_INSECURE_HTTP="true"))
    assert result.exit_code == 1
    assert "FAIL  ROM_PORTAL_INSECURE_HTTP is on" in result.output
    assert "FAIL  the database is empty: run `rom-portal migrate`" in result.output


def test_migrate_creates_the_schema(database_url: str) -> None:
    result = _invoke(["migrate"], _env(database_url))
    assert result.exit_code == 0
    assert "schema is current" in result.output


def test_create_user_reads_the_password_from_stdin(migrated_url: str) -> None:
    result = _invoke(["create-user", "--role", "therapist", "Jeroen"], _env(migrated_url), stdin=GOOD_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    database = Database(migrated_url)
    with database.session() as session:
        user = session.exec(select(User).where(User.username == "jeroen")).one()
    database.dispose()
    assert user.role is Role.therapist
    assert GOOD_PASSWORD not in user.password_hash
    assert verify_password(user.password_hash, GOOD_PASSWORD).ok


@pytest.mark.parametrize(
    ("password", "message"),
    [("kort", "at least 12"), ("Welkom2024!!", "too common"), ("therapeut-anna", "must not be your username")],
)
def test_create_user_refuses_weak_passwords(migrated_url: str, password: str, message: str) -> None:
    result = _invoke(["create-user", "--role", "admin", "therapeut-anna"], _env(migrated_url), stdin=password + "\n")
    assert result.exit_code == 1
    assert message in result.output


def test_create_user_refuses_a_taken_username_and_bad_names(migrated_url: str) -> None:
    env = _env(migrated_url)
    assert _invoke(["create-user", "--role", "admin", "beheer"], env, stdin=GOOD_PASSWORD + "\n").exit_code == 0
    again = _invoke(["create-user", "--role", "admin", "beheer"], env, stdin=GOOD_PASSWORD + "\n")
    assert again.exit_code == 1
    assert "already taken" in again.output
    bad = _invoke(["create-user", "--role", "admin", "a b"], env, stdin=GOOD_PASSWORD + "\n")
    assert bad.exit_code == 1
    assert "username:" in bad.output


def test_create_user_has_no_password_argument() -> None:
    options = {opt for param in main.commands["create-user"].params for opt in getattr(param, "opts", [])}
    assert not any("pass" in option for option in options)


def test_create_user_before_migrate_says_what_to_do(database_url: str) -> None:
    result = _invoke(["create-user", "--role", "admin", "beheer"], _env(database_url), stdin=GOOD_PASSWORD + "\n")
    assert result.exit_code == 1
    assert "run `rom-portal migrate`" in result.output


def test_serve_refuses_an_empty_database(database_url: str) -> None:
    empty = _invoke(["serve", "--port", "1"], _env(database_url))
    assert empty.exit_code == 1
    assert "rom-portal migrate" in empty.output


def test_serve_refuses_a_demo_database(migrated_url: str) -> None:
    database = Database(migrated_url)
    with database.session(write=True) as session:
        seed_demo(session)
    database.dispose()
    result = _invoke(["serve", "--port", "1"], _env(migrated_url))
    assert result.exit_code == 1
    assert "demo database" in result.output
