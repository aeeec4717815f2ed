"""Download all my data: one zip of everything linked to the client, streamed as it is read."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import anyio
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from rom_portal.i18n import current_language
from rom_portal.i18n import gettext as _
from rom_portal.models import Role
from rom_portal.services import data_export
from rom_portal.services.audit import Actor
from rom_portal.services.client_area import practice_today
from rom_portal.web.access import auth_of, require
from rom_portal.web.thread_stream import ChunkPipe, ThreadStreamResponse

log = logging.getLogger("rom_portal.download")

# A download holds a database connection and a read transaction while it streams (about a second for 1,000
# questionnaires; a browser that stops reading is given up after a minute). The pool has a connection for each
# database thread and two more: those are for the downloads (on SQLite, a small read on the event loop may then
# briefly wait for a database thread to hand back its connection). A further download waits for a free slot
# for at most SLOT_WAIT_SECONDS, then gets 503 with Retry-After, before anything is read or sent; every
# download ends after DOWNLOAD_SECONDS, however slowly it is read, so no one can hold a slot for ever.
DOWNLOADS_AT_ONCE = 2
SLOT_WAIT_SECONDS = 10.0
DOWNLOAD_SECONDS = 600.0
RETRY_AFTER_SECONDS = 30


def _slots(state: Any) -> anyio.CapacityLimiter:
    """The downloads running in this process (one limiter per app, made on first use)."""
    slots = getattr(state, "download_slots", None)
    if slots is None:
        slots = state.download_slots = anyio.CapacityLimiter(DOWNLOADS_AT_ONCE)
    return slots


class _SlottedDownload(ThreadStreamResponse):
    """A download holding one of the slots until it ends, and ended at its deadline."""

    def __init__(self, produce: Callable[[ChunkPipe], None], slot: _Slot, **kwargs: Any) -> None:
        # The slot already bounds the downloads; the worker thread needs a limiter of its own to run in.
        super().__init__(produce, limiter=anyio.CapacityLimiter(1), **kwargs)
        self.slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            with anyio.move_on_after(DOWNLOAD_SECONDS) as deadline:
                await super().__call__(scope, receive, send)
            if deadline.cancelled_caught:
                log.warning("a download was stopped after %.0f seconds", DOWNLOAD_SECONDS)
        finally:
            self.slot.release()


class _Slot:
    def __init__(self, slots: anyio.CapacityLimiter) -> None:
        self.slots = slots
        self.held = False

    async def take(self) -> bool:
        with anyio.move_on_after(SLOT_WAIT_SECONDS):
            await self.slots.acquire_on_behalf_of(self)
            self.held = True
        return self.held

    def release(self) -> None:
        if self.held:
            self.held = False
            self.slots.release_on_behalf_of(self)


def _busy(request: Request) -> Response:
    context = {
        "status": 503,
        "title": _("Downloading is busy right now"),
        "message": _("Other people are downloading their information at this moment. Try again in a minute."),
    }
    response: Response = request.app.state.templates.render(request, "error.html", context, status_code=503)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _attachment(name: str) -> str:
    return f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"


@require(Role.client)
async def download(request: Request) -> Response:
    slot = _Slot(_slots(request.app.state))
    if not await slot.take():
        return _busy(request)
    try:
        return await _start(request, slot)
    except BaseException:
        slot.release()
        raise


async def _start(request: Request, slot: _Slot) -> Response:
    auth = auth_of(request)
    actor = Actor(auth.user_id, auth.role.value, access_point="web:client_data_download")
    db = request.app.state.db
    try:
        await db.write(data_export.audit_export, actor)
    except data_export.NotFound:
        raise HTTPException(404) from None
    settings = request.app.state.settings
    catalogue = request.app.state.catalogue
    lang = current_language.get()

    def produce(pipe: ChunkPipe) -> None:
        with db.session() as session:
            data_export.begin_snapshot(session)
            data_export.write_export(
                session,
                catalogue,
                auth.user_id,
                lang=lang,
                timezone=settings.timezone,
                default_language=settings.default_language,
                sink=pipe,
            )

    name = data_export.file_name(practice_today(settings.timezone))
    return _SlottedDownload(
        produce,
        slot,
        media_type="application/zip",
        headers={"Content-Disposition": _attachment(name)},
    )


def routes() -> list[BaseRoute]:
    return [Route("/client/privacy/download", download, methods=["GET"], name="client_data_download")]
