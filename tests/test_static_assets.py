"""Nothing from another origin, no inline script or style, and htmx pinned and safely configured."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))
STATIC_TEXT = sorted(p for p in (ROOT / "static").rglob("*") if p.suffix in {".css", ".js", ".svg", ".html", ".map"})
# XML namespace names look like URLs but are never fetched.
NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink", "http://www.w3.org/1999/xhtml"}
EXTERNAL = re.compile(r"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s"'<>)]*""", re.IGNORECASE)


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", TEMPLATES + STATIC_TEXT, ids=_relative)
def test_no_external_urls(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    found = [url for url in EXTERNAL.findall(text) if url.rstrip("/") not in NAMESPACES]
    assert found == [], f"{_relative(path)} refers to another origin: {found}"


@pytest.mark.parametrize("path", TEMPLATES, ids=_relative)
def test_templates_have_no_inline_script_style_or_handlers(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), "inline <script>"
    assert "<style" not in text
    assert not re.search(r"\sstyle\s*=", text), "style= attribute"
    assert not re.search(r"\son[a-z]+\s*=", text), "on*= event handler"
    assert not re.search(r"hx-on", text), "hx-on attribute"
    assert "javascript:" not in text.lower()


@pytest.mark.parametrize("path", TEMPLATES, ids=_relative)
def test_page_titles_hold_text_only(path: Path) -> None:
    # A title is shown as plain text: markup put there (a script tag) would appear in the browser's tab.
    for title in re.findall(r"{% block title %}(.*?){% endblock %}", path.read_text(encoding="utf-8"), re.DOTALL):
        assert "<" not in title, f"{_relative(path)}: markup in the title block: {title!r}"


def test_vendored_htmx_matches_its_recorded_checksum() -> None:
    table = (ROOT / "static" / "vendor" / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\S+\.js) \|.*\| ([0-9a-f]{64}) \|$", table, flags=re.MULTILINE)
    assert rows, "no checksum rows in static/vendor/README.md"
    vendored = {p.name for p in (ROOT / "static" / "vendor").glob("*.js")}
    assert vendored == {name for name, _ in rows}
    for name, checksum in rows:
        assert hashlib.sha256((ROOT / "static" / "vendor" / name).read_bytes()).hexdigest() == checksum


def test_htmx_is_configured_safely() -> None:
    base = (ROOT / "templates" / "base.html").read_text(encoding="utf-8")
    match = re.search(r"""<meta name="htmx-config" content='([^']+)'>""", base)
    assert match
    config = json.loads(match.group(1))
    assert config["selfRequestsOnly"] is True
    assert config["allowEval"] is False
    assert config["allowScriptTags"] is False
    assert config["includeIndicatorStyles"] is False
    assert config["historyCacheSize"] == 0
    assert re.search(r'<script src="\{\{ static_url\(.vendor/htmx-2\.0\.11\.min\.js.\) \}\}" defer></script>', base)


def test_every_static_reference_exists() -> None:
    for template in TEMPLATES:
        for name in re.findall(r"static_url\('([^']+)'\)", template.read_text(encoding="utf-8")):
            assert (ROOT / "static" / name).is_file(), f"{_relative(template)} refers to missing static/{name}"
