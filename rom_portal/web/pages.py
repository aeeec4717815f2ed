"""Public pages: start, login, health."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from rom_portal.services.consent import PRIVACY_STATEMENT_VERSION
from rom_portal.web.access import current_auth, home_path
from rom_portal.web.templating import url


async def home(request: Request) -> Response:
    auth = current_auth(request)
    if auth is None:
        return RedirectResponse(url(request, "login"), status_code=303)
    return RedirectResponse(home_path(request, auth), status_code=303)


async def privacy_statement(request: Request) -> Response:
    return request.app.state.templates.render(
        request, "privacy_statement.html", {"statement_version": PRIVACY_STATEMENT_VERSION}
    )


def _ping(session: Session) -> None:
    session.execute(text("SELECT 1"))


async def healthz(request: Request) -> Response:
    """For load balancers: is this worker up and its database reachable? No personal data."""
    try:
        await request.app.state.db.read(_ping)
    except Exception:
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})
