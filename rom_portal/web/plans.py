"""The therapist's measurement plans for one client: questionnaires once or every N weeks, and their occasions.

Every route finds the client through the therapist's own caseload (404 otherwise). Writes answer 303 back to
the plans page with a notice; a form with mistakes comes back (400) with every field as typed.
"""

from __future__ import annotations

from datetime import date, timedelta

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from rom_portal.i18n import N_
from rom_portal.i18n import gettext as _
from rom_portal.models import Role
from rom_portal.services import client_record, informants, plan_form, plans
from rom_portal.services.audit import Actor
from rom_portal.services.client_area import practice_today
from rom_portal.services.onboarding import NotFound
from rom_portal.web.access import auth_of, require
from rom_portal.web.informants import issued_link_page
from rom_portal.web.templating import url

NOTICES = {
    "created": N_("The plan is made. Its questionnaires are ready for their dates."),
    "changed": N_("The plan is changed."),
    "cancelled": N_("The plan is cancelled. Questionnaires nobody had started are removed."),
    "was-cancelled": N_("This plan was already cancelled."),
    "already-sent": N_("The informant has already sent this questionnaire."),
}


def _actor(request: Request) -> Actor:
    auth = auth_of(request)
    return Actor(auth.user_id, auth.role.value, f"web:{getattr(request.scope.get('route'), 'name', '')}")


def _today(request: Request) -> date:
    return practice_today(request.app.state.settings.timezone)


def _back(request: Request, notice: str, anchor: str = "") -> Response:
    target = url(request, "therapist_client_plans", query={"m": notice}, public_id=request.path_params["public_id"])
    return RedirectResponse(target + anchor, status_code=303)


async def _render(
    request: Request,
    typed: plan_form.PlanTyped | None = None,
    errors: dict[str, str] | None = None,
    change: tuple[str, plan_form.RepeatTyped, dict[str, str]] | None = None,
    status: int = 200,
) -> Response:
    """The plans page; with ``errors`` the new-plan form, with ``change`` one plan's change form, as typed."""
    state = request.app.state
    actor = _actor(request)
    try:
        listing = await state.db.read(plans.plans_of, actor, request.path_params["public_id"], _today(request))
    except NotFound:
        raise HTTPException(404) from None
    # Read first (holding no lock), then the audit row in a short write, before the page is shown.
    registration_id = listing.registration_id
    await state.db.write(client_record.audit_read, actor, "measurement_plans", registration_id, registration_id)
    changing, change_typed, change_errors = change or ("", plan_form.RepeatTyped(), {})
    notice = NOTICES.get(request.query_params.get("m", ""), "")
    summary = dict(errors or {})
    summary.update({f"change-{changing}-{field}": message for field, message in change_errors.items()})
    context = {
        "listing": listing,
        "catalogue": state.catalogue,
        "choices": [state.catalogue[key] for key in state.catalogue],
        "typed": typed or plan_form.PlanTyped(start=_today(request).isoformat()),
        "errors": errors or {},
        "summary": summary,
        "changing": changing,
        "change_typed": change_typed,
        "change_errors": change_errors,
        "notice": _(notice) if notice else "",
        "today": _today(request),
        "max_occasions": plans.MAX_OCCASIONS,
    }
    return state.templates.render(request, "therapist/plans.html", context, status_code=status)


@require(Role.therapist)
async def client_plans(request: Request) -> Response:
    return await _render(request)


@require(Role.therapist)
async def create_plan(request: Request) -> Response:
    state = request.app.state
    typed = plan_form.typed_plan(await request.form())
    spec, problems = plan_form.read_plan(state.catalogue, typed, _today(request), state.settings.timezone)
    if spec is None:
        return await _render(request, typed, problems, status=400)
    try:
        await state.db.write(
            plans.create_plan, state.catalogue, _actor(request), request.path_params["public_id"], spec, _today(request)
        )
    except NotFound:
        raise HTTPException(404) from None
    return _back(request, "created")


@require(Role.therapist)
async def change_plan(request: Request) -> Response:
    state = request.app.state
    plan_id = request.path_params["plan_id"]
    typed = plan_form.typed_repeat(await request.form())
    repeat, problems = plan_form.read_repeat(typed)
    if repeat is not None:
        try:
            await state.db.write(
                plans.change_plan,
                state.catalogue,
                _actor(request),
                request.path_params["public_id"],
                plan_id,
                repeat,
                _today(request),
            )
        except NotFound:
            raise HTTPException(404) from None
        except plans.Cancelled:
            return _back(request, "was-cancelled")
        except plans.Refused as refused:
            problems = {refused.field: plan_form.refusal_message(refused, state.settings.timezone)}
        else:
            return _back(request, "changed", f"#plan-{plan_id}")
    return await _render(request, change=(plan_id, typed, problems), status=400)


@require(Role.therapist)
async def cancel_plan(request: Request) -> Response:
    try:
        cancelled = await request.app.state.db.write(
            plans.cancel_plan, _actor(request), request.path_params["public_id"], request.path_params["plan_id"]
        )
    except NotFound:
        raise HTTPException(404) from None
    return _back(request, "cancelled" if cancelled else "was-cancelled")


@require(Role.therapist)
async def occasion_link(request: Request) -> Response:
    """A link and code for the informant of one planned occasion, shown once (200, never cached)."""
    state = request.app.state
    public_id = request.path_params["public_id"]
    valid_for = timedelta(days=state.settings.invitation_days)
    try:
        issued = await state.db.write(
            informants.issue_for_assignment,
            _actor(request),
            public_id,
            request.path_params["occasion_id"],
            valid_for,
            _today(request),
        )
    except NotFound:
        raise HTTPException(404) from None
    except informants.AlreadySent:
        return _back(request, "already-sent")
    back = url(request, "therapist_client_plans", public_id=public_id)
    words = _("Back to the plans of %(name)s") % {"name": issued.client_name}
    return issued_link_page(request, issued, public_id, (back, words))


def routes() -> list[BaseRoute]:
    base = "/therapist/clients/{public_id}/plans"
    return [
        Route(base, client_plans, methods=["GET"], name="therapist_client_plans"),
        Route(base, create_plan, methods=["POST"], name="therapist_plan_create"),
        Route(base + "/{plan_id}/change", change_plan, methods=["POST"], name="therapist_plan_change"),
        Route(base + "/{plan_id}/cancel", cancel_plan, methods=["POST"], name="therapist_plan_cancel"),
        Route(
            base + "/occasions/{occasion_id}/link",
            occasion_link,
            methods=["POST"],
            name="therapist_plan_occasion_link",
        ),
    ]
