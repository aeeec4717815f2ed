"""Settings are read strictly, documented, and the secret key is generated once, privately."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from rom_portal.settings import SETTINGS, SettingsError, load_settings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = README.read_text(encoding="utf-8")
    table_rows = {match for match in re.findall(r"^\| `(ROM_PORTAL_[A-Z_]+)`", readme, flags=re.MULTILINE)}
    for spec in SETTINGS:
        assert spec.env in table_rows, f"{spec.env} is missing from the README's configuration table"
        if spec.secret:
            assert spec.env + "_FILE" in readme, f"{spec.env}_FILE is not mentioned in README.md"


def test_defaults_give_sqlite_dutch_and_https(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.database_url == "sqlite:///./rom_portal.db"
    assert settings.default_language == "nl"
    assert settings.insecure_http is False


def test_secret_is_generated_once_into_a_private_file(tmp_path: Path) -> None:
    env = {"ROM_PORTAL_DATABASE_URL": f"sqlite:///{tmp_path}/portal.db"}
    first = load_settings(env)
    secret_file = tmp_path / "portal.db.secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert secret_file.read_text().strip() == first.secret_key
    assert load_settings(env).secret_key == first.secret_key
    assert first.secret_key not in repr(first)


def test_a_secret_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    env = {"ROM_PORTAL_DATABASE_URL": f"sqlite:///{tmp_path}/portal.db"}
    load_settings(env)
    (tmp_path / "portal.db.secret").chmod(0o644)
    with pytest.raises(SettingsError, match="readable by others"):
        load_settings(env)


def test_secret_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("k" * 40 + "\n")
    settings = load_settings({"ROM_PORTAL_SECRET_KEY_FILE": str(secret), "ROM_PORTAL_DATABASE_URL": "sqlite:///x.db"})
    assert settings.secret_key == "k" * 40


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"ROM_PORTAL_INSECURE_HTTP": "maybe"}, "ROM_PORTAL_INSECURE_HTTP: expected true or false"),
        ({"ROM_PORTAL_DEFAULT_LANGUAGE": "de"}, "ROM_PORTAL_DEFAULT_LANGUAGE: expected one of nl, en"),
        ({"ROM_PORTAL_DB_THREADS": "500"}, "ROM_PORTAL_DB_THREADS: expected a whole number from 1 to 64"),
        ({"ROM_PORTAL_DATABASE_URL": "mysql://x"}, "ROM_PORTAL_DATABASE_URL: expected sqlite"),
        ({"ROM_PORTAL_DATABSE_URL": "sqlite:///x.db"}, "unknown setting ROM_PORTAL_DATABSE_URL"),
        ({"ROM_PORTAL_SECRET_KEY": "short"}, "at least 32 characters"),
        (
            {"ROM_PORTAL_SECRET_KEY": None, "ROM_PORTAL_SECRET_KEY_FILE": "/nonexistent/key"},
            "ROM_PORTAL_SECRET_KEY_FILE: cannot read /nonexistent/key",
        ),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(environ: dict[str, str | None], message: str) -> None:
    base: dict[str, str | None] = {"ROM_PORTAL_SECRET_KEY": "s" * 40, "ROM_PORTAL_DATABASE_URL": "sqlite:///x.db"}
    merged = {key: value for key, value in {**base, **environ}.items() if value is not None}
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(merged)


def test_plain_postgresql_url_uses_psycopg_3() -> None:
    settings = load_settings({"ROM_PORTAL_SECRET_KEY": "s" * 40, "ROM_PORTAL_DATABASE_URL": "postgresql://u@h/db"})
    assert settings.database_url == "postgresql+psycopg://u@h/db"
