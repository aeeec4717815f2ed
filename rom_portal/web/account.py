"""A user's own account: overview, language, password, active sessions, second factor, reminder address."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from rom_portal.i18n import gettext as _
from rom_portal.mail import mask_address
from rom_portal.models import Role
from rom_portal.security.passwords import password_problem
from rom_portal.services import accounts, reminders
from rom_portal.services.accounts import AccountError
from rom_portal.services.audit import Actor
from rom_portal.web.access import auth_of, require
from rom_portal.web.messages import locked_message
from rom_portal.web.session_middleware import set_session_cookie
from rom_portal.web.templating import url


def _notice(request: Request) -> str:
    return {
        "sessions_ended": _("Your other sessions are ended."),
        "password_changed": _("Your password is changed. Your other sessions are ended."),
        "language_saved": _("Your language is saved."),
        "second_factor_removed": _("Two-step verification is off."),
        "reminder_saved": _("Your e-mail address for reminders is saved."),
        "reminder_removed": _("Your e-mail address is removed. You get no more reminders."),
    }.get(request.query_params.get("m", ""), "")


async def _reminder_card(request: Request) -> dict[str, object] | None:
    """For clients: whether they gave an address for reminders (masked), when the card is to be shown at all."""
    auth = auth_of(request)
    if auth.role is not Role.client:
        return None
    address = await request.app.state.db.read(reminders.reminder_address, auth.user_id)
    enabled = request.app.state.settings.reminders_enabled
    if address is None and not enabled:
        return None  # the practice sends no e-mail: nothing to offer
    return {"address": mask_address(address) if address else None, "enabled": enabled}


@require()
async def overview(request: Request) -> Response:
    auth = auth_of(request)
    data = await request.app.state.db.read(accounts.overview, auth)
    context = {"account": data, "auth": auth, "notice": _notice(request), "reminders": await _reminder_card(request)}
    return request.app.state.templates.render(request, "account/overview.html", context)


@require()
async def set_language(request: Request) -> Response:
    form = await request.form()
    language = form.get("language", "")
    try:
        await request.app.state.db.write(accounts.set_language, auth_of(request), str(language))
    except AccountError:
        return RedirectResponse(url(request, "account"), status_code=303)
    return RedirectResponse(f"{request.app.url_path_for('account')}?m=language_saved", status_code=303)


@require()
async def end_other_sessions(request: Request) -> Response:
    await request.app.state.db.write(accounts.end_other_sessions, auth_of(request))
    return RedirectResponse(f"{request.app.url_path_for('account')}?m=sessions_ended", status_code=303)


async def _current_password_problem(request: Request, password: str, wrong: str) -> str | None:
    """None when ``password`` is the user's own; else the message to show. Guesses are throttled."""
    auth = auth_of(request)
    db = request.app.state.db
    check = await db.read(accounts.current_password_lookup, auth)
    if check.locked is not None:
        return locked_message(check.locked)
    verification = await request.app.state.hasher.verify(check.password_hash, password)
    refusal = await db.write(accounts.current_password_finish, auth, verification.ok)
    if refusal is None:
        return None
    return locked_message(refusal.locked) if refusal.code == "locked" else wrong


@require()
async def change_password(request: Request) -> Response:
    auth = auth_of(request)
    if request.method == "GET":
        return request.app.state.templates.render(request, "account/password.html", {"errors": {}})
    form = await request.form()
    current, new, repeat = (str(form.get(name, ""))[:128] for name in ("current", "new", "repeat"))
    errors: dict[str, str] = {}
    current_problem = await _current_password_problem(request, current, _("Your current password is not right."))
    if current_problem:
        errors["current"] = current_problem
    problem = password_problem(new, username=auth.username)
    if problem:
        errors["new"] = _(problem)
    elif new != repeat:
        errors["repeat"] = _("The two new passwords are not the same.")
    if errors:
        return request.app.state.templates.render(request, "account/password.html", {"errors": errors}, status_code=400)
    new_hash = await request.app.state.hasher.hash(new)
    token = await request.app.state.db.write(accounts.change_password, auth, new_hash)
    response = RedirectResponse(f"{request.app.url_path_for('account')}?m=password_changed", status_code=303)
    set_session_cookie(request, response, token)
    return response


