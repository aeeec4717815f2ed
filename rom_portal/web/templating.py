"""Jinja2 environment, the one place that builds URLs, and the render helper."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from rom_portal import __version__, i18n
from rom_portal.i18n import gettext as _
from rom_portal.labels import format_day, format_when, role_label
from rom_portal.paths import resource_dir
from rom_portal.web.question_markup import QuestionMarkup


@cache
def _static_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


@cache
def static_url(name: str) -> str:
    """``/static/<name>?v=<content hash>``, so a changed file is never served stale from a cache.

    Cached for the life of the process: static files change only with a new release (and a restart).
    """
    file = resource_dir("static") / name
    return f"/static/{name}?v={_static_hash(file)}"


def url(request: Request, name: str, /, query: Mapping[str, str] | None = None, **path_params: Any) -> str:
    """A path within the portal, keeping an anonymous visitor's language choice."""
    path = (
        _route_path(request.app.router, name) if not path_params else str(request.app.url_path_for(name, **path_params))
    )
    params = dict(query or {})
    chosen = request.scope.get("state", {}).get("language_from_url")
    if chosen and "lang" not in params:
        params["lang"] = chosen
    return f"{path}?{urlencode(params)}" if params else path


def portal_address(request: Request) -> str:
    """The portal's own address for links handed out on paper or by e-mail: the configured one, not the
    request's Host header (which a client could set to anything)."""
    return request.app.state.settings.public_url or str(request.base_url).rstrip("/")


def _route_path(router: object, name: str) -> str:
    """Paths without parameters never change while the app runs; looking them up walks every route."""
    paths: dict[str, str] = router.__dict__.setdefault("_rom_portal_paths", {})
    if name not in paths:
        paths[name] = str(router.url_path_for(name))  # type: ignore[attr-defined]
    return paths[name]


def language_url(request: Request, language: str) -> str:
    """The current page in another language."""
    params = dict(request.query_params)
    params["lang"] = language
    return f"{request.url.path}?{urlencode(params)}"


# The request being rendered. Template globals read it from here rather than from the template context,
# so macros imported from _forms.html (which do not see the context) can use them too.
_rendering: ContextVar[Request] = ContextVar("rendering_request")


def _url(name: str, /, query: Mapping[str, str] | None = None, **path_params: Any) -> str:
    return url(_rendering.get(), name, query, **path_params)


def _csrf_token() -> str:
    from rom_portal.web.session_middleware import csrf_token_for

    return csrf_token_for(_rendering.get())


def _current_user() -> object:
    return _rendering.get().scope.get("state", {}).get("auth")


def _language_url(language: str) -> str:
    return language_url(_rendering.get(), language)


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(resource_dir("templates")),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        static_url=static_url,
        url=_url,
        language_url=_language_url,
        csrf_token=_csrf_token,
        current_user=_current_user,
        language_names=i18n.LANGUAGE_NAMES,
        portal_version=__version__,
        role_label=role_label,
    )
    return env


def default_crisis_text() -> str:
    return _(
        "Do you think about ending your life, or are you worried about your safety? You do not have to carry this "
        "alone. Call or chat with 113 Zelfmoordpreventie: 113 or 0800-0113 (free, day and night), or go to 113.nl."
        "\n\nAre you in danger right now? Call 112.\n\nYour therapist will see your answers. You can also contact "
        "your therapist or your GP (huisarts) yourself."
    )


class Templates:
    def __init__(self, demo: bool, timezone: str = "Europe/Amsterdam", crisis_text: str = "") -> None:
        self.env = make_environment()
        self.env.globals["demo"] = demo
        self.env.globals["crisis_text"] = lambda: crisis_text or default_crisis_text()
        self.env.filters["datetime"] = lambda value: format_when(value, timezone)
        self.env.filters["day"] = lambda value: format_day(value, timezone)
        self.env.globals["question"] = QuestionMarkup(self.env)

    def render(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any] | None = None,
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        values = {"request": request, "lang": i18n.current_language.get(), **(context or {})}
        token = _rendering.set(request)
        try:
            body = self.env.get_template(name).render(values)
        finally:
            _rendering.reset(token)
        return HTMLResponse(body, status_code=status_code, headers=headers)
