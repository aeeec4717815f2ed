"""Erasing a registration: by the client, or by their therapist or an admin on request. Leaves nothing behind.

Every way ends on the same receipt page (a random id, the date, how much was removed), answered directly with
200: for the client there is no session left to redirect into.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from rom_portal.i18n import N_
from rom_portal.i18n import gettext as _
from rom_portal.models import Role
from rom_portal.services import accounts, erasure
from rom_portal.services.accounts import Refusal
from rom_portal.services.audit import Actor
from rom_portal.services.erasure import ErasureCandidate, Receipt
from rom_portal.services.erasure_ledger import ErasureLedger, LedgerNotSet
from rom_portal.services.onboarding import NotFound
from rom_portal.web.access import auth_of, require
from rom_portal.web.messages import locked_message
from rom_portal.web.session_middleware import clear_session_cookie

log = logging.getLogger("rom_portal.erasure")

RECEIPT_LABELS = {
    "profile": N_("Profile: username, roepnaam, password and settings"),
    "consents": N_("Consents"),
    "plans": N_("Measurement plans"),
    "questionnaires": N_("Questionnaires given"),
    "submissions": N_("Questionnaires filled in (also unfinished ones)"),
    "answers": N_("Answers"),
    "scores": N_("Scores"),
    "alerts": N_("Alerts for the therapist"),
    "informant_links": N_("Links for informants"),
    "reminders": N_("Reminder e-mails sent"),
    "sessions": N_("Login sessions"),
    "audit_events": N_("Entries in the access log"),
    "other": N_("Other records (recovery codes, login attempts, invitation)"),
}
CONFIRM = "yes"


def _actor(request: Request) -> Actor:
    auth = auth_of(request)
    route = request.scope.get("route")
    return Actor(auth.user_id, auth.role.value, access_point=f"web:{getattr(route, 'name', '')}")


def _field(form: FormData, name: str, limit: int) -> str:
    value = form.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


def _ledger(request: Request) -> ErasureLedger | None:
    try:
        return ErasureLedger.of(request.app.state.settings)
    except LedgerNotSet as exc:
        log.error("erasure refused: %s", exc)
        return None


def _render(request: Request, name: str, context: Mapping[str, Any], status_code: int = 200) -> Response:
    response: Response = request.app.state.templates.render(request, name, context, status_code=status_code)
    return response


def _receipt_page(request: Request, receipt: Receipt, *, audience: str) -> Response:
    rows = [(_(RECEIPT_LABELS[kind]), count) for kind, count in receipt.counts.items()]
    return _render(request, "erasure/receipt.html", {"receipt": receipt, "rows": rows, "audience": audience})


async def _after_erasure(request: Request) -> None:
    await erasure.empty_write_ahead_log(request.app.state.db)


# --- The client -----------------------------------------------------------------------------------------------


def _client_form(request: Request, errors: Mapping[str, str], status_code: int = 200) -> Response:
    context = {
        "errors": errors,
        "has_totp": auth_of(request).has_totp,
        "available": _ledger(request) is not None,
    }
    return _render(request, "erasure/client.html", context, status_code)


def _form_problems(form: FormData, has_totp: bool, confirm_problem: str) -> dict[str, str]:
    problems = {}
    if not _field(form, "password", 128):
        problems["password"] = _("Fill in your password.")
    if has_totp and not _field(form, "code", 40).strip():
        problems["code"] = _("Fill in the code from your authenticator app.")
    if _field(form, "confirm", 8) != CONFIRM:
        problems["confirm"] = confirm_problem
    return problems


def _refusal_problem(refusal: Refusal) -> dict[str, str]:
    if refusal.code == "locked":
        return {"password": locked_message(refusal.locked)}
    if refusal.code == "code_locked":
        return {"code": locked_message(refusal.locked)}
    if refusal.code == "wrong_code":
        return {"code": _("This code is not right. Nothing was deleted.")}
    return {"password": _("Your password is not right. Nothing was deleted.")}


async def _password_ok(request: Request, form: FormData) -> bool | dict[str, str]:
    """Whether the password typed again is the account's own; a problem when guessing is locked for now."""
    check = await request.app.state.db.read(accounts.current_password_lookup, auth_of(request))
    if check.locked is not None:
        return {"password": locked_message(check.locked)}
    verification = await request.app.state.hasher.verify(check.password_hash, _field(form, "password", 128))
    return bool(verification.ok)


async def _erase_own(request: Request, form: FormData, ledger: ErasureLedger) -> Receipt | dict[str, str]:
    auth = auth_of(request)
    password_ok = await _password_ok(request, form)
    if isinstance(password_ok, dict):
        return password_ok
    access_point = _actor(request).access_point
    try:
        outcome = await request.app.state.db.write(
            erasure.erase_own_registration, auth, password_ok, _field(form, "code", 40), ledger, access_point
        )
    except NotFound:  # erased already, by a request sent at the same time
        raise HTTPException(404) from None
    if isinstance(outcome, Refusal):
        return _refusal_problem(outcome)
    return outcome


