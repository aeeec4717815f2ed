"""Every UI string goes through gettext, and the Dutch catalog translates all of them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "rom_portal" / "locale" / "nl" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2), "N_": None}


def _extracted(directory: Path, method: str, pattern: str) -> set[str]:
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(directory), method_map=[(pattern, method)], keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_dutch_catalog_translates_every_message() -> None:
    messages = _extracted(ROOT / "rom_portal", "python", "**.py") | _extracted(ROOT / "templates", "jinja2", "**.html")
    with CATALOG.open("rb") as handle:
        catalog = read_po(handle, locale="nl")
    translated = {
        (m.id if isinstance(m.id, str) else m.id[0])
        for m in catalog
        if m.id and (m.string if isinstance(m.string, str) else all(m.string))
    }
    missing = sorted(messages - translated)
    assert missing == [], f"run .ci/update-translations and translate: {missing[:10]}"


def _bare_text(template: str) -> str:
    text = re.sub(r"\{#.*?#\}", "", template, flags=re.DOTALL)
    text = re.sub(r"\{%.*?%\}", "", text, flags=re.DOTALL)
    text = re.sub(r"\{\{.*?\}\}", "", text, flags=re.DOTALL)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
    text = re.sub(r"<[^>]*>", " ", text, flags=re.DOTALL)
    return text


@pytest.mark.parametrize("path", sorted((ROOT / "templates").rglob("*.html")), ids=lambda p: p.name)
def test_templates_have_no_untranslated_text(path: Path) -> None:
    leftovers = re.findall(r"[A-Za-zÀ-ÿ]{2,}", _bare_text(path.read_text(encoding="utf-8")))
    assert leftovers == [], f"text outside gettext in {path.name}: {leftovers[:5]}"


def test_pages_are_dutch_by_default_and_english_on_request(client: TestClient) -> None:
    dutch = client.get("/login")
    assert '<html lang="nl">' in dutch.text
    assert "Inloggen" in dutch.text
    english = client.get("/login?lang=en")
    assert '<html lang="en">' in english.text
    assert "<h1>Log in</h1>" in english.text
    # Links keep the visitor's choice without a cookie.
    assert 'href="/?lang=en"' in english.text
    assert "set-cookie" not in english.headers
