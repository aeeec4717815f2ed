"""The questionnaire definition format, as pydantic models.

These models check shape and types only (unknown keys are errors, every text needs ``nl`` and ``en``).
Rules that look across the definition (a show-if naming a later item, bands leaving gaps, golden vectors
that disagree with the scoring) live in ``checks.py``, so they can all be reported in one go.
The format is documented for practices in ``questionnaires/README.md``; keep the two in step.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Strict,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    Tag,
    model_validator,
)

LANGUAGES: tuple[str, ...] = ("nl", "en")
ITEM_TYPES: tuple[str, ...] = (
    "single_choice",
    "multiple_choice",
    "number",
    "short_text",
    "long_text",
    "date",
    "instruction",
)
INFORMANTS: tuple[str, ...] = ("parent", "teacher", "partner", "relative")


def _int_to_str(value: object) -> object:
    # YAML reads `id: 9` as a number; item ids are strings, and accepting both saves practices from
    # quoting every id. Floats are not converted: "9.0" is almost certainly a mistake.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


ItemId = Annotated[str, BeforeValidator(_int_to_str), StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
Text = Annotated[str, StringConstraints(pattern=r"\S")]
Number = Annotated[float, Strict()]  # strict: accepts int and float, rejects "3" and true
OptionValue = StrictInt | StrictStr
ScalarValue = StrictInt | Number | StrictStr
AnswerValue = int | float | str | list[int | str]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalText(_Model):
    """A text in every supported language."""

    nl: Text
    en: Text

    def get(self, lang: str) -> str:
        """The text in ``lang``; Dutch for anything but ``en`` (Dutch is the portal's default)."""
        return self.en if lang == "en" else self.nl


class Respondent(_Model):
    kind: Literal["self", "informant"]
    who: Literal["parent", "teacher", "partner", "relative"] | None = None

    @model_validator(mode="after")
    def _who_matches_kind(self) -> Respondent:
        if self.kind == "informant" and self.who is None:
            raise ValueError(f"an informant form must say who fills it in (who: {', '.join(INFORMANTS)})")
        if self.kind == "self" and self.who is not None:
            raise ValueError("'who' is only for informant forms")
        return self


def _respondent_shorthand(value: object) -> object:
    return {"kind": value} if isinstance(value, str) else value


class Licence(_Model):
    id: Text
    statement: LocalText  # shown to users with the form
    url: Text | None = None
    may_modify: StrictBool = False
    commercial_use: StrictBool = True


class Option(_Model):
    value: OptionValue
    label: LocalText


class Condition(_Model):
    """One test on one earlier answer: ``equals``, ``in``, or a ``min``/``max`` range (inclusive)."""

    item: ItemId
    equals: ScalarValue | None = None
    in_: list[ScalarValue] | None = Field(default=None, alias="in", min_length=1)
    min: Number | None = None
    max: Number | None = None

    @model_validator(mode="after")
    def _exactly_one_test(self) -> Condition:
        given = [self.equals is not None, self.in_ is not None, self.min is not None or self.max is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one test: equals, in, or min/max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is larger than max")
        return self

    def values(self) -> list[int | float | str]:
        """The literal values this condition compares with (for equals/in)."""
        if self.equals is not None:
            return [self.equals]
        return list(self.in_ or [])


class AnyOf(_Model):
    any: list[ShowIf] = Field(min_length=1)


class AllOf(_Model):
    all: list[ShowIf] = Field(min_length=1)


def _show_if_kind(value: Any) -> str:
    # Called with the YAML mapping when validating and with the model when serialising.
    if isinstance(value, AnyOf) or (isinstance(value, dict) and "any" in value):
        return "any-of"
    if isinstance(value, AllOf) or (isinstance(value, dict) and "all" in value):
        return "all-of"
    return "condition"


ShowIf = Annotated[
    Annotated[Condition, Tag("condition")] | Annotated[AnyOf, Tag("any-of")] | Annotated[AllOf, Tag("all-of")],
    Discriminator(_show_if_kind),
]
AnyOf.model_rebuild()
AllOf.model_rebuild()


class _ItemBase(_Model):
    id: ItemId
    text: LocalText
    required: StrictBool = True
    show_if: ShowIf | None = None


class SingleChoiceItem(_ItemBase):
    type: Literal["single_choice"]
    options: list[Option] = Field(min_length=2)


class MultipleChoiceItem(_ItemBase):
    type: Literal["multiple_choice"]
    options: list[Option] = Field(min_length=1)


class NumberItem(_ItemBase):
    type: Literal["number"]
    min: Number | None = None
    max: Number | None = None
    integer: StrictBool = True


class ShortTextItem(_ItemBase):
    type: Literal["short_text"]
    max_length: StrictInt = Field(default=200, ge=1, le=1000)


class LongTextItem(_ItemBase):
    type: Literal["long_text"]
    max_length: StrictInt = Field(default=5000, ge=1, le=50000)


class DateItem(_ItemBase):
    type: Literal["date"]


class InstructionItem(_Model):
    """Text between questions; never answered, so it has no ``required``."""

    type: Literal["instruction"]
    id: ItemId
    text: LocalText
    show_if: ShowIf | None = None


Item = Annotated[
    SingleChoiceItem | MultipleChoiceItem | NumberItem | ShortTextItem | LongTextItem | DateItem | InstructionItem,
    Field(discriminator="type"),
]


class Band(_Model):
    """A score range [min, max], both inclusive, on the scale's rounded score."""

    id: Slug
    min: Number
    max: Number
    label: LocalText


class Transform(_Model):
    """score = raw * multiply + add (WHO-5: multiply 4 turns 0-25 into a percentage)."""

    multiply: Number = 1
    add: Number = 0


class Cutoff(_Model):
    """Clinical cut-off; the clinical side follows ``direction`` (>= value if higher is worse, else <=)."""

    value: Number
    source: Text


class ReliableChange(_Model):
    """A published ``threshold`` (points on the score), or ``sd`` + ``reliability`` for Jacobson-Truax."""

    threshold: Number | None = Field(default=None, gt=0)
    sd: Number | None = Field(default=None, gt=0)
    reliability: Number | None = Field(default=None, ge=0, lt=1)
    source: Text

    @model_validator(mode="after")
    def _enough_to_classify(self) -> ReliableChange:
        if (self.sd is None) != (self.reliability is None):
            raise ValueError("give sd and reliability together")
        if self.threshold is None and self.sd is None:
            raise ValueError("give a threshold, or sd and reliability")
        return self


class Scale(_Model):
    id: Slug
    label: LocalText
    items: list[ItemId] = Field(min_length=1)
    method: Literal["sum", "mean"] = "sum"
    min_answered: StrictInt | None = Field(default=None, ge=1)  # None: every item must be answered
    prorate: StrictBool = True  # with missing items: scale up (True) or count them as 0 (False)
    reverse: list[ItemId] = []
    transform: Transform | None = None
    decimals: StrictInt = Field(default=0, ge=0, le=4)
    direction: Literal["higher_is_worse", "higher_is_better"]
    bands: list[Band] = []
    cutoff: Cutoff | None = None
    reliable_change: ReliableChange | None = None
    requires: list[Slug] = []  # scorable only when these (earlier) scales are

    @property
    def needed(self) -> int:
        return len(self.items) if self.min_answered is None else self.min_answered

    def is_clinical(self, score: float) -> bool | None:
        """Whether ``score`` is on the clinical side of the cut-off (None without a cut-off)."""
        if self.cutoff is None:
            return None
        if self.direction == "higher_is_worse":
            return score >= self.cutoff.value
        return score <= self.cutoff.value

    def band_for(self, score: float) -> Band | None:
        for band in self.bands:
            if band.min <= score <= band.max:
                return band
        return None


class CriticalRule(Condition):
    """An answer that must reach the therapist at once (PHQ-9 item 9 >= 1)."""

    message: LocalText


class ExpectedScale(_Model):
    """Only the fields written in the file are checked (``band: null`` is a check, a missing band is not)."""

    score: Number | None
    band: Slug | None = None
    complete: StrictBool | None = None
    prorated: StrictBool | None = None
    clinical: StrictBool | None = None


class GoldenVector(_Model):
    name: Text
    answers: dict[ItemId, ScalarValue | list[OptionValue] | None]
    expect: dict[Slug, ExpectedScale] = Field(min_length=1)
    alerts: list[ItemId] = []


class Questionnaire(_Model):
    key: Slug
    version: StrictInt = Field(ge=1)
    abbreviation: Text
    title: LocalText
    respondent: Annotated[Respondent, BeforeValidator(_respondent_shorthand)]
    time_frame: LocalText
    instructions: LocalText
    licence: Licence
    citation: Text
    translation: Text | None = None
    notes: str | None = None
    items: list[Item] = Field(min_length=1)
    scales: list[Scale] = []
    critical_items: list[CriticalRule] = []
    golden: list[GoldenVector] = []
    # A place to define YAML anchors (`frequency: &frequency [...]`) that items reuse with `*frequency`.
    # The engine never reads it: aliases are resolved by the YAML reader before validation.
    anchors: dict[str, Any] | None = Field(default=None, exclude=True, repr=False)

    _items_by_id: dict[str, Any] = PrivateAttr(default_factory=dict)
    _position: dict[str, int] = PrivateAttr(default_factory=dict)
    _scales_by_id: dict[str, Scale] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        # Lookups by id are needed per answer when scoring; build them once. With duplicate ids (an error
        # that checks.py reports) the first item wins.
        for position, item in enumerate(self.items):
            self._items_by_id.setdefault(item.id, item)
            self._position.setdefault(item.id, position)
        for scale in self.scales:
            self._scales_by_id.setdefault(scale.id, scale)

    def item(self, item_id: str) -> Item:
        """The item with this id; ``KeyError`` if there is none."""
        return self._items_by_id[item_id]

    def has_item(self, item_id: str) -> bool:
        return item_id in self._items_by_id

    def position(self, item_id: str) -> int:
        """0-based place of the item in the form."""
        return self._position[item_id]

    def scale(self, scale_id: str) -> Scale:
        return self._scales_by_id[scale_id]

    def has_scale(self, scale_id: str) -> bool:
        return scale_id in self._scales_by_id
