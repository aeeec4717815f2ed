"""Anonymous pages: registering with an invitation code (``/register``) and a new password with a reset code
(``/reset``)."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from rom_portal.i18n import gettext as _
from rom_portal.security import sessions
from rom_portal.security.throttle import Locked
from rom_portal.services import onboarding, passwords_reset
from rom_portal.web.access import current_auth
from rom_portal.web.messages import locked_message
from rom_portal.web.session_middleware import set_session_cookie
from rom_portal.web.templating import url

# The order of the fields on each form, so the error summary lists problems in the order a person meets them.
SIGNUP_FIELDS = ("code", "username", "display_name", "password", "password_again", "privacy")
RESET_FIELDS = ("username", "code", "password", "password_again")
_PASSWORD_READ_LIMIT = 200  # more than the 128 allowed, so "too long" can be told rather than cut off


def _text(form: FormData, name: str, limit: int) -> str:
    value = form.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _errors(problems: dict[str, str], order: tuple[str, ...], locked: Locked | None) -> dict[str, str]:
    """Translated messages by field, in form order; a lock is told at the code field."""
    translated = {name: _(problems[name]) for name in order if name in problems}
    if locked is not None:
        translated = {"code": locked_message(locked), **{k: v for k, v in translated.items() if k != "code"}}
    return translated


def _render_register(request: Request, typed: onboarding.ClientSignup, errors: dict[str, str], status: int) -> Response:
    return request.app.state.templates.render(
        request, "onboarding/register.html", {"typed": typed, "errors": errors}, status_code=status
    )


async def register_page(request: Request) -> Response:
    return _render_register(request, onboarding.ClientSignup("", "", "", accepted_privacy=False), {}, 200)


async def register_submit(request: Request) -> Response:
    form = await request.form()
    signup = onboarding.ClientSignup.typed(
        _text(form, "code", 60),
        _text(form, "username", 100),
        _text(form, "display_name", 200),
        _text(form, "privacy", 10) == "yes",
    )
    password, again = _text(form, "password", _PASSWORD_READ_LIMIT), _text(form, "password_again", _PASSWORD_READ_LIMIT)
    problems = onboarding.signup_problems(signup, password, again)
    outcome = onboarding.SignupOutcome()
    if "code" not in problems:
        # Hash before the write, so the slow hash never holds a database thread or SQLite's write lock.
        new_hash = None if problems else await request.app.state.hasher.hash(password)
        previous = current_auth(request)
        outcome = await request.app.state.db.write(
            onboarding.register_client,
            signup,
            new_hash,
            address=_address(request),
            device=sessions.device_label(request.headers.get("user-agent", "")),
            locale=request.scope["state"].get("language_from_url"),
            previous_session_id=previous.session_id if previous else None,
        )
        if outcome.token:
            response = RedirectResponse(url(request, "client_home"), status_code=303)
            set_session_cookie(request, response, outcome.token)
            return response
    errors = _errors({**problems, **outcome.problems}, SIGNUP_FIELDS, outcome.locked)
    return _render_register(request, signup, errors, 429 if outcome.locked else 400)


def _render_reset(request: Request, username: str, code: str, errors: dict[str, str], status: int) -> Response:
    return request.app.state.templates.render(
        request, "onboarding/reset.html", {"username": username, "code": code, "errors": errors}, status_code=status
    )


async def reset_page(request: Request) -> Response:
    return _render_reset(request, "", "", {}, 200)


async def reset_submit(request: Request) -> Response:
    form = await request.form()
    username, code = _text(form, "username", 100), _text(form, "code", 60)
    password, again = _text(form, "password", _PASSWORD_READ_LIMIT), _text(form, "password_again", _PASSWORD_READ_LIMIT)
    problems = passwords_reset.form_problems(username, code, password, again)
    if problems:
        return _render_reset(request, username, code, _errors(problems, RESET_FIELDS, None), 400)
    # Always hashed, whoever the username belongs to (or nobody): every attempt takes the same time.
    new_hash = await request.app.state.hasher.hash(password)
    outcome = await request.app.state.db.write(
        passwords_reset.use_reset_code, username, code, new_hash, address=_address(request)
    )
    if outcome.ok:
        return RedirectResponse(url(request, "login", query={"m": "password_set"}), status_code=303)
    errors = _errors({"code": passwords_reset.BAD_RESET}, RESET_FIELDS, outcome.locked)
    return _render_reset(request, username, code, errors, 429 if outcome.locked else 400)


def routes() -> list[BaseRoute]:
    return [
        Route("/register", register_page, methods=["GET"], name="register"),
        Route("/register", register_submit, methods=["POST"], name="register_submit"),
        Route("/reset", reset_page, methods=["GET"], name="reset"),
        Route("/reset", reset_submit, methods=["POST"], name="reset_submit"),
    ]
