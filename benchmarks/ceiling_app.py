"""The ceiling: a bare Starlette + Jinja2 page of 20 radio questions, no database, no middleware.

uvicorn benchmarks.ceiling_app:app --workers 2
"""

from __future__ import annotations

from jinja2 import Environment
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

_PAGE = Environment(autoescape=True).from_string(
    """<!doctype html><html lang="nl"><head><meta charset="utf-8"><title>Vragenlijst</title></head><body>
<form method="post">{% for q in questions %}<fieldset><legend>{{ q.text }}</legend>
{% for value, label in options %}<label><input type="radio" name="q{{ q.id }}" value="{{ value }}"> {{ label }}</label>
{% endfor %}</fieldset>{% endfor %}<button>Verstuur</button></form></body></html>"""
)
_QUESTIONS = [{"id": n, "text": f"Vraag {n}: hoe vaak had u hier last van?"} for n in range(1, 21)]
_OPTIONS = [(0, "Helemaal niet"), (1, "Meerdere dagen"), (2, "Meer dan de helft van de dagen"), (3, "Bijna elke dag")]


async def page(request: Request) -> HTMLResponse:
    return HTMLResponse(_PAGE.render(questions=_QUESTIONS, options=_OPTIONS))


app = Starlette(routes=[Route("/", page)])
