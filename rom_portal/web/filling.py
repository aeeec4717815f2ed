"""Filling in a questionnaire, page by page, with every answer saved as it is given.

The same views serve clients (their own assignments) and informants (the one assignment of their link):
each area finds its assignment and hands a ``Target`` to the functions here. Every page also works as a
plain form without JavaScript; with htmx each answer is posted on change and acknowledged in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from rom_portal.i18n import current_language
from rom_portal.i18n import gettext as _
from rom_portal.models import Assignment, Role
from rom_portal.questionnaires import Item, Questionnaire, visible_items
from rom_portal.services import filling
from rom_portal.services.audit import Actor
from rom_portal.services.client_area import practice_today
from rom_portal.web.access import auth_of, require

FIELD_PREFIX = "item-"
PRESENT_SUFFIX = "-shown"  # marks a checkbox group that was on the page, so "none ticked" can clear it


@dataclass(frozen=True)
class Target:
    """What is being filled in, by whom, and where its pages live."""

    assignment: Assignment
    actor: Actor
    page_url: str
    answer_url: str
    review_url: str
    submit_url: str
    done_url: str
    about: str | None = None  # for informants: the roepnaam of the client the questionnaire is about
    back_url: str | None = None
    draft: filling.Draft | None = None  # read together with the assignment, when the view shows the page as is

    def page_at(self, number: int) -> str:
        """The address of page ``number`` (the URLs may already carry a query, e.g. an informant's ?lang=en)."""
        return f"{self.page_url}{'&' if '?' in self.page_url else '?'}page={number}"


def problem_message(item: Item | None, core_message: str) -> str:
    """Words for the respondent; the core's message is for developers and logs."""
    if item is None or core_message == "unknown item":
        return _("This question does not belong to this questionnaire. Nothing was saved.")
    if core_message == "broken text":
        return _("This answer could not be read. Please give it again.")
    if item.type in ("single_choice", "multiple_choice"):
        return _("Choose one of the answers.")
    if item.type == "number":
        low, high = getattr(item, "min", None), getattr(item, "max", None)
        if low is not None and high is not None:
            return _("Fill in a number from %(low)s to %(high)s.") % {"low": low, "high": high}
        return _("Fill in a number.")
    if item.type in ("short_text", "long_text"):
        if "characters" in core_message:
            return _("Use at most %(count)s characters.") % {"count": getattr(item, "max_length", "")}
        return _("This answer could not be read. Please give it again.")
    if item.type == "date":
        return _("Fill in a date, for example 31-12-2025.")
    return _("This answer could not be saved.")


def _raw_value(form: FormData, item: Item) -> Any:
    name = FIELD_PREFIX + item.id
    if item.type == "multiple_choice":
        return [value for value in form.getlist(name) if isinstance(value, str)]
    value = form.get(name)
    return value if isinstance(value, str) else None


def _broken(value: Any) -> bool:
    """Text that arrived with bytes that are not UTF-8 (the parser put U+FFFD in their place)."""
    values = value if isinstance(value, list) else [value]
    return any(isinstance(one, str) and "\ufffd" in one for one in values)


def _page_number(request: Request, pages: int, default: int) -> int:
    try:
        number = int(request.query_params.get("page", default))
    except ValueError:
        number = default
    return min(max(number, 0), pages - 1)


def _context(request: Request, target: Target, definition: Questionnaire, draft: filling.Draft) -> dict[str, Any]:
    visible = visible_items(definition, draft.answers)
    questions = [item for item in visible if item.type != "instruction"]
    return {
        "target": target,
        "definition": definition,
        "lang": current_language.get(),
        "answers": draft.answers,
        "visible_ids": {item.id for item in visible},
        "answered": sum(1 for item in questions if item.id in draft.answers),
        "total": len(questions),
    }


async def show_page(
    request: Request, target: Target, *, errors: dict[str, str] | None = None, status: int = 200
) -> Response:
    state = request.app.state
    draft = target.draft if target.draft is not None else await state.db.read(filling.load_draft, target.assignment)
    if draft.submitted:
        return RedirectResponse(target.done_url, status_code=303)
    definition = filling.definition_of(state.catalogue, target.assignment)
    pages = filling.pages_of(definition)
    number = _page_number(request, len(pages), draft.submission.page if draft.submission else 0)
    context = _context(request, target, definition, draft)
    context.update(page_items=pages[number], page=number, pages=len(pages), errors=errors or {})
    return state.templates.render(request, "fill/page.html", context, status_code=status)


async def save_page(request: Request, target: Target) -> Response:
    """The page posted as a whole (without JavaScript, or the Next/Previous buttons)."""
    state = request.app.state
    form = await request.form()
    definition = filling.definition_of(state.catalogue, target.assignment)
    pages = filling.pages_of(definition)
    number = _page_number(request, len(pages), 0)
    on_page = {item.id: item for item in pages[number] if item.type != "instruction"}
    posted = {
        key.removeprefix(FIELD_PREFIX).removesuffix(PRESENT_SUFFIX) for key in form if key.startswith(FIELD_PREFIX)
    }
    if posted - set(on_page):
        # A question from elsewhere (or nowhere): a tampered form. Save nothing, say so.
        return await show_page(request, target, errors={"": problem_message(None, "unknown item")}, status=400)
    raw = {}
    for item_id, item in on_page.items():
        present = FIELD_PREFIX + item_id in form or FIELD_PREFIX + item_id + PRESENT_SUFFIX in form
        if present:
            raw[item_id] = _raw_value(form, item)
    broken = {item_id: "broken text" for item_id, value in raw.items() if _broken(value)}
    raw = {item_id: value for item_id, value in raw.items() if item_id not in broken}
    try:
        problems = await state.db.write(filling.save_answers, state.catalogue, target.assignment, raw, page=number)
    except filling.Locked:
        return RedirectResponse(target.done_url, status_code=303)
    problems.update(broken)
    if problems:
        errors = {item_id: problem_message(on_page.get(item_id), message) for item_id, message in problems.items()}
        return await show_page(request, target, errors=errors, status=400)
    go = form.get("go", "next")
    if go == "review" or (go == "next" and number == len(pages) - 1):
        return RedirectResponse(target.review_url, status_code=303)
    following = number + (1 if go == "next" else -1 if go == "previous" else 0)
    following = min(max(following, 0), len(pages) - 1)
    return RedirectResponse(target.page_at(following), status_code=303)


async def autosave(request: Request, target: Target) -> Response:
    """One answer, posted by htmx on change; answers with a small status (and show-if changes out of band)."""
    state = request.app.state
    form = await request.form()
    item_id = str(form.get("item", ""))
    definition = filling.definition_of(state.catalogue, target.assignment)
    item = definition.item(item_id) if definition.has_item(item_id) and item_id else None
    if item is None or item.type == "instruction":
        return _status(request, item_id, problem_message(None, "unknown item"), 422)
    value = _raw_value(form, item)
    if _broken(value):
        return _status(request, item_id, problem_message(item, "broken text"), 422)
    changed = filling.dependants(definition, item_id)
    try:
        if changed:
            problems, draft = await state.db.write(
                filling.save_and_reload, state.catalogue, target.assignment, {item_id: value}
            )
        else:
            problems = await state.db.write(filling.save_answers, state.catalogue, target.assignment, {item_id: value})
    except filling.Locked:
        return _status(request, item_id, _("This questionnaire has already been sent. Nothing was changed."), 409)
    if problems:
        return _status(request, item_id, problem_message(item, problems[item_id]), 422)
    if not changed:
        return _status(request, item_id, "", 200)
    context = _context(request, target, definition, draft)
    context.update(item_id=item_id, error="", oob_items=changed, errors={})
    return state.templates.render(request, "fill/_saved.html", context)


def _status(request: Request, item_id: str, error: str, status: int) -> Response:
    context = {"item_id": item_id, "error": error, "oob_items": [], "errors": {}}
    return request.app.state.templates.render(request, "fill/_saved.html", context, status_code=status)


async def show_review(request: Request, target: Target) -> Response:
    state = request.app.state
    overview = await state.db.read(filling.review, state.catalogue, target.assignment)
    if overview.draft.submitted:
        return RedirectResponse(target.done_url, status_code=303)
    definition = filling.definition_of(state.catalogue, target.assignment)
    page_of = {item.id: number for number, page in enumerate(filling.pages_of(definition)) for item in page}
    context = _context(request, target, definition, overview.draft)
    context.update(visible=overview.visible, missing=set(overview.missing), page_of=page_of)
    return state.templates.render(
        request, "fill/review.html", context, status_code=400 if request.method == "POST" else 200
    )


async def do_submit(request: Request, target: Target) -> Response:
    state = request.app.state
    try:
        await state.db.write(filling.submit, state.catalogue, target.assignment, target.actor)
    except filling.Incomplete:
        return await show_review(request, target)
    return RedirectResponse(target.done_url, status_code=303)


async def show_done(request: Request, target: Target) -> Response:
    state = request.app.state
    outcome = await state.db.read(filling.outcome, target.assignment)
    if outcome is None:
        return RedirectResponse(target.page_url, status_code=303)
    definition = filling.definition_of(state.catalogue, target.assignment)
    context = {"target": target, "definition": definition, "lang": current_language.get(), "outcome": outcome}
    return state.templates.render(request, "fill/done.html", context)


# --- The client's own questionnaires ----------------------------------------------------------------------


async def _client_target(request: Request, *, with_draft: bool = False) -> Target:
    auth = auth_of(request)
    public_id = request.path_params["public_id"]
    state = request.app.state
    today = practice_today(state.settings.timezone)
    draft = None
    try:
        if with_draft:
            draft = await state.db.lookup(filling.client_draft, auth.user_id, public_id, today)
            assignment = draft.assignment
        else:
            assignment = await state.db.lookup(filling.client_assignment, auth.user_id, public_id, today)
    except filling.NotFound:
        raise HTTPException(404) from None
    base = CLIENT_BASE.format(public_id=assignment.public_id)  # formatted here: url_path_for walks every route
    return Target(
        assignment=assignment,
        actor=Actor(auth.user_id, Role.client.value, "web:fill"),
        page_url=base,
        answer_url=f"{base}/answer",
        review_url=f"{base}/review",
        submit_url=f"{base}/submit",
        done_url=f"{base}/done",
        back_url=CLIENT_HOME,
        draft=draft,
    )


@require(Role.client)
async def client_page(request: Request) -> Response:
    if request.method == "POST":
        return await save_page(request, await _client_target(request))
    return await show_page(request, await _client_target(request, with_draft=True))


@require(Role.client)
async def client_answer(request: Request) -> Response:
    return await autosave(request, await _client_target(request))


@require(Role.client)
async def client_review(request: Request) -> Response:
    return await show_review(request, await _client_target(request))


@require(Role.client)
async def client_submit(request: Request) -> Response:
    return await do_submit(request, await _client_target(request))


@require(Role.client)
async def client_done(request: Request) -> Response:
    return await show_done(request, await _client_target(request))


CLIENT_BASE = "/client/questionnaires/{public_id}"
CLIENT_HOME = "/client"


def routes() -> list[BaseRoute]:
    base = CLIENT_BASE
    return [
        Route(base, client_page, methods=["GET", "POST"], name="fill_page"),
        Route(f"{base}/answer", client_answer, methods=["POST"], name="fill_answer"),
        Route(f"{base}/review", client_review, methods=["GET"], name="fill_review"),
        Route(f"{base}/submit", client_submit, methods=["POST"], name="fill_submit"),
        Route(f"{base}/done", client_done, methods=["GET"], name="fill_done"),
    ]
