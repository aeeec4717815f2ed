"""Error pages in the portal's layout (403, 404, 405, 413, 500, ...)."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from rom_portal.i18n import gettext as _

log = logging.getLogger("rom_portal")


def _messages(status: int) -> tuple[str, str]:
    if status == 403:
        return _("Not allowed"), _("You are not allowed to do this. Reload the page and try again.")
    if status == 404:
        return _("Page not found"), _("This page does not exist, or you cannot see it.")
    if status == 405:
        return _("Not possible"), _("This page cannot be used this way.")
    if status == 413:
        return _("Too much at once"), _("What you sent is too large. Nothing was saved.")
    if status >= 500:
        return _("Something went wrong"), _("Something went wrong on our side. Please try again in a moment.")
    return _("Request not understood"), _("We could not understand this request. Nothing was changed.")


def render_error(request: Request, status: int) -> Response:
    title, message = _messages(status)
    try:
        return request.app.state.templates.render(
            request, "error.html", {"status": status, "title": title, "message": message}, status_code=status
        )
    except Exception:  # the layout itself failed: still answer, in plain text
        log.exception("error page could not be rendered")
        return PlainTextResponse(f"{status} {title}", status_code=status)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    response = render_error(request, exc.status_code)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def server_error(request: Request, exc: Exception) -> Response:
    # Log the type and where, never request data (it may hold answers).
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc)
    return render_error(request, 500)
