"""Every response carries the security headers of SECURITY.md: pages, errors, static files, HEAD, 413, 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from rom_portal.app import Portal, create_app
from rom_portal.settings import Settings
from tests.conftest import BASE_URL, make_settings

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
FIXED_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "x-frame-options": "DENY",
}


async def _crash(request: Request) -> Response:
    raise RuntimeError("secret detail that must not reach the visitor")


@pytest.fixture
def crashing_client(app: Portal) -> Iterator[TestClient]:
    app.router.routes.append(Route("/__crash", _crash))
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
        yield client


REQUESTS = [
    ("GET", "/login", 200),
    ("HEAD", "/login", 200),
    ("GET", "/", 303),
    ("GET", "/healthz", 200),
    ("GET", "/no-such-page", 404),
    ("HEAD", "/no-such-page", 404),
    ("OPTIONS", "/healthz", 405),
    ("POST", "/login", 403),  # no CSRF token
    ("GET", "/static/css/portal.css", 200),
    ("HEAD", "/static/vendor/htmx-2.0.11.min.js", 200),
    ("GET", "/static/no-such-file.css", 404),
    ("GET", "/__crash", 500),
]


@pytest.mark.parametrize(("method", "path", "status"), REQUESTS)
def test_every_response_carries_the_security_headers(
    crashing_client: TestClient, method: str, path: str, status: int
) -> None:
    response = crashing_client.request(method, path, follow_redirects=False)
    assert response.status_code == status
    for name, value in FIXED_HEADERS.items():
        assert response.headers.get(name) == value, name
    assert "camera=()" in response.headers["permissions-policy"]
    assert "geolocation=()" in response.headers["permissions-policy"]
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert "server" not in response.headers


@pytest.mark.parametrize("path", ["/login", "/no-such-page", "/__crash", "/healthz", "/static/no-such-file.css"])
def test_pages_and_errors_are_never_cached(crashing_client: TestClient, path: str) -> None:
    assert crashing_client.get(path).headers["cache-control"] == "no-store"


def test_static_files_may_be_cached(client: TestClient) -> None:
    assert client.get("/static/css/portal.css").headers["cache-control"].startswith("public")


def test_oversized_body_gets_413_with_headers(client: TestClient, settings: Settings) -> None:
    response = client.post("/login", content=b"x" * (settings.max_body_bytes + 1))
    assert response.status_code == 413
    assert response.headers["content-security-policy"] == CSP


def test_server_error_page_uses_layout_and_hides_the_exception(crashing_client: TestClient) -> None:
    response = crashing_client.get("/__crash")
    assert response.status_code == 500
    assert "Er ging iets mis" in response.text
    assert 'lang="nl"' in response.text
    assert "secret detail" not in response.text
    assert "RuntimeError" not in response.text


def test_not_found_page_is_in_dutch_by_default(client: TestClient) -> None:
    response = client.get("/no-such-page")
    assert "Pagina niet gevonden" in response.text
    assert client.get("/no-such-page?lang=en").text.count("Page not found") >= 1


def test_development_switch_turns_hsts_off(migrated_url: str) -> None:
    app = create_app(make_settings(migrated_url, insecure_http=True))
    with TestClient(app, base_url="http://testserver") as client:
        response = client.get("/login")
    app.state.db.dispose()
    assert "strict-transport-security" not in response.headers
    assert response.headers["content-security-policy"] == CSP


def test_healthz_reports_ok_without_personal_data(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.json() == {"status": "ok"}


def test_healthz_reports_unreachable_database(tmp_path: object) -> None:
    settings = make_settings("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    app = create_app(settings)
    # No lifespan here: the schema check would refuse to start, but a running worker can lose its database.
    client = TestClient(app, base_url=BASE_URL, raise_server_exceptions=False)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
    assert response.headers["content-security-policy"] == CSP
