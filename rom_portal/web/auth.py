"""Logging in (password, then the second factor), enrolling a second factor, logging out."""

from __future__ import annotations

from datetime import timedelta

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from rom_portal.i18n import gettext as _
from rom_portal.security import sessions, totp
from rom_portal.services import accounts
from rom_portal.services.accounts import Refusal
from rom_portal.web.access import auth_of, current_auth, home_path, require, safe_next
from rom_portal.web.messages import locked_message
from rom_portal.web.session_middleware import clear_session_cookie, set_session_cookie
from rom_portal.web.templating import url


def _messages() -> dict[str, str]:
    # Translated per request, in the request's language.
    return {
        "logged_out": _("You are logged out."),
        "password_set": _("Your password is set. You can log in now."),
    }


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _field(form: FormData, name: str, limit: int) -> str:
    value = form.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


def _render_login(request: Request, *, username: str = "", error: str = "", status: int = 200) -> Response:
    from rom_portal.demo import demo_accounts, demo_informant

    settings = request.app.state.settings
    return request.app.state.templates.render(
        request,
        "auth/login.html",
        {
            "username": username,
            "error": error,
            "message": _messages().get(request.query_params.get("m", ""), ""),
            "next": safe_next(request.query_params.get("next")) or "",
            "demo_accounts": demo_accounts() if settings.demo else [],
            "demo_informant": demo_informant() if settings.demo else None,
        },
        status_code=status,
    )


async def login_page(request: Request) -> Response:
    auth = current_auth(request)
    if auth is not None and auth.fully_authenticated:
        return RedirectResponse(home_path(request, auth), status_code=303)
    return _render_login(request)


def _refusal_message(refusal: Refusal) -> tuple[str, int]:
    if refusal.code == "locked":
        return locked_message(refusal.locked), 429
    return _("That code is not right. Try again."), 400


async def login_submit(request: Request) -> Response:
    form = await request.form()
    username, password = _field(form, "username", 64), _field(form, "password", 128)
    db, hasher = request.app.state.db, request.app.state.hasher
    lookup = await db.read(accounts.login_lookup, username, _address(request))
    if lookup.locked is not None:
        await hasher.verify(None, password)  # the same work as any other attempt
        return _render_login(request, username=username, error=locked_message(lookup.locked), status=429)
    verification = await hasher.verify(lookup.password_hash, password)
    new_hash = await hasher.hash(password) if verification.ok and verification.needs_rehash else None
    device = sessions.device_label(request.headers.get("user-agent", ""))
    outcome = await db.write(
        accounts.login_finish,
        lookup,
        verification,
        new_hash,
        username=username,
        address=_address(request),
        device=device,
        session_max=timedelta(hours=request.app.state.settings.session_max_hours),
    )
    if isinstance(outcome, Refusal):
        # The same words for an unknown user, a wrong password and a disabled account.
        return _render_login(request, username=username, error=_("The username or password is not right."), status=400)
    previous = current_auth(request)
    if previous is not None:  # never carry a session over a login
        await db.write(sessions.end, previous.session_id)
    next_path = safe_next(_field(form, "next", 300))
    if outcome.user.needs_second_factor:
        target = url(request, "second_factor", query={"next": next_path} if next_path else None)
    else:
        target = next_path or str(request.app.url_path_for("home"))
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, outcome.token)
    return response


@require(second_factor=False)
async def logout(request: Request) -> Response:
    await request.app.state.db.write(accounts.logout, auth_of(request))
    response = RedirectResponse(url(request, "login", query={"m": "logged_out"}), status_code=303)
    clear_session_cookie(request, response)
    response.headers["clear-site-data"] = '"cache", "cookies", "storage"'
    return response


def _after_second_factor(request: Request, form: FormData | None = None) -> str:
    next_path = safe_next(_field(form, "next", 300) if form else request.query_params.get("next"))
    return next_path or str(request.app.url_path_for("home"))


@require(second_factor=False)
async def second_factor(request: Request) -> Response:
    auth = auth_of(request)
    if auth.fully_authenticated and auth.mfa_ok:
        return RedirectResponse(home_path(request, auth), status_code=303)
    if not auth.has_totp:
        return RedirectResponse(url(request, "second_factor_setup"), status_code=303)
    if request.method == "GET":
        return _render_second_factor(request)
    form = await request.form()
    token = await request.app.state.db.write(accounts.verify_second_factor, auth, _field(form, "code", 40))
    if isinstance(token, Refusal):
        message, status = _refusal_message(token)
        return _render_second_factor(request, error=message, status=status)
    response = RedirectResponse(_after_second_factor(request, form), status_code=303)
    set_session_cookie(request, response, token)
    return response


def _render_second_factor(request: Request, *, error: str = "", status: int = 200) -> Response:
    return request.app.state.templates.render(
        request,
        "auth/second_factor.html",
        {"error": error, "next": safe_next(request.query_params.get("next")) or ""},
        status_code=status,
    )


@require(second_factor=False)
async def second_factor_setup(request: Request) -> Response:
    auth = auth_of(request)
    if auth.has_totp:
        return RedirectResponse(home_path(request, auth), status_code=303)
    if request.method == "GET":
        return await _render_setup(request)
    form = await request.form()
    enrolment = await request.app.state.db.write(accounts.confirm_totp, auth, _field(form, "code", 40))
    if isinstance(enrolment, Refusal):
        message, status = _refusal_message(enrolment)
        return await _render_setup(request, error=message, status=status)
    response = request.app.state.templates.render(
        request, "auth/recovery_codes.html", {"codes": enrolment.recovery_codes, "first_time": True}
    )
    set_session_cookie(request, response, enrolment.token)
    return response


async def _render_setup(request: Request, *, error: str = "", status: int = 200) -> Response:
    auth = auth_of(request)
    secret = await request.app.state.db.write(accounts.offer_totp_secret, auth)
    uri = totp.provisioning_uri(secret, auth.username)
    return request.app.state.templates.render(
        request,
        "auth/second_factor_setup.html",
        {
            "qr_svg": totp.qr_svg(uri, _("QR code to scan with your authenticator app")),
            "secret": totp.grouped(secret),
            "error": error,
        },
        status_code=status,
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/login", login_page, methods=["GET"], name="login"),
        Route("/login", login_submit, methods=["POST"], name="login_submit"),
        Route("/logout", logout, methods=["POST"], name="logout"),
        Route("/login/code", second_factor, methods=["GET", "POST"], name="second_factor"),
        Route("/login/code/setup", second_factor_setup, methods=["GET", "POST"], name="second_factor_setup"),
    ]