@require(Role.client)
async def client_erase(request: Request) -> Response:
    ledger = _ledger(request)
    if request.method == "GET" or ledger is None:
        return _client_form(request, {}, 200 if request.method == "GET" else 503)
    form = await request.form()
    confirm_problem = _("Tick the box to confirm that you want to delete your registration.")
    problems = _form_problems(form, auth_of(request).has_totp, confirm_problem)
    outcome = problems or await _erase_own(request, form, ledger)
    if not isinstance(outcome, Receipt):
        return _client_form(request, outcome, 400)
    await _after_erasure(request)
    request.scope["state"]["auth"] = None  # the session is gone: the receipt is shown as to a visitor
    response = _receipt_page(request, outcome, audience="client")
    clear_session_cookie(request, response)
    response.headers["clear-site-data"] = '"cache", "cookies", "storage"'
    return response


# --- Staff: a therapist for their own clients, an admin for any client --------------------------------------


def _confirm_page(
    request: Request, candidate: ErasureCandidate, errors: Mapping[str, str] | None = None, status_code: int = 200
) -> Response:
    context = {
        "candidate": candidate,
        "errors": errors or {},
        "has_totp": auth_of(request).has_totp,
        "available": _ledger(request) is not None,
        "audience": auth_of(request).role.value,
    }
    return _render(request, "erasure/staff_confirm.html", context, status_code)


async def _staff_erase(
    request: Request, erase: Callable[..., Receipt | Refusal], public_id: str
) -> Receipt | dict[str, str] | None:
    """Erase for a staff member who ticked the confirmation and gave their password and code again.

    None when no ledger is configured (the page says erasure is not possible here); problems when refused.
    NotFound passes through: a client out of reach, or erased already.
    """
    ledger = _ledger(request)
    if ledger is None:
        return None
    form = await request.form()
    problems = _form_problems(
        form, auth_of(request).has_totp, _("Tick the box to confirm that the client asked for this.")
    )
    if problems:
        return problems
    password_ok = await _password_ok(request, form)
    if isinstance(password_ok, dict):
        return password_ok
    proof = erasure.StaffProof(auth_of(request), _actor(request), password_ok, _field(form, "code", 40))
    outcome = await request.app.state.db.write(erase, proof, public_id, ledger)
    return _refusal_problem(outcome) if isinstance(outcome, Refusal) else outcome


@require(Role.therapist)
async def therapist_erase(request: Request) -> Response:
    db = request.app.state.db
    public_id = str(request.path_params["public_id"])
    problems: Mapping[str, str] = {}
    try:
        if request.method == "POST":
            outcome = await _staff_erase(request, erasure.erase_for_therapist, public_id)
            if isinstance(outcome, Receipt):
                await _after_erasure(request)
                return _receipt_page(request, outcome, audience="therapist")
            problems = outcome or {}
        candidate = await db.write(erasure.therapist_candidate, _actor(request), public_id)
    except NotFound:
        raise HTTPException(404) from None
    return _confirm_page(request, candidate, problems, 400 if request.method == "POST" else 200)


@require(Role.admin)
async def admin_find(request: Request) -> Response:
    """Step 1: the admin names the client by username, as the request names them."""
    if request.method == "GET":
        return _render(request, "erasure/admin_find.html", {"errors": {}, "username": ""})
    username = _field(await request.form(), "username", 64).strip()
    try:
        candidate = await request.app.state.db.write(erasure.admin_candidate, _actor(request), username)
    except NotFound:
        errors = {"username": _("There is no client with this username. Check the spelling.")}
        return _render(request, "erasure/admin_find.html", {"errors": errors, "username": username}, 400)
    return _confirm_page(request, candidate)


@require(Role.admin)
async def admin_erase(request: Request) -> Response:
    """Step 2: erase, once the admin ticked that the client asked for it and gave their password and code."""
    db = request.app.state.db
    public_id = _field(await request.form(), "registration", 24)
    try:
        outcome = await _staff_erase(request, erasure.erase_for_admin, public_id)
        if isinstance(outcome, Receipt):
            await _after_erasure(request)
            return _receipt_page(request, outcome, audience="admin")
        candidate = await db.write(erasure.admin_candidate, _actor(request), public_id=public_id)
    except NotFound:
        raise HTTPException(404) from None
    return _confirm_page(request, candidate, outcome, 400)


def routes() -> list[BaseRoute]:
    return [
        Route("/client/privacy/erase", client_erase, methods=["GET", "POST"], name="client_erase"),
        Route("/therapist/clients/{public_id}/erase", therapist_erase, methods=["GET", "POST"], name="therapist_erase"),
        Route("/admin/erasures", admin_find, methods=["GET", "POST"], name="admin_erasure"),
        Route("/admin/erasures/erase", admin_erase, methods=["POST"], name="admin_erase"),
    ]
