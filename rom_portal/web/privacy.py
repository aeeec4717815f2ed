"""The client's privacy centre: what is stored, consent for research, who looked at their data.

The download and the erasure have their own modules (``data_download``, ``erasure``); this page links to them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from rom_portal.i18n import gettext as _
from rom_portal.labels import audit_is_known, audit_what, audit_who
from rom_portal.models import Role
from rom_portal.services import access_log, consent, personal_data
from rom_portal.services.access_log import Entry, LogPage
from rom_portal.services.audit import Actor
from rom_portal.services.client_area import practice_today
from rom_portal.services.personal_data import NameRefused, NotFound
from rom_portal.web.access import auth_of, require
from rom_portal.web.templating import url

_FORM_MAX = 400  # characters read from a typed field; the rules allow far fewer


def _actor(request: Request) -> Actor:
    route = request.scope.get("route")
    return Actor(auth_of(request).user_id, Role.client.value, f"web:{getattr(route, 'name', '')}")


def _notice(request: Request) -> dict[str, str]:
    """The message after a change, with the section it belongs in (the redirect jumps there, not to the top)."""
    section, text = {
        "name_saved": ("change", _("Your name is saved.")),
        "consent_given": ("research", _("Thank you. Your permission for research is saved.")),
        "consent_withdrawn": ("research", _("Your permission for research is withdrawn.")),
    }.get(request.query_params.get("m", ""), ("", ""))
    return {"section": section, "text": text}


def _back_to_page(request: Request, message: str, section: str) -> Response:
    return RedirectResponse(f"{url(request, 'client_privacy', query={'m': message})}#{section}", status_code=303)


async def _overview(
    request: Request, errors: dict[str, str] | None = None, typed_name: str | None = None, status: int = 200
) -> Response:
    try:
        stored = await request.app.state.db.read(personal_data.stored_data_of, auth_of(request).user_id)
    except NotFound:
        raise HTTPException(404) from None
    context = {
        "stored": stored,
        "errors": errors or {},
        "typed_name": stored.display_name if typed_name is None else typed_name,
        "notice": _notice(request) if status == 200 else {"section": "", "text": ""},
        "statement": consent.RESEARCH_STATEMENT,
        "statement_version": consent.RESEARCH_STATEMENT_VERSION,
    }
    return request.app.state.templates.render(request, "client/privacy.html", context, status_code=status)


@require(Role.client)
async def privacy_page(request: Request) -> Response:
    return await _overview(request)


@require(Role.client)
async def change_name(request: Request) -> Response:
    form = await request.form()
    typed = str(form.get("display_name", ""))[:_FORM_MAX]
    try:
        changed = await request.app.state.db.write(personal_data.rename, _actor(request), typed)
    except NameRefused as refused:
        return await _overview(request, {"display_name": _(refused.args[0])}, typed, status=400)
    except NotFound:
        raise HTTPException(404) from None
    if changed:
        await request.app.state.db.checkpoint()  # SQLite: the old name does not linger in the -wal file
    return _back_to_page(request, "name_saved", "change")


async def _write(request: Request, change: Callable[..., object]) -> None:
    try:
        await request.app.state.db.write(change, _actor(request))
    except NotFound:
        raise HTTPException(404) from None


@require(Role.client)
async def give_consent(request: Request) -> Response:
    form = await request.form()
    if form.get("agree") != "yes":
        message = _("Tick the box if you want to give permission. If you do not want to, you need not do anything.")
        return await _overview(request, {"agree": message}, status=400)
    await _write(request, consent.give_research_consent)
    return _back_to_page(request, "consent_given", "research")


@require(Role.client)
async def withdraw_consent(request: Request) -> Response:
    await _write(request, consent.withdraw_research_consent)
    return _back_to_page(request, "consent_withdrawn", "research")


# --- Who looked at my data ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogRow:
    at: datetime
    who: str
    what: str
    failed: bool
    technical: str  # the row's kind as stored, for kinds without words of their own


def _row(entry: Entry) -> LogRow:
    what, failed = audit_what(entry.who.value, entry.action, entry.object_type, entry.outcome, entry.detail)
    technical = "" if audit_is_known(entry.action, entry.object_type) else f"{entry.action} {entry.object_type}"
    return LogRow(entry.at, audit_who(entry.who.value, entry.name, entry.role), what, failed, technical)


def _page_number(params: QueryParams) -> int:
    typed = params.get("page", "1")
    return int(typed) if typed.isdigit() and len(typed) <= 6 else 1


def _log_links(request: Request, log: LogPage) -> dict[str, str]:
    base = {"from": log.period.start.isoformat(), "to": log.period.end.isoformat()}
    if log.others_only:
        base["who"] = "others"
    links = {}
    if log.page > 1:
        links["newer"] = url(request, "client_privacy_log", query={**base, "page": str(log.page - 1)})
    if log.has_more:
        links["older"] = url(request, "client_privacy_log", query={**base, "page": str(log.page + 1)})
    return links


@require(Role.client)
async def access_log_page(request: Request) -> Response:
    state = request.app.state
    params = request.query_params
    timezone = state.settings.timezone
    period, problem = access_log.parse_period(
        params.get("from", "")[:32], params.get("to", "")[:32], practice_today(timezone)
    )
    others_only = params.get("who") == "others"
    try:
        log = await state.db.read(
            access_log.entries_of, auth_of(request).user_id, period, timezone, _page_number(params), others_only
        )
    except NotFound:
        raise HTTPException(404) from None
    # One audit row per view of this page, written after the read so a view does not list itself.
    await state.db.write(access_log.audit_view, _actor(request))
    context = {
        "log": log,
        "rows": [_row(entry) for entry in log.entries],
        "problem": _(problem) if problem else "",
        "links": _log_links(request, log),
        "page_size": access_log.PAGE_SIZE,
    }
    return state.templates.render(request, "client/privacy_log.html", context)


def routes() -> list[BaseRoute]:
    return [
        Route("/client/privacy", privacy_page, methods=["GET"], name="client_privacy"),
        Route("/client/privacy/name", change_name, methods=["POST"], name="client_privacy_name"),
        Route("/client/privacy/research", give_consent, methods=["POST"], name="client_research_consent"),
        Route(
            "/client/privacy/research/withdraw",
            withdraw_consent,
            methods=["POST"],
            name="client_research_consent_withdraw",
        ),
        Route("/client/privacy/log", access_log_page, methods=["GET"], name="client_privacy_log"),
    ]
