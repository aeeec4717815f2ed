"""The admin area: staff accounts (therapists, researchers, admins). Clients are never listed or reachable here."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from datetime import timedelta
from functools import partial
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from rom_portal.i18n import N_
from rom_portal.i18n import gettext as _
from rom_portal.models import Role
from rom_portal.services import staff
from rom_portal.services.audit import Actor
from rom_portal.web.access import auth_of, path_id, require
from rom_portal.web.templating import url

# Actions that get a confirmation page (GET) before their POST.
CONFIRMED_ACTIONS = ("disable", "reset-password", "reset-2fa")
DONE_MESSAGES = {
    "disable": N_("The account is disabled. Every session of this account has ended."),
    "enable": N_("The account is enabled again. The colleague can log in with their own password."),
    "reset-2fa": N_("Two-factor authentication is reset. At the next login the colleague sets it up again."),
}


def _actor(request: Request) -> Actor:
    auth = auth_of(request)
    return Actor(auth.user_id, auth.role.value)


def _field(form: FormData, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def _code_validity(request: Request) -> timedelta:
    return timedelta(hours=request.app.state.settings.reset_code_hours)


async def _unusable_password_hash(request: Request) -> str:
    # A random password nobody knows: the account cannot be used until its owner sets one with the code.
    # Hashing goes to the capped hashing pool, never the event loop or the database's write turn.
    password_hash: str = await request.app.state.hasher.hash(secrets.token_urlsafe(32))
    return password_hash


def _render(request: Request, name: str, context: Mapping[str, Any], status_code: int = 200) -> Response:
    values = {"staff_roles": staff.STAFF_ROLES, "my_id": auth_of(request).user_id, **context}
    response: Response = request.app.state.templates.render(request, name, values, status_code=status_code)
    return response


async def _account_or_404(request: Request) -> staff.StaffAccount:
    try:
        account: staff.StaffAccount = await request.app.state.db.read(staff.get_staff, path_id(request, "user_id"))
    except staff.StaffNotFound:
        raise HTTPException(404) from None
    return account


async def _home(
    request: Request, values: Mapping[str, str] | None = None, errors: Mapping[str, str] | None = None
) -> Response:
    accounts = await request.app.state.db.read(staff.list_staff)
    context = {"accounts": accounts, "values": values or {}, "errors": errors or {}}
    return _render(request, "admin/home.html", context, status_code=400 if errors else 200)


def _code_page(request: Request, issued: staff.IssuedCode, *, new_account: bool) -> Response:
    # Answered directly (200, never a redirect): the code exists only in this response.
    reset_address = str(request.url_for("reset"))  # in full: the colleague types it in on their own device
    context = {
        "issued": issued,
        "new_account": new_account,
        "reset_address": reset_address,
        "hours": int(issued.valid_for.total_seconds() // 3600),
    }
    return _render(request, "admin/code.html", context)


@require(Role.admin)
async def admin_home(request: Request) -> Response:
    return await _home(request)


@require(Role.admin)
async def create_user(request: Request) -> Response:
    form = await request.form()
    values = {name: _field(form, name) for name in ("username", "role", "display_name")}
    try:
        new = staff.parse_new_staff(values["username"], values["role"], values["display_name"])
        create = partial(
            staff.create_staff, password_hash=await _unusable_password_hash(request), valid_for=_code_validity(request)
        )
        issued = await request.app.state.db.write(create, _actor(request), new)
    except staff.InvalidStaffForm as exc:
        return await _home(request, values, {field: _(message) for field, message in exc.errors.items()})
    except staff.UsernameTaken as exc:
        return await _home(request, values, {"username": _(exc.message)})
    return _code_page(request, issued, new_account=True)


@require(Role.admin)
async def user_page(request: Request) -> Response:
    account = await _account_or_404(request)
    done = DONE_MESSAGES.get(request.query_params.get("done", ""))
    return _render(request, "admin/user.html", {"account": account, "done": done, "error": None})


@require(Role.admin)
async def confirm(request: Request) -> Response:
    action = request.path_params["action"]
    if action not in CONFIRMED_ACTIONS:
        raise HTTPException(404)
    account = await _account_or_404(request)
    return _render(request, "admin/confirm.html", {"account": account, "action": action})


async def _refused(request: Request, error: staff.StaffError) -> Response:
    """The account's page again, saying why the change was refused (nothing was changed)."""
    account = await _account_or_404(request)
    return _render(request, "admin/user.html", {"account": account, "done": None, "error": _(error.message)}, 409)


async def _change(request: Request, change: Callable[..., staff.StaffAccount], done: str) -> Response:
    """Run a change that shows no code, then go back to the account's page (303) saying what happened."""
    user_id: int = path_id(request, "user_id")
    try:
        await request.app.state.db.write(change, _actor(request), user_id)
    except staff.StaffNotFound:
        raise HTTPException(404) from None
    except staff.StaffError as exc:
        return await _refused(request, exc)
    return RedirectResponse(url(request, "admin_user", {"done": done}, user_id=user_id), status_code=303)


@require(Role.admin)
async def disable_user(request: Request) -> Response:
    return await _change(request, staff.disable, "disable")


@require(Role.admin)
async def enable_user(request: Request) -> Response:
    return await _change(request, staff.enable, "enable")


@require(Role.admin)
async def reset_second_factor(request: Request) -> Response:
    return await _change(request, staff.reset_second_factor, "reset-2fa")


@require(Role.admin)
async def reset_password(request: Request) -> Response:
    reset = partial(
        staff.reset_password, password_hash=await _unusable_password_hash(request), valid_for=_code_validity(request)
    )
    try:
        issued = await request.app.state.db.write(reset, _actor(request), path_id(request, "user_id"))
    except staff.StaffNotFound:
        raise HTTPException(404) from None
    except staff.StaffError as exc:
        return await _refused(request, exc)
    return _code_page(request, issued, new_account=False)


def routes() -> list[BaseRoute]:
    user = "/admin/users/{user_id:int}"
    return [
        Route("/admin", admin_home, methods=["GET"], name="admin_home"),
        Route("/admin/users", create_user, methods=["POST"], name="admin_create_user"),
        Route(user, user_page, methods=["GET"], name="admin_user"),
        Route(f"{user}/disable", disable_user, methods=["POST"], name="admin_disable_user"),
        Route(f"{user}/enable", enable_user, methods=["POST"], name="admin_enable_user"),
        Route(f"{user}/reset-password", reset_password, methods=["POST"], name="admin_reset_password"),
        Route(f"{user}/reset-2fa", reset_second_factor, methods=["POST"], name="admin_reset_2fa"),
        # Last: the POST routes above share these paths, and the router tries routes in order.
        Route(f"{user}/{{action}}", confirm, methods=["GET"], name="admin_confirm"),
    ]
