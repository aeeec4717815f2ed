"""The therapist's area: their own clients, invitations for new clients, and reset codes.

Pages that show a one-time code answer the POST directly (200, never cached) instead of redirecting: the
code is not stored in clear, so it cannot be shown again later.
"""

from __future__ import annotations

from datetime import timedelta

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from rom_portal.i18n import gettext as _
from rom_portal.models import Role
from rom_portal.services import caseload, client_area, onboarding, passwords_reset
from rom_portal.services.audit import Actor
from rom_portal.services.onboarding import NotFound
from rom_portal.web.access import auth_of, path_id, require
from rom_portal.web.templating import portal_address, url

_CLIENT = "{client}"  # stands in for a client's public id in a path template (no route's own path holds it)


def _actor(request: Request) -> Actor:
    auth = auth_of(request)
    route = request.scope.get("route")
    return Actor(auth.user_id, auth.role.value, access_point=f"web:{getattr(route, 'name', '')}")


def _render(request: Request, name: str, context: dict[str, object], status: int = 200) -> Response:
    return request.app.state.templates.render(request, name, context, status_code=status)


@require(Role.therapist)
async def home(request: Request) -> Response:
    """The caseload: own clients with open alerts, overdue questionnaires and the last measurement."""
    state = request.app.state
    today = client_area.practice_today(state.settings.timezone)
    query = caseload.clean_query(request.query_params.get("q", "")[:400])
    sort = request.query_params.get("sort", caseload.DEFAULT_SORT)
    actor = _actor(request)
    # Read first (on SQLite a write would hold the only writer while hundreds of rows are aggregated), then the
    # one audit row in a short write before the page is shown.
    overview = await state.db.read(caseload.caseload_of, actor, today, query, sort)
    await state.db.write(caseload.audit_read, actor)
    names = {key: state.catalogue[key].abbreviation for key in state.catalogue}
    # Each client's links, made by filling in one path per route: building 2,000 paths one by one through the
    # router (a walk over every route each time) took longer than the whole rest of a 500-client page.
    routes = ("therapist_client", "therapist_client_plans", "therapist_informants", "therapist_client_reset_code")
    paths = {name: url(request, name, public_id=_CLIENT) for name in routes}
    context = {"caseload": overview, "names": names, "paths": paths, "client_placeholder": _CLIENT}
    return _render(request, "therapist/home.html", context)


async def _render_invitations(request: Request, label: str, errors: dict[str, str], status: int) -> Response:
    rows = await request.app.state.db.read(onboarding.invitations_of, auth_of(request).user_id)
    revoked = request.query_params.get("m") == "revoked"
    notice = _("The invitation is revoked. Its code no longer works.") if revoked else ""
    return _render(
        request,
        "therapist/invitations.html",
        {"invitations": rows, "label": label, "errors": errors, "notice": notice},
        status,
    )


@require(Role.therapist)
async def invitations(request: Request) -> Response:
    return await _render_invitations(request, "", {}, 200)


@require(Role.therapist)
async def create_invitation(request: Request) -> Response:
    form = await request.form()
    label = onboarding.clean_text(str(form.get("label", ""))[:400])
    problem = onboarding.label_problem(label)
    if problem:
        return await _render_invitations(request, label, {"label": _(problem)}, 400)
    valid_for = timedelta(days=request.app.state.settings.invitation_days)
    invitation = await request.app.state.db.write(onboarding.create_invitation, _actor(request), label, valid_for)
    path = request.app.url_path_for("register")
    context = {"invitation": invitation, "portal": portal_address(request), "path": path}
    return _render(request, "therapist/invitation_created.html", context)


@require(Role.therapist)
async def revoke_invitation(request: Request) -> Response:
    try:
        await request.app.state.db.write(
            onboarding.revoke_invitation, _actor(request), path_id(request, "invitation_id")
        )
    except NotFound:
        raise HTTPException(404) from None
    return RedirectResponse(url(request, "therapist_invitations", query={"m": "revoked"}), status_code=303)


@require(Role.therapist)
async def client_reset_code(request: Request) -> Response:
    valid_for = timedelta(hours=request.app.state.settings.reset_code_hours)
    try:
        issued = await request.app.state.db.write(
            passwords_reset.issue_for_client, _actor(request), request.path_params["public_id"], valid_for
        )
    except NotFound:
        raise HTTPException(404) from None
    context = {"issued": issued, "portal": portal_address(request), "path": request.app.url_path_for("reset")}
    return _render(request, "therapist/reset_code.html", context)


def routes() -> list[BaseRoute]:
    return [
        Route("/therapist", home, methods=["GET"], name="therapist_home"),
        Route("/therapist/invitations", invitations, methods=["GET"], name="therapist_invitations"),
        Route("/therapist/invitations", create_invitation, methods=["POST"], name="therapist_invitation_create"),
        Route(
            "/therapist/invitations/{invitation_id:int}/revoke",
            revoke_invitation,
            methods=["POST"],
            name="therapist_invitation_revoke",
        ),
        Route(
            "/therapist/clients/{public_id}/reset-code",
            client_reset_code,
            methods=["POST"],
            name="therapist_client_reset_code",
        ),
    ]
