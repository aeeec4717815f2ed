"""Per request: find the login session from the cookie, then refuse cross-site or token-less unsafe requests.

Both are middleware so no route can forget them. CSRF protection has two layers: the browser's
``Sec-Fetch-Site``/``Origin`` must say the request comes from our own pages, and the request must carry a
token: the session's CSRF token, or for anonymous forms (login, registration) a signed, expiring token.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rom_portal.i18n import current_language
from rom_portal.security import sessions
from rom_portal.security.sessions import Auth, InformantAuth, Timeouts
from rom_portal.security.tokens import same
from rom_portal.settings import Settings

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
CSRF_FIELD = "csrf_token"
CSRF_HEADER = b"x-csrf-token"
ANONYMOUS_CSRF_MAX_AGE = 4 * 3600
_SKIP_SESSION = ("/static/", "/healthz")
# Forms for visitors who are not (yet) logged in. With a SameSite=Strict cookie a page reached from a link in
# an e-mail is rendered without the session, so it carries an anonymous token while its POST does carry the
# session; these forms act with no session's authority, so an anonymous token is accepted for them too.
_PUBLIC_FORMS = ("/login", "/register", "/reset")
_PUBLIC_FORM_PREFIX = "/i/"


def cookie_name(settings: Settings) -> str:
    # The __Host- prefix makes browsers insist on Secure, Path=/ and no Domain; plain HTTP cannot have it.
    return "rom_session" if settings.insecure_http else "__Host-rom_session"


def session_cookie(settings: Settings, token: str) -> str:
    secure = "" if settings.insecure_http else "; Secure"
    return f"{cookie_name(settings)}={token}; Path=/; HttpOnly; SameSite=Strict{secure}"


def expired_cookie(settings: Settings) -> str:
    secure = "" if settings.insecure_http else "; Secure"
    return f"{cookie_name(settings)}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}"


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    request.scope.setdefault("state", {})["cookie_set"] = True
    response.headers.append("set-cookie", session_cookie(request.app.state.settings, token))


def clear_session_cookie(request: Request, response: Response) -> None:
    request.scope.setdefault("state", {})["cookie_set"] = True
    response.headers.append("set-cookie", expired_cookie(request.app.state.settings))


def timeouts_from(settings: Settings) -> Timeouts:
    from datetime import timedelta

    return Timeouts(
        staff_idle=timedelta(minutes=settings.staff_idle_minutes),
        client_idle=timedelta(minutes=settings.client_idle_minutes),
        absolute=timedelta(hours=settings.session_max_hours),
    )


def anonymous_serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt="rom-portal.csrf.anonymous")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _token_from_cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(raw)
    except Exception:  # a malformed Cookie header is treated as no cookie
        return None
    morsel = cookie.get(name)
    return morsel.value if morsel and morsel.value else None


def _public_form(path: str) -> bool:
    # The informant's code form is /i/<token>; the form pages after it (/i/form/...) act for the session.
    return path in _PUBLIC_FORMS or (path.startswith(_PUBLIC_FORM_PREFIX) and not path.startswith("/i/form"))


class SessionMiddleware:
    def __init__(self, app: ASGIApp, *, settings: Settings, database: Any) -> None:
        self.app = app
        self.settings = settings
        self.database = database
        self.timeouts = timeouts_from(settings)
        self.cookie = cookie_name(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_SKIP_SESSION):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["auth"] = None
        state["informant"] = None
        token = _token_from_cookie(scope, self.cookie)
        clear_cookie = False
        if token:
            found = await self.database.lookup(sessions.find, token, self.timeouts)
            if found is None:
                clear_cookie = True
            elif isinstance(found, InformantAuth):
                state["informant"] = found
                if found.stale:
                    await self.database.write(sessions.touch, found.session_id)
            else:
                auth_session, user = found
                if sessions.needs_touch(auth_session):
                    await self.database.write(sessions.touch, auth_session.id)
                state["auth"] = sessions.as_auth(auth_session, user)
        auth: Auth | None = state["auth"]
        language_token = None
        if auth is not None and auth.locale and not state.get("language_from_url"):
            language_token = current_language.set(auth.locale)

        async def send_wrapper(message: Message) -> None:
            if clear_cookie and message["type"] == "http.response.start" and not state.get("cookie_set"):
                headers = [*message.get("headers", []), (b"set-cookie", expired_cookie(self.settings).encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if language_token is not None:
                current_language.reset(language_token)


class CsrfMiddleware:
    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.serializer = anonymous_serializer(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        if not self._same_origin(scope):
            await self._refuse(scope, receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if not self._valid_token(scope, body):
            await self._refuse(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _same_origin(self, scope: Scope) -> bool:
        fetch_site = _header(scope, b"sec-fetch-site")
        if fetch_site is not None:
            # Modern browsers say where the request comes from; only our own pages (or the user typing) pass.
            return fetch_site in ("same-origin", "none")
        origin = _header(scope, b"origin")
        if origin is None:
            return True  # not a browser (or a very old one): the token below still has to match
        if origin == "null":
            # Browsers send "null" for our own forms under Referrer-Policy: no-referrer, but always with
            # Sec-Fetch-Site (handled above). Without it, "null" may be a sandboxed frame on another site.
            return False
        host = _header(scope, b"host") or ""
        return origin == f"{scope.get('scheme', 'http')}://{host}"

    def _valid_token(self, scope: Scope, body: bytes) -> bool:
        token = _header(scope, CSRF_HEADER)
        if token is None:
            content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
            if content_type != "application/x-www-form-urlencoded":
                return False
            try:
                fields = parse_qs(body.decode("utf-8", errors="strict"), max_num_fields=2000)
            except (UnicodeDecodeError, ValueError):
                return False
            values = fields.get(CSRF_FIELD, [])
            token = values[0] if len(values) == 1 else None
        if not token:
            return False
        state = scope.get("state", {})
        holder: Auth | InformantAuth | None = state.get("auth") or state.get("informant")
        if holder is not None and same(token, holder.csrf_token):
            return True
        path = scope["path"]
        if holder is not None and not _public_form(path):
            return False
        try:
            self.serializer.loads(token, max_age=ANONYMOUS_CSRF_MAX_AGE)
        except BadSignature:
            return False
        return True

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        from rom_portal.web.errors import render_error

        response = render_error(Request(scope, receive), 403)
        await response(scope, receive, send)


def csrf_token_for(request: Request) -> str:
    """The token to put in forms and in ``hx-headers`` for this visitor."""
    state = request.scope.get("state", {})
    holder: Auth | InformantAuth | None = state.get("auth") or state.get("informant")
    if holder is not None:
        return holder.csrf_token
    return str(anonymous_serializer(request.app.state.settings).dumps("anonymous"))
