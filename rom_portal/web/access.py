"""Who may call an endpoint. Every protected endpoint is wrapped in ``require``.

- Not logged in: pages redirect to the login page, other methods get 403.
- Logged in but the second factor not yet given: only the two-factor pages are reachable.
- Wrong role: 404, so nothing tells a visitor that the page exists.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from rom_portal.models import Role
from rom_portal.security.sessions import Auth

Endpoint = Callable[[Request], Awaitable[Response]]

ROLE_HOMES = {
    Role.client: "client_home",
    Role.therapist: "therapist_home",
    Role.researcher: "research_home",
    Role.admin: "admin_home",
}


def current_auth(request: Request) -> Auth | None:
    return request.scope.get("state", {}).get("auth")


def auth_of(request: Request) -> Auth:
    """For endpoints behind ``require``: the logged-in user."""
    auth = current_auth(request)
    assert auth is not None, "endpoint is not behind require()"
    return auth


ID_MAX = 2**31 - 1  # the largest id an INTEGER column holds on PostgreSQL (and so on both databases)


def path_id(request: Request, name: str) -> int:
    """The integer id in path parameter ``name`` (an ``{name:int}`` route): 404 when no row can have it.

    Outside 1..ID_MAX the database itself would fail (an overflow, a 500) rather than find nothing.
    """
    value = request.path_params.get(name)
    if not isinstance(value, int) or not 1 <= value <= ID_MAX:
        raise HTTPException(404)
    return value


def safe_next(target: str | None) -> str | None:
    """Only a path on this site may be a redirect target (never ``//elsewhere`` or ``https://...``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def home_path(request: Request, auth: Auth) -> str:
    if not auth.fully_authenticated:
        return str(request.app.url_path_for("second_factor"))
    return str(request.app.url_path_for(ROLE_HOMES[auth.role]))


def require(*roles: Role, second_factor: bool = True) -> Callable[[Endpoint], Endpoint]:
    def decorator(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            auth = current_auth(request)
            if auth is None:
                if request.method in ("GET", "HEAD"):
                    login = str(request.app.url_path_for("login"))
                    return RedirectResponse(f"{login}?{urlencode({'next': request.url.path})}", status_code=303)
                raise HTTPException(403)
            if second_factor and not auth.fully_authenticated:
                if request.method in ("GET", "HEAD"):
                    return RedirectResponse(str(request.app.url_path_for("second_factor")), status_code=303)
                raise HTTPException(403)
            if roles and auth.role not in roles:
                raise HTTPException(404)
            return await endpoint(request)

        guarded.required_roles = roles  # type: ignore[attr-defined]  # read by the access-matrix test
        return guarded

    return decorator
