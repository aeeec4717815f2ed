"""The therapist's measurement plans for one client: questionnaires once or every N weeks, and their occasions."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    return []
