"""Checks that look across a definition: references, option values, band coverage, golden vectors.

Each finding is ``(loc, message)`` where ``loc`` is a path of keys and list indices into the file
(``("items", 8, "show_if", "item")``); the loader turns it into ``items."9".show_if.item`` and a line.
Everything is collected, so a practice fixing a file sees all its problems at once.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

from rom_portal.questionnaires.answers import AnswerError, fmt, validate_answer
from rom_portal.questionnaires.schema import (
    AllOf,
    AnyOf,
    Band,
    Condition,
    DateItem,
    ExpectedScale,
    InstructionItem,
    MultipleChoiceItem,
    NumberItem,
    Questionnaire,
    Scale,
    SingleChoiceItem,
)
from rom_portal.questionnaires.scoring import Scoring, exact, item_value_range, round_half_away, scale_range, score

Loc = tuple[str | int, ...]
Finding = tuple[Loc, str]


def check_definition(definition: Questionnaire) -> list[Finding]:
    findings: list[Finding] = []
    _check_items(definition, findings)
    _check_scales(definition, findings)
    _check_critical_items(definition, findings)
    if not findings:  # golden vectors only mean something once the definition itself is sound
        _check_golden(definition, findings)
    return findings


def _check_items(q: Questionnaire, findings: list[Finding]) -> None:
    first_at: dict[str, int] = {}
    for index, item in enumerate(q.items):
        loc: Loc = ("items", index)
        if item.id in first_at:
            findings.append(
                ((*loc, "id"), f'duplicate item id "{item.id}" (also used by item {first_at[item.id] + 1} in the list)')
            )
        else:
            first_at[item.id] = index
        if isinstance(item, (SingleChoiceItem, MultipleChoiceItem)):
            seen: set[int | str] = set()
            for number, option in enumerate(item.options):
                if option.value in seen:
                    findings.append(((*loc, "options", number, "value"), f"duplicate option value {option.value!r}"))
                seen.add(option.value)
        if isinstance(item, NumberItem) and item.min is not None and item.max is not None and item.min > item.max:
            findings.append(((*loc, "max"), f"max {fmt(item.max)} is below min {fmt(item.min)}"))
        if item.show_if is not None:
            _check_rule(q, item.show_if, (*loc, "show_if"), index, findings)


def _check_rule(
    q: Questionnaire, rule: Condition | AnyOf | AllOf, loc: Loc, owner: int, findings: list[Finding]
) -> None:
    if isinstance(rule, AnyOf):
        for number, part in enumerate(rule.any):
            _check_rule(q, part, (*loc, "any", number), owner, findings)
        return
    if isinstance(rule, AllOf):
        for number, part in enumerate(rule.all):
            _check_rule(q, part, (*loc, "all", number), owner, findings)
        return
    if not q.has_item(rule.item):
        findings.append(((*loc, "item"), f'unknown item "{rule.item}"'))
    elif q.position(rule.item) == owner:
        findings.append(((*loc, "item"), "a show-if cannot depend on its own item"))
    elif q.position(rule.item) > owner:
        findings.append(
            ((*loc, "item"), f'item "{rule.item}" comes later in the form; a show-if can only use earlier answers')
        )
    else:
        _check_condition_values(q, rule, loc, findings)


def _check_condition_values(q: Questionnaire, rule: Condition, loc: Loc, findings: list[Finding]) -> None:
    """The values a rule tests must be ones its item can actually take."""
    item = q.item(rule.item)
    if isinstance(item, InstructionItem):
        findings.append(((*loc, "item"), f'item "{rule.item}" is an instruction text and never has an answer'))
        return
    if rule.min is not None or rule.max is not None:
        span = item_value_range(q, rule.item)
        if span is None and not isinstance(item, NumberItem):
            key = "min" if rule.min is not None else "max"
            findings.append(((*loc, key), f'item "{rule.item}" has no numeric answers, so min/max cannot apply'))
        elif span is not None and (
            (rule.min is not None and rule.min > span[1]) or (rule.max is not None and rule.max < span[0])
        ):
            key = "min" if rule.min is not None and rule.min > span[1] else "max"
            findings.append(
                ((*loc, key), f'no answer to item "{rule.item}" ({fmt(span[0])}-{fmt(span[1])}) can meet this test')
            )
        return
    keys: list[Loc] = (
        [(*loc, "equals")] if rule.equals is not None else [(*loc, "in", n) for n in range(len(rule.values()))]
    )
    for value_loc, value in zip(keys, rule.values(), strict=True):
        problem = _impossible_value(item, value)
        if problem:
            findings.append((value_loc, problem))


def _impossible_value(item: object, value: float | str) -> str | None:
    if isinstance(item, (SingleChoiceItem, MultipleChoiceItem)):
        options = [option.value for option in item.options]
        if not any(type(value) is type(option) and value == option for option in options):
            listed = ", ".join(repr(option) for option in options)
            return f'{value!r} is not an answer option of item "{item.id}" (options: {listed})'
        return None
    try:
        validate_answer(item, value)  # type: ignore[arg-type]
    except AnswerError as exc:
        return f'{value!r} can never be an answer to item "{exc.item_id}": {exc.message}'
    if isinstance(item, DateItem) and not isinstance(value, str):
        return f'{value!r} can never be an answer to item "{item.id}"'
    return None


def _check_scales(q: Questionnaire, findings: list[Finding]) -> None:
    first_at: dict[str, int] = {}
    for index, scale in enumerate(q.scales):
        loc: Loc = ("scales", index)
        if scale.id in first_at:
            findings.append(((*loc, "id"), f'duplicate scale id "{scale.id}"'))
        for number, other in enumerate(scale.requires):
            if other not in first_at:
                findings.append(((*loc, "requires", number), f'"{other}" is not a scale defined before this one'))
        first_at.setdefault(scale.id, index)
        if _check_scale_items(q, scale, loc, findings):
            _check_scale_numbers(q, scale, loc, findings)


def _check_scale_items(q: Questionnaire, scale: Scale, loc: Loc, findings: list[Finding]) -> bool:
    """Item references of one scale; False if they are too broken to compute its range."""
    before = len(findings)
    listed: set[str] = set()
    for number, item_id in enumerate(scale.items):
        if not q.has_item(item_id):
            findings.append(((*loc, "items", number), f'unknown item "{item_id}"'))
        elif item_id in listed:
            findings.append(((*loc, "items", number), f'item "{item_id}" is listed twice'))
        elif item_value_range(q, item_id) is None:
            findings.append(((*loc, "items", number), _unscorable(q, item_id)))
        listed.add(item_id)
    for number, item_id in enumerate(scale.reverse):
        if q.has_item(item_id) and item_value_range(q, item_id) is None:
            findings.append(
                ((*loc, "reverse", number), f'item "{item_id}" has no numeric values, so it cannot be reverse-keyed')
            )
        elif item_id not in listed:
            findings.append(((*loc, "reverse", number), f'item "{item_id}" is not one of this scale\'s items'))
    if scale.min_answered is not None and scale.min_answered > len(scale.items):
        findings.append(
            ((*loc, "min_answered"), f"{scale.min_answered} is more than the scale's {len(scale.items)} items")
        )
    return len(findings) == before


def _unscorable(q: Questionnaire, item_id: str) -> str:
    item = q.item(item_id)
    if isinstance(item, NumberItem):
        return f'item "{item_id}" is a number without both min and max; a scale needs its range'
    if isinstance(item, SingleChoiceItem):
        return f'item "{item_id}" has text option values and cannot be scored'
    return f'item "{item_id}" is a {item.type} item and cannot be scored'


def _check_scale_numbers(q: Questionnaire, scale: Scale, loc: Loc, findings: list[Finding]) -> None:
    low_exact, high_exact = scale_range(q, scale)
    low = exact(round_half_away(low_exact, scale.decimals))
    high = exact(round_half_away(high_exact, scale.decimals))
    possible = f"{fmt(low)}-{fmt(high)}"
    if scale.cutoff is not None and not low <= exact(scale.cutoff.value) <= high:
        findings.append(
            ((*loc, "cutoff", "value"), f"{fmt(scale.cutoff.value)} is outside the possible scores {possible}")
        )
    if scale.bands:
        _check_bands(scale, loc, low, high, findings)


def _check_bands(scale: Scale, loc: Loc, low: Fraction, high: Fraction, findings: list[Finding]) -> None:
    step = Fraction(1, 10**scale.decimals)
    possible = f"{fmt(low)}-{fmt(high)}"
    usable: list[tuple[int, Band]] = []
    seen: set[str] = set()
    for number, band in enumerate(scale.bands):
        band_loc = (*loc, "bands", number)
        if band.id in seen:
            findings.append(((*band_loc, "id"), f'duplicate band id "{band.id}"'))
        seen.add(band.id)
        bad = [key for key in ("min", "max") if (exact(getattr(band, key)) / step).denominator != 1]
        for key in bad:
            findings.append(
                ((*band_loc, key), f"{fmt(getattr(band, key))} has more decimals than the scale's {scale.decimals}")
            )
        if band.min > band.max:
            findings.append(((*band_loc, "max"), f"max {fmt(band.max)} is below min {fmt(band.min)}"))
        elif exact(band.max) < low or exact(band.min) > high:
            findings.append((band_loc, f"band lies outside the possible scores {possible}"))
        elif not bad:
            usable.append((number, band))
    if len(usable) != len(scale.bands):
        return
    ordered = sorted(usable, key=lambda pair: pair[1].min)
    first, last = ordered[0][1], ordered[-1][1]
    if exact(first.min) > low:
        findings.append(
            (
                (*loc, "bands"),
                f"scores {fmt(low)}-{fmt(exact(first.min) - step)} fall in no band (possible: {possible})",
            )
        )
    if exact(last.max) < high:
        findings.append(
            (
                (*loc, "bands"),
                f"scores {fmt(exact(last.max) + step)}-{fmt(high)} fall in no band (possible: {possible})",
            )
        )
    for (_, before), (number, after) in itertools.pairwise(ordered):
        after_loc = (*loc, "bands", number, "min")
        if exact(after.min) <= exact(before.max):
            findings.append(
                (after_loc, f'band "{after.id}" overlaps band "{before.id}" ({fmt(before.min)}-{fmt(before.max)})')
            )
        elif exact(after.min) > exact(before.max) + step:
            gap = f"{fmt(exact(before.max) + step)}-{fmt(exact(after.min) - step)}"
            findings.append((after_loc, f'gap before band "{after.id}": scores {gap} fall in no band'))


def _check_critical_items(q: Questionnaire, findings: list[Finding]) -> None:
    for number, rule in enumerate(q.critical_items):
        loc: Loc = ("critical_items", number)
        if not q.has_item(rule.item):
            findings.append(((*loc, "item"), f'unknown item "{rule.item}"'))
        else:
            _check_condition_values(q, rule, loc, findings)


def _check_golden(q: Questionnaire, findings: list[Finding]) -> None:
    names: set[str] = set()
    for number, vector in enumerate(q.golden):
        loc: Loc = ("golden", number)
        if vector.name in names:
            findings.append(((*loc, "name"), f'duplicate golden vector name "{vector.name}"'))
        names.add(vector.name)
        before = len(findings)
        for item_id, value in vector.answers.items():
            if not q.has_item(item_id):
                findings.append(((*loc, "answers", item_id), f'unknown item "{item_id}"'))
                continue
            try:
                validate_answer(q.item(item_id), value)
            except AnswerError as exc:
                findings.append(((*loc, "answers", item_id), exc.message))
        for scale_id, expected in vector.expect.items():
            if not q.has_scale(scale_id):
                findings.append(((*loc, "expect", scale_id), f'unknown scale "{scale_id}"'))
            elif expected.band is not None and expected.band not in {band.id for band in q.scale(scale_id).bands}:
                findings.append(
                    ((*loc, "expect", scale_id, "band"), f'scale "{scale_id}" has no band "{expected.band}"')
                )
        if len(findings) == before:
            _compare_golden(vector.expect, score(q, vector.answers), vector.alerts, loc, findings)


def _compare_golden(
    expect: dict[str, ExpectedScale], result: Scoring, alerts: list[str], loc: Loc, findings: list[Finding]
) -> None:
    for scale_id, expected in expect.items():
        got = result.scales[scale_id]
        where = (*loc, "expect", scale_id)
        if not _same_score(expected.score, got.score):
            findings.append(((*where, "score"), f"expected {_show(expected.score)}, scoring gives {_show(got.score)}"))
        for key in ("band", "complete", "prorated", "clinical"):
            if key in expected.model_fields_set and getattr(expected, key) != getattr(got, key):
                findings.append(
                    (
                        (*where, key),
                        f"expected {_show(getattr(expected, key))}, scoring gives {_show(getattr(got, key))}",
                    )
                )
    got_alerts = sorted({alert.item_id for alert in result.alerts})
    if sorted(set(alerts)) != got_alerts:
        findings.append(((*loc, "alerts"), f"expected alerts {sorted(set(alerts))}, scoring gives {got_alerts}"))


def _same_score(expected: float | None, got: float | None) -> bool:
    if expected is None or got is None:
        return expected is got
    return abs(expected - got) < 1e-9


def _show(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return fmt(value)
    return repr(value)
