"""Informants (heteroanamnesis): the therapist issues a link and code; the informant opens it and fills in.

The informant has no account. The code form at ``/i/{token}`` starts an informant session that reaches the
``/i/form`` pages (the shared fill-in views) and nothing else: every other area sees an anonymous visitor.
Sending closes the link and ends the session. The thank-you page then carries a signed receipt, valid for
a short while, with which the informant can still have what they sent removed.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from rom_portal.i18n import gettext as _
from rom_portal.models import Role
from rom_portal.security.sessions import InformantAuth
from rom_portal.security.totp import qr_svg
from rom_portal.services import client_record, filling, informants
from rom_portal.services.audit import Actor
from rom_portal.services.onboarding import NotFound, clean_text
from rom_portal.web.access import auth_of, current_auth, require
from rom_portal.web.filling import Target, autosave, save_page, show_done, show_page, show_review
from rom_portal.web.messages import locked_message
from rom_portal.web.session_middleware import clear_session_cookie, set_session_cookie
from rom_portal.web.templating import portal_address, url

INFORMANT_ROLE = "informant"


def _render(request: Request, name: str, context: dict[str, object], status: int = 200) -> Response:
    return request.app.state.templates.render(request, name, context, status_code=status)


def _text(form: FormData, name: str, limit: int) -> str:
    value = form.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


def _access_point(request: Request) -> str:
    return f"web:{getattr(request.scope.get('route'), 'name', '')}"


def _therapist(request: Request) -> Actor:
    auth = auth_of(request)
    return Actor(auth.user_id, auth.role.value, _access_point(request))


# --- Therapist side ---------------------------------------------------------------------------------------


async def _render_informants(
    request: Request, questionnaire: str, relation: str, errors: dict[str, str], status: int
) -> Response:
    catalogue = request.app.state.catalogue
    db = request.app.state.db
    try:
        listing = await db.read(informants.informants_of, auth_of(request).user_id, request.path_params["public_id"])
    except NotFound:
        raise HTTPException(404) from None
    # Read first (no lock held), then the one audit row in a short write, before the page is shown.
    registration_id = listing.registration_id
    await db.write(client_record.audit_read, _therapist(request), "informants", registration_id, registration_id)
    context = {
        "listing": listing,
        "choices": informants.informant_questionnaires(catalogue),
        "names": {key: catalogue[key].abbreviation for key in catalogue},
        "questionnaire": questionnaire,
        "relation": relation,
        "errors": errors,
    }
    return _render(request, "therapist/informants.html", context, status)


@require(Role.therapist)
async def client_informants(request: Request) -> Response:
    return await _render_informants(request, "", "", {}, 200)


@require(Role.therapist)
async def issue_informant(request: Request) -> Response:
    state = request.app.state
    form = await request.form()
    questionnaire = _text(form, "questionnaire", 64)
    relation = clean_text(_text(form, "relation", 400))
    problems = informants.issue_problems(state.catalogue, questionnaire, relation)
    if problems:
        errors = {name: _(message) for name, message in problems.items()}
        return await _render_informants(request, questionnaire, relation, errors, 400)
    actor = _therapist(request)
    valid_for = timedelta(days=state.settings.invitation_days)
    public_id = request.path_params["public_id"]
    try:
        issued = await state.db.write(
            informants.issue, state.catalogue, actor, public_id, questionnaire, relation, valid_for
        )
    except NotFound:
        raise HTTPException(404) from None
    return issued_link_page(request, issued, public_id)


def issued_link_page(
    request: Request, issued: informants.IssuedLink, public_id: str, back: tuple[str, str] | None = None
) -> Response:
    """The new link and code, shown once: answered directly (200, never cached) rather than redirected, since
    neither is stored in clear. ``back``: where the page leads back to, and the words for it."""
    link = portal_address(request) + str(request.app.url_path_for("informant_link", token=issued.token))
    context: dict[str, object] = {
        "issued": issued,
        "link": link,
        "qr": qr_svg(link, _("QR code with the link to the questionnaire")),
        "definition": request.app.state.catalogue[issued.questionnaire_key],
        "public_id": public_id,
    }
    if back is not None:
        context.update(back_url=back[0], back_text=back[1])
    return _render(request, "therapist/informants_issued.html", context)


# --- Informant side ---------------------------------------------------------------------------------------


def _informant(request: Request) -> InformantAuth | None:
    return request.scope.get("state", {}).get("informant")


def _actor(request: Request) -> Actor:
    return Actor(None, INFORMANT_ROLE, _access_point(request))


def _link_closed(request: Request) -> Response:
    """For a visitor without a live informant session: the page that says the link no longer works."""
    if request.method in ("GET", "HEAD"):
        return RedirectResponse(url(request, "informant_closed"), status_code=303)
    return _render(request, "informant/closed.html", {}, 403)


async def _target(request: Request, informant: InformantAuth) -> Target | None:
    try:
        form = await request.app.state.db.lookup(informants.form_of, informant)
    except NotFound:
        return None

    def path(name: str) -> str:
        # With the visitor's ?lang= when the URL chose the language: an informant has no account to keep it.
        return url(request, name)

    return Target(
        assignment=form.assignment,
        actor=_actor(request),
        page_url=path("informant_form"),
        answer_url=path("informant_answer"),
        review_url=path("informant_review"),
        submit_url=path("informant_submit"),
        done_url=path("informant_done"),
        about=form.about,
    )


FormView = Callable[[Request, InformantAuth, Target], Awaitable[Response]]


def _for_informant(view: FormView) -> Callable[[Request], Awaitable[Response]]:
    """Run ``view`` for the informant of this request's session; anyone else is told the link is closed."""

    @functools.wraps(view)
    async def endpoint(request: Request) -> Response:
        informant = _informant(request)
        target = await _target(request, informant) if informant is not None else None
        if informant is None or target is None:
            return _link_closed(request)
        return await view(request, informant, target)

    return endpoint


