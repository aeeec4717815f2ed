"""Jinja2 environment, the one place that builds URLs, and the render helper."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from starlette.requests import Request
from starlette.responses import HTMLResponse

from rom_portal import __version__, i18n
from rom_portal.paths import resource_dir


@cache
def _static_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def static_url(name: str) -> str:
    """``/static/<name>?v=<content hash>``, so a changed file is never served stale from a cache."""
    file = resource_dir("static") / name
    return f"/static/{name}?v={_static_hash(file)}"


def url(request: Request, name: str, /, query: Mapping[str, str] | None = None, **path_params: Any) -> str:
    """A path within the portal, keeping an anonymous visitor's language choice."""
    path = str(request.app.url_path_for(name, **path_params))
    params = dict(query or {})
    chosen = request.scope.get("state", {}).get("language_from_url")
    if chosen and "lang" not in params:
        params["lang"] = chosen
    return f"{path}?{urlencode(params)}" if params else path


def language_url(request: Request, language: str) -> str:
    """The current page in another language."""
    params = dict(request.query_params)
    params["lang"] = language
    return f"{request.url.path}?{urlencode(params)}"


@pass_context
def _url(context: Context, name: str, /, query: Mapping[str, str] | None = None, **path_params: Any) -> str:
    return url(context["request"], name, query, **path_params)


@pass_context
def _language_url(context: Context, language: str) -> str:
    return language_url(context["request"], language)


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
        language_names=i18n.LANGUAGE_NAMES,
        portal_version=__version__,
    )
    return env


class Templates:
    def __init__(self, demo: bool) -> None:
        self.env = make_environment()
        self.env.globals["demo"] = demo

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
        body = self.env.get_template(name).render(values)
        return HTMLResponse(body, status_code=status_code, headers=headers)
