"""Pick the language of each request without a cookie of its own.

The portal sets one strictly-necessary cookie (the login session) and nothing else, so an anonymous
visitor's choice travels in the URL (``?lang=en``) and our links carry it on; a logged-in user's choice is
stored with their account.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from rom_portal.i18n import current_language, negotiate


class LanguageMiddleware:
    def __init__(self, app: ASGIApp, *, default: str) -> None:
        self.app = app
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        requested = query.get("lang", [None])[0]
        language = negotiate(requested, self.default)
        # Remember whether the URL chose it, so links keep the choice (see templating.url).
        scope.setdefault("state", {})["language_from_url"] = language if requested == language else None
        token = current_language.set(language)
        try:
            await self.app(scope, receive, send)
        finally:
            current_language.reset(token)
