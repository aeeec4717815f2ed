"""One client's record for their therapist: scored results over time, reliable change, alerts, settings."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from rom_portal.models import Role
from rom_portal.web.access import require


@require(Role.therapist)
async def client_page(request: Request) -> Response:
    raise NotImplementedError  # built by the therapist-workspace work


def routes() -> list[BaseRoute]:
    return [Route("/therapist/clients/{public_id}", client_page, methods=["GET"], name="therapist_client")]
