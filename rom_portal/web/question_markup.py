"""The markup of one question, rendered once and shared by every respondent who sees it in the same state.

The fill-in page is the portal's busiest page, and rendering its questions was half of its cost. A question's
markup depends only on the questionnaire version, the language, the answer chosen, whether it is shown and
whether it is an out-of-band swap; the respondent's own address for autosave is put in afterwards. Only
choice questions and unanswered questions are kept: a typed answer is the respondent's own words and is never
held in memory beyond the request. A question with an error message is always rendered afresh.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from rom_portal.questionnaires import Item

_ANSWER_URL = "\x1fanswer-url\x1f"  # a placeholder no questionnaire text or URL contains
_LIMIT = 20_000  # entries; a PHQ-9 in two languages needs about a hundred


class _Placeholder:
    answer_url = _ANSWER_URL


class QuestionMarkup:
    def __init__(self, env: Environment) -> None:
        self._env = env
        self._cache: dict[tuple[Any, ...], tuple[Item, Markup]] = {}

    def _macro(self) -> Callable[..., Any]:
        return self._env.get_template("fill/_question.html").module.question  # type: ignore[attr-defined,no-any-return]

    def __call__(
        self,
        item: Item,
        target: Any,
        lang: str,
        answers: Mapping[str, Any],
        errors: Mapping[str, str],
        visible_ids: set[str],
        oob: bool = False,
    ) -> Markup:
        value = answers.get(item.id)
        cacheable = item.id not in errors and (value is None or item.type in ("single_choice", "multiple_choice"))
        if not cacheable:
            return self._macro()(item, target, lang, answers, errors, visible_ids, oob)  # type: ignore[no-any-return]
        key = (id(item), lang, json.dumps(value), item.id in visible_ids, oob)
        cached = self._cache.get(key)
        if cached is None:
            markup = self._macro()(item, _Placeholder, lang, answers, errors, visible_ids, oob)
            if len(self._cache) >= _LIMIT:
                self._cache.clear()
            # The item is kept with its markup, so its id() cannot be reused by another object meanwhile.
            self._cache[key] = (item, markup)
        else:
            markup = cached[1]
        return markup.replace(_ANSWER_URL, target.answer_url)  # Markup.replace escapes the address
