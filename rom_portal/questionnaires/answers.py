"""Answers: check one value against its item, and work out which items a respondent gets to see.

The web layer calls ``validate_answer`` on every autosave and ``visible_items`` to render a form; scoring
calls both, so a value the form would refuse can never be scored either.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from rom_portal.questionnaires.schema import (
    AllOf,
    AnswerValue,
    AnyOf,
    Condition,
    DateItem,
    InstructionItem,
    Item,
    LongTextItem,
    MultipleChoiceItem,
    NumberItem,
    Questionnaire,
    ShortTextItem,
    SingleChoiceItem,
)


class AnswerError(ValueError):
    """An answer names an unknown item or holds a value its item does not allow."""

    def __init__(self, item_id: str, message: str) -> None:
        super().__init__(f'item "{item_id}": {message}')
        self.item_id = item_id
        self.message = message


def fmt(value: float | Fraction) -> str:
    """A number as a person writes it: 4, 3.3, 4.5 (exact fractions shown to 4 decimals at most)."""
    if isinstance(value, Fraction):
        if value.denominator == 1:
            return str(value.numerator)
        return f"{float(value):.4f}".rstrip("0").rstrip(".")
    return str(int(value)) if float(value).is_integer() else repr(value)


def _is_blank(value: object) -> bool:
    # What a form sends for "no answer": nothing, an empty field, no checkbox ticked.
    return value is None or value == "" or (isinstance(value, list) and not value)


def _choice(item: SingleChoiceItem | MultipleChoiceItem, value: object) -> int | str:
    for option in item.options:
        if type(value) is type(option.value) and value == option.value:
            return option.value
    # A form posts "2" for the option 2; a JSON file may say 2.0. Both mean the published value 2.
    if isinstance(value, str) or (isinstance(value, float) and value.is_integer()):
        text = str(int(value)) if isinstance(value, float) else value.strip()
        for option in item.options:
            if str(option.value) == text:
                return option.value
    allowed = ", ".join(repr(option.value) for option in item.options)
    raise AnswerError(item.id, f"{value!r} is not one of the answer options ({allowed})")


def _number(item: NumberItem, value: object) -> int | float:
    number: float
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise AnswerError(item.id, f"{value!r} is not a number")
    if isinstance(value, str):
        try:  # Dutch forms write a decimal comma
            number = float(value.strip().replace(",", "."))
        except ValueError:
            raise AnswerError(item.id, f"{value!r} is not a number") from None
    else:
        number = value
    if not math.isfinite(number):
        raise AnswerError(item.id, f"{value!r} is not a number")
    if item.integer:
        if not float(number).is_integer():
            raise AnswerError(item.id, f"{value!r} is not a whole number")
        number = int(number)
    if item.min is not None and number < item.min:
        raise AnswerError(item.id, f"{value!r} is below the minimum {fmt(item.min)}")
    if item.max is not None and number > item.max:
        raise AnswerError(item.id, f"{value!r} is above the maximum {fmt(item.max)}")
    return number


def validate_answer(item: Item, value: object) -> AnswerValue | None:
    """Return the value as stored and scored, or None for "not answered"; raise ``AnswerError`` otherwise.

    Accepts what a form posts (strings) as well as JSON values: "2" and 2 both select option 2.
    """
    if isinstance(item, InstructionItem):
        raise AnswerError(item.id, "is an instruction text and takes no answer")
    if _is_blank(value):
        return None
    if isinstance(item, SingleChoiceItem):
        return _choice(item, value)
    if isinstance(item, MultipleChoiceItem):
        chosen = value if isinstance(value, list) else [value]
        result = [_choice(item, one) for one in chosen]
        if len(set(result)) != len(result):
            raise AnswerError(item.id, "the same option is chosen twice")
        return result
    if isinstance(item, NumberItem):
        return _number(item, value)
    if isinstance(item, (ShortTextItem, LongTextItem)):
        if not isinstance(value, str):
            raise AnswerError(item.id, f"{value!r} is not text")
        if len(value) > item.max_length:
            raise AnswerError(item.id, f"the text is longer than {item.max_length} characters")
        return value
    if isinstance(item, DateItem):
        return _date(item, value)
    raise AssertionError(f"unhandled item type {type(item).__name__}")  # pragma: no cover


def _date(item: DateItem, value: object) -> str:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise AnswerError(item.id, f"{value!r} is not a date (write YYYY-MM-DD)")


def validate_answers(definition: Questionnaire, answers: Mapping[str, object]) -> dict[str, AnswerValue]:
    """Check every answer; return them normalised, without the unanswered ones.

    Raises ``AnswerError`` for the first unknown item or disallowed value. Answers to items that a show-if
    hides are kept (the respondent may change the earlier answer back); scoring ignores them.
    """
    result: dict[str, AnswerValue] = {}
    for item_id, value in answers.items():
        key = str(item_id)
        if not definition.has_item(key):
            raise AnswerError(key, f"is not an item of {definition.key} (version {definition.version})")
        checked = validate_answer(definition.item(key), value)
        if checked is not None:
            result[key] = checked
    return result


def _as_number(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return None


def _holds(condition: Condition, answers: Mapping[str, Any]) -> bool:
    value = answers.get(condition.item)
    if value is None:
        return False
    given = value if isinstance(value, list) else [value]  # multiple choice: any ticked option counts
    if condition.min is not None or condition.max is not None:
        for one in given:
            number = _as_number(one)
            if number is None:
                continue
            if (condition.min is None or number >= condition.min) and (
                condition.max is None or number <= condition.max
            ):
                return True
        return False
    return any(_equal(one, want) for one in given for want in condition.values())


def _equal(left: object, right: object) -> bool:
    # 2 and 2.0 are the same answer; "2" and 2 are not (a show-if is checked against the item's options).
    a, b = _as_number(left), _as_number(right)
    if a is not None and b is not None:
        return a == b
    return type(left) is type(right) and left == right


def condition_holds(rule: Condition | AnyOf | AllOf, answers: Mapping[str, Any]) -> bool:
    """Evaluate a show-if (or critical-item) rule; an unanswered item satisfies no test."""
    if isinstance(rule, AnyOf):
        return any(condition_holds(part, answers) for part in rule.any)
    if isinstance(rule, AllOf):
        return all(condition_holds(part, answers) for part in rule.all)
    return _holds(rule, answers)


def visible_items(definition: Questionnaire, answers: Mapping[str, Any]) -> list[Item]:
    """The items (instructions included) to show, in form order, given the answers so far.

    ``answers`` must be validated values (from ``validate_answer(s)`` or storage), not raw form strings:
    a show-if compares numbers. Show-ifs only look at earlier items, so one pass in form order settles
    everything, and an answer to a hidden item is ignored by every later rule.
    """
    shown: dict[str, Any] = {}
    visible: list[Item] = []
    for item in definition.items:
        if item.show_if is not None and not condition_holds(item.show_if, shown):
            continue
        visible.append(item)
        if item.id in answers:
            shown[item.id] = answers[item.id]
    return visible


def applicable_answers(definition: Questionnaire, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers to items that are shown; answers to hidden items are dropped (not applicable)."""
    return {item.id: answers[item.id] for item in visible_items(definition, answers) if item.id in answers}


def missing_required(definition: Questionnaire, answers: Mapping[str, Any]) -> list[str]:
    """Ids of shown, required items without an answer: what blocks submitting the form."""
    return [
        item.id
        for item in visible_items(definition, answers)
        if not isinstance(item, InstructionItem) and item.required and _is_blank(answers.get(item.id))
    ]
