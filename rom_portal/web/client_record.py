"""One client's record for their therapist: scored results over time, reliable change, alerts, settings."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from rom_portal.i18n import N_, current_language
from rom_portal.i18n import gettext as _
from rom_portal.models import Role
from rom_portal.models.base import utcnow
from rom_portal.services import client_record
from rom_portal.services.audit import Actor
from rom_portal.services.client_record import ClientRecord, NotFound
from rom_portal.web.access import auth_of, path_id, require
from rom_portal.web.record_words import RecordWords
from rom_portal.web.templating import url

NOTICES = {
    "acknowledged": N_("The alert is marked as seen."),
    "settings": N_("The settings are saved."),
}


def _actor(request: Request) -> Actor:
    auth = auth_of(request)
    route = request.scope.get("route")
    return Actor(auth.user_id, auth.role.value, access_point=f"web:{getattr(route, 'name', '')}")


def _words(request: Request) -> RecordWords:
    return RecordWords(current_language.get(), request.app.state.settings.timezone)


async def _record(request: Request, object_type: str) -> ClientRecord:
    """The record, then its audit row: read first (a long read holds no lock), audited before it is shown."""
    db = request.app.state.db
    try:
        record = await db.read(
            client_record.record_of,
            request.app.state.catalogue,
            auth_of(request).user_id,
            request.path_params["public_id"],
        )
    except NotFound:
        raise HTTPException(404) from None
    registration_id = record.client.registration_id
    await db.write(client_record.audit_read, _actor(request), object_type, registration_id, registration_id)
    return record


@require(Role.therapist)
async def client_page(request: Request) -> Response:
    record = await _record(request, "results")
    words = _words(request)
    # Shown in the section the change was made in, where the redirect's #fragment takes the reader.
    kind = request.query_params.get("m", "")
    notice = NOTICES.get(kind, "")
    context = {
        "client": record.client,
        "instruments": [words.instrument(one) for one in record.instruments],
        "open_alerts": record.open_alerts,
        "acknowledged_alerts": record.acknowledged_alerts,
        "answer_text": client_record.answer_text,
        "respondent": words.respondent,
        "notice": _(notice) if notice else "",
        "notice_kind": kind if notice else "",
    }
    return request.app.state.templates.render(request, "therapist/client.html", context)


@require(Role.therapist)
async def client_report(request: Request) -> Response:
    record = await _record(request, "report")
    words = _words(request)
    context = {
        "client": record.client,
        "instruments": [words.instrument(one) for one in record.instruments],
        "now": utcnow(),
    }
    return request.app.state.templates.render(request, "therapist/client_report.html", context)


@require(Role.therapist)
async def submission_page(request: Request) -> Response:
    db = request.app.state.db
    try:
        detail = await db.read(
            client_record.submission_of,
            request.app.state.catalogue,
            auth_of(request).user_id,
            request.path_params["public_id"],
            request.path_params["assignment_id"],
        )
    except NotFound:
        raise HTTPException(404) from None
    registration_id = detail.client.registration_id
    await db.write(client_record.audit_read, _actor(request), "submission", detail.submission_id, registration_id)
    words = _words(request)
    context = {"detail": detail, "words": words, "answer_text": client_record.answer_text}
    return request.app.state.templates.render(request, "therapist/client_submission.html", context)


@require(Role.therapist)
async def acknowledge_alert(request: Request) -> Response:
    try:
        public_id = await request.app.state.db.write(
            client_record.acknowledge_alert, _actor(request), path_id(request, "alert_id")
        )
    except NotFound:
        raise HTTPException(404) from None
    target = url(request, "therapist_client", query={"m": "acknowledged"}, public_id=public_id)
    return RedirectResponse(f"{target}#alerts", status_code=303)


@require(Role.therapist)
async def update_settings(request: Request) -> Response:
    form = await request.form()
    public_id = request.path_params["public_id"]
    try:
        await request.app.state.db.write(
            client_record.update_settings,
            _actor(request),
            public_id,
            results_visible=form.get("results_visible") == "1",
            show_name_to_informants=form.get("show_name_to_informants") == "1",
        )
    except NotFound:
        raise HTTPException(404) from None
    target = url(request, "therapist_client", query={"m": "settings"}, public_id=public_id)
    return RedirectResponse(f"{target}#settings", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/therapist/clients/{public_id}", client_page, methods=["GET"], name="therapist_client"),
        Route("/therapist/clients/{public_id}/report", client_report, methods=["GET"], name="therapist_client_report"),
        Route(
            "/therapist/clients/{public_id}/submissions/{assignment_id}",
            submission_page,
            methods=["GET"],
            name="therapist_submission",
        ),
        Route(
            "/therapist/clients/{public_id}/settings",
            update_settings,
            methods=["POST"],
            name="therapist_client_settings",
        ),
        Route(
            "/therapist/alerts/{alert_id:int}/acknowledge",
            acknowledge_alert,
            methods=["POST"],
            name="therapist_alert_acknowledge",
        ),
    ]