@require()
async def new_recovery_codes(request: Request) -> Response:
    auth = auth_of(request)
    if not auth.has_totp:
        return RedirectResponse(url(request, "account"), status_code=303)
    codes = await request.app.state.db.write(accounts.new_recovery_codes, auth)
    return request.app.state.templates.render(
        request, "auth/recovery_codes.html", {"codes": codes, "first_time": False}
    )


@require()
async def remove_second_factor(request: Request) -> Response:
    auth = auth_of(request)
    form = await request.form()
    problem = await _current_password_problem(
        request, str(form.get("remove-password", ""))[:128], _("Your password is not right.")
    )
    if problem:
        data = await request.app.state.db.read(accounts.overview, auth)
        context = {
            "account": data,
            "auth": auth,
            "notice": "",
            "remove_error": problem,
            "reminders": await _reminder_card(request),
        }
        return request.app.state.templates.render(request, "account/overview.html", context, status_code=400)
    try:
        await request.app.state.db.write(accounts.remove_totp, auth)
    except AccountError:
        return RedirectResponse(url(request, "account"), status_code=303)
    return RedirectResponse(f"{request.app.url_path_for('account')}?m=second_factor_removed", status_code=303)


# --- E-mail reminders (clients) ----------------------------------------------------------------------------


def _actor(request: Request) -> Actor:
    auth = auth_of(request)
    return Actor(auth.user_id, auth.role.value)


async def _reminder_page(request: Request, errors: dict[str, str], value: str = "", status_code: int = 200) -> Response:
    address = await request.app.state.db.read(reminders.reminder_address, auth_of(request).user_id)
    context = {
        "address": mask_address(address) if address else None,
        "enabled": request.app.state.settings.reminders_enabled,
        "errors": errors,
        "value": value,
        "notice": _notice(request),
    }
    return request.app.state.templates.render(request, "account/reminders.html", context, status_code=status_code)


@require(Role.client)
async def reminder_address(request: Request) -> Response:
    if request.method == "GET":
        return await _reminder_page(request, {})
    if not request.app.state.settings.reminders_enabled:
        return RedirectResponse(url(request, "reminder_address"), status_code=303)
    form = await request.form()
    address = str(form.get("email", ""))
    try:
        await request.app.state.db.write(reminders.set_address, _actor(request), address)
    except reminders.AddressError:
        message = _("Give one e-mail address, like naam@voorbeeld.nl, without spaces.")
        return await _reminder_page(request, {"email": message}, value=address[:254], status_code=400)
    await request.app.state.db.checkpoint()  # SQLite: no copy of an address given before stays in the -wal file
    return RedirectResponse(f"{request.app.url_path_for('reminder_address')}?m=reminder_saved", status_code=303)


@require(Role.client)
async def remove_reminder_address(request: Request) -> Response:
    if await request.app.state.db.write(reminders.remove_address, _actor(request)):
        await request.app.state.db.checkpoint()  # SQLite: no copy of the address stays in the -wal file
    return RedirectResponse(f"{request.app.url_path_for('reminder_address')}?m=reminder_removed", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/account", overview, methods=["GET"], name="account"),
        Route("/account/language", set_language, methods=["POST"], name="set_language"),
        Route("/account/sessions/end-others", end_other_sessions, methods=["POST"], name="end_other_sessions"),
        Route("/account/password", change_password, methods=["GET", "POST"], name="change_password"),
        Route("/account/recovery-codes", new_recovery_codes, methods=["POST"], name="new_recovery_codes"),
        Route("/account/code/remove", remove_second_factor, methods=["POST"], name="remove_second_factor"),
        Route("/account/reminders", reminder_address, methods=["GET", "POST"], name="reminder_address"),
        Route("/account/reminders/remove", remove_reminder_address, methods=["POST"], name="remove_reminder_address"),
    ]
