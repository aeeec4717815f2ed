"""``create_app(settings)``: the Starlette application with its routes, middleware and lifespan."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from rom_portal.db import Database
from rom_portal.paths import resource_dir
from rom_portal.questionnaires import load_catalogue
from rom_portal.schema import SchemaState, schema_status
from rom_portal.security.hashing import Hasher
from rom_portal.security.headers import SecurityHeadersMiddleware
from rom_portal.settings import Settings
from rom_portal.web import (
    account,
    admin,
    auth,
    client,
    client_record,
    data_download,
    erasure,
    errors,
    filling,
    informants,
    onboarding,
    pages,
    plans,
    privacy,
    research,
    therapist,
)
from rom_portal.web.language import LanguageMiddleware
from rom_portal.web.session_middleware import CsrfMiddleware, SessionMiddleware
from rom_portal.web.templating import Templates

log = logging.getLogger("rom_portal")


class SchemaError(RuntimeError):
    """The database schema does not match this version of the portal."""


class Portal(Starlette):
    """Starlette puts its error handling outermost; our headers and language must wrap even that."""

    def __init__(self, settings: Settings, **kwargs: object) -> None:
        self.settings = settings
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def build_middleware_stack(self) -> ASGIApp:
        inner = super().build_middleware_stack()
        with_language = LanguageMiddleware(inner, default=self.settings.default_language)
        return SecurityHeadersMiddleware(with_language, hsts=not self.settings.insecure_http)


def routes() -> list[BaseRoute]:
    """Every route of the portal; each area module lists its own."""
    return [
        Route("/", pages.home, name="home"),
        Route("/healthz", pages.healthz, name="healthz"),
        Route("/privacy", pages.privacy_statement, name="privacy_statement"),
        *auth.routes(),
        *account.routes(),
        *onboarding.routes(),
        *therapist.routes(),
        *client_record.routes(),
        *plans.routes(),
        *admin.routes(),
        *research.routes(),
        *client.routes(),
        *privacy.routes(),
        *data_download.routes(),
        *erasure.routes(),
        *filling.routes(),
        *informants.routes(),
        Mount("/static", StaticFiles(directory=resource_dir("static")), name="static"),
    ]


def create_app(settings: Settings) -> Portal:
    database = Database(settings.database_url, threads=settings.db_threads)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        status = await anyio.to_thread.run_sync(schema_status, database.engine)
        if status.state is not SchemaState.current:
            raise SchemaError(status.message)
        if database.is_sqlite:  # an erasure's checkpoint that reads kept from completing before a restart
            await anyio.to_thread.run_sync(database.settle_owed_checkpoint)
        yield
        database.dispose()

    app = Portal(
        settings,
        routes=routes(),
        middleware=[
            Middleware(SessionMiddleware, settings=settings, database=database),
            Middleware(CsrfMiddleware, settings=settings),
        ],
        exception_handlers={HTTPException: errors.http_error, 500: errors.server_error},
        lifespan=lifespan,
        max_body_size=settings.max_body_bytes,
    )
    app.state.settings = settings
    app.state.db = database
    app.state.templates = Templates(demo=settings.demo, timezone=settings.timezone, crisis_text=settings.crisis_text)
    app.state.hasher = Hasher(settings.hash_threads)
    app.state.catalogue = load_catalogue(resource_dir("questionnaires"))
    return app
