"""(being written) The client's area: home and own results."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from rom_portal.models import Role
from rom_portal.web.access import require


@require(Role.client)
async def client_home(request: Request) -> Response:
    return request.app.state.templates.render(request, "client/home.html")


def routes() -> list[BaseRoute]:
    return [Route("/client", client_home, name="client_home")]
