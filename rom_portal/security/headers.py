"""The response headers of SECURITY.md, added to every HTTP response by the outermost middleware."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
PERMISSIONS_POLICY = (
    "accelerometer=(), autoplay=(), camera=(), display-capture=(), "
    "geolocation=(), gyroscope=(), hid=(), magnetometer=(), microphone=(), midi=(), payment=(), "
    "publickey-credentials-get=(), screen-wake-lock=(), serial=(), usb=(), xr-spatial-tracking=()"
)
HSTS = "max-age=63072000; includeSubDomains"
STATIC_PREFIX = "/static/"
# Static files carry no personal data and are addressed by content hash (?v=...), so they may be cached.
STATIC_CACHE_CONTROL = "public, max-age=604800"

_BASE_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", PERMISSIONS_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
]
_OWN_NAMES = {name for name, _ in _BASE_HEADERS} | {b"strict-transport-security", b"cache-control"}


class SecurityHeadersMiddleware:
    """Pure ASGI middleware: it sits outside Starlette's error handling, so 500 pages get the headers too."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.headers = list(_BASE_HEADERS)
        if hsts:
            self.headers.append((b"strict-transport-security", HSTS.encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_static = scope["path"].startswith(STATIC_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _OWN_NAMES]
                cache = STATIC_CACHE_CONTROL if is_static and message["status"] < 400 else "no-store"
                message = {**message, "headers": [*kept, *self.headers, (b"cache-control", cache.encode())]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