def _render_code(request: Request, problem: str = "", status: int = 200) -> Response:
    context = {"token": request.path_params["token"], "problem": problem}
    return _render(request, "informant/code.html", context, status)


async def link_page(request: Request) -> Response:
    """The link's own page: the code form. Only a POST looks the link up, so a GET tells nothing."""
    if request.method != "POST":  # GET or HEAD (link previews): never counted as an attempt
        return _render_code(request)
    form = await request.form()
    previous = current_auth(request) or _informant(request)
    opened = await request.app.state.db.write(
        informants.open_link,
        request.app.state.catalogue,
        _actor(request),
        request.path_params["token"][:200],
        _text(form, "code", 100),
        address=request.client.host if request.client else None,
        previous_session_id=previous.session_id if previous else None,
    )
    if opened.locked is not None:
        return _render_code(request, locked_message(opened.locked), 429)
    if opened.token is None:
        problem = _(
            "This link or code does not work. Check the code and try again. Has the link expired, or have the "
            "answers already been sent? Then ask for a new link."
        )
        return _render_code(request, problem, 400)
    going = "informant_remove" if form.get("go") == "remove" else "informant_form"
    response = RedirectResponse(url(request, going), status_code=303)
    set_session_cookie(request, response, opened.token)
    return response


@_for_informant
async def form_page(request: Request, informant: InformantAuth, target: Target) -> Response:
    return await (save_page(request, target) if request.method == "POST" else show_page(request, target))


@_for_informant
async def form_answer(request: Request, informant: InformantAuth, target: Target) -> Response:
    return await autosave(request, target)


@_for_informant
async def form_review(request: Request, informant: InformantAuth, target: Target) -> Response:
    return await show_review(request, target)


def _receipts(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.settings.secret_key, salt="rom-portal.informant.sent")


def _receipt(request: Request, sent: informants.Sent) -> str:
    return str(_receipts(request).dumps([sent.link_id, sent.submission_id]))


