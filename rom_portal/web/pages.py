"""Public pages: start, login, health."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from rom_portal.web.templating import url


async def home(request: Request) -> Response:
    return RedirectResponse(url(request, "login"), status_code=303)


async def login_page(request: Request) -> Response:
    from rom_portal.demo import demo_accounts

    accounts = demo_accounts() if request.app.state.settings.demo else []
    return request.app.state.templates.render(request, "auth/login.html", {"demo_accounts": accounts})


def _ping(session: Session) -> None:
    session.execute(text("SELECT 1"))


async def healthz(request: Request) -> Response:
    """For load balancers: is this worker up and its database reachable? No personal data."""
    try:
        await request.app.state.db.read(_ping)
    except Exception:
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})