def _grant(request: Request, receipt: object) -> tuple[int, int] | None:
    """The (link id, submission id) of a valid receipt; the service checks the window again."""
    if not isinstance(receipt, str) or not receipt or len(receipt) > 200:
        return None
    try:
        value = _receipts(request).loads(receipt, max_age=int(informants.REMOVAL_WINDOW.total_seconds()))
    except BadSignature:
        return None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(part, int) for part in value)):
        return None
    return value[0], value[1]


@_for_informant
async def form_submit(request: Request, informant: InformantAuth, target: Target) -> Response:
    state = request.app.state
    try:
        sent = await state.db.write(informants.submit, state.catalogue, target.actor, informant)
    except filling.Incomplete:
        return await show_review(request, target)
    except informants.Closed:
        return _link_closed(request)
    response = RedirectResponse(url(request, "informant_done", query={"receipt": _receipt(request, sent)}), 303)
    clear_session_cookie(request, response)
    return response


async def _sent_entry(request: Request, receipt: object) -> tuple[str, informants.SentEntry] | None:
    grant = _grant(request, receipt)
    if grant is None:
        return None
    entry = await request.app.state.db.read(informants.sent_entry, request.app.state.catalogue, *grant)
    return (str(receipt), entry) if entry is not None else None


async def form_done(request: Request) -> Response:
    informant = _informant(request)
    if informant is not None:
        target = await _target(request, informant)
        if target is not None:
            return await show_done(request, target)
    sent = await _sent_entry(request, request.query_params.get("receipt"))
    if sent is None:
        return _link_closed(request)
    receipt, entry = sent
    return _render(request, "informant/done.html", {"entry": entry, "receipt": receipt})


async def form_remove(request: Request) -> Response:
    """Remove what the informant entered: from a live session, or with the receipt of their sending."""
    informant = _informant(request)
    if request.method != "POST":  # GET or HEAD: only the confirmation, never the removal itself
        if informant is not None:
            return _render(request, "informant/remove.html", {"receipt": "", "entry": None})
        sent = await _sent_entry(request, request.query_params.get("receipt"))
        if sent is None:
            return _link_closed(request)
        receipt, entry = sent
        return _render(request, "informant/remove.html", {"receipt": receipt, "entry": entry})
    db = request.app.state.db
    if informant is not None:
        removed = await db.write(informants.remove_entry, _actor(request), informant.link_id)
    else:
        form = await request.form()
        grant = _grant(request, form.get("receipt"))
        if grant is None:
            return _link_closed(request)
        link_id, submission_id = grant
        removed = await db.write(informants.remove_entry, _actor(request), link_id, submission_id=submission_id)
    if not removed:
        return _link_closed(request)
    response = RedirectResponse(url(request, "informant_removed"), status_code=303)
    if informant is not None:
        clear_session_cookie(request, response)
    return response


async def link_closed(request: Request) -> Response:
    return _render(request, "informant/closed.html", {})


async def entry_removed(request: Request) -> Response:
    return _render(request, "informant/removed.html", {})


def routes() -> list[BaseRoute]:
    therapist_base = "/therapist/clients/{public_id}/informants"
    return [
        Route(therapist_base, client_informants, methods=["GET"], name="therapist_informants"),
        Route(therapist_base, issue_informant, methods=["POST"], name="therapist_informant_issue"),
        Route("/i/form", form_page, methods=["GET", "POST"], name="informant_form"),
        Route("/i/form/answer", form_answer, methods=["POST"], name="informant_answer"),
        Route("/i/form/review", form_review, methods=["GET"], name="informant_review"),
        Route("/i/form/submit", form_submit, methods=["POST"], name="informant_submit"),
        Route("/i/form/done", form_done, methods=["GET"], name="informant_done"),
        Route("/i/form/remove", form_remove, methods=["GET", "POST"], name="informant_remove"),
        Route("/i/closed", link_closed, methods=["GET"], name="informant_closed"),
        Route("/i/removed", entry_removed, methods=["GET"], name="informant_removed"),
        # Last: "form", "closed" and "removed" above are not tokens.
        Route("/i/{token}", link_page, methods=["GET", "POST"], name="informant_link"),
    ]
