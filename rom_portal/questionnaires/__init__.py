"""The questionnaire engine: definitions as data, scoring, and reliable change.

Pure Python: nothing here imports the web or database layers, so the engine can be tested and reused
on its own. Typical use::

    catalogue = load_catalogue(resource_dir("questionnaires"))   # once, at start-up
    phq9 = catalogue["phq9"]                                      # latest version
    value = validate_answer(phq9.item("9"), "1")                  # autosave: raises AnswerError
    result = score(phq9, {"1": 2, "2": 1, ...})                   # Scoring
    change = classify_change(phq9.scale("total"), first.scales["total"], result.scales["total"])
"""

from rom_portal.questionnaires.answers import (
    AnswerError,
    applicable_answers,
    condition_holds,
    missing_required,
    validate_answer,
    validate_answers,
    visible_items,
)
from rom_portal.questionnaires.change import Change, ChangeCategory, classify_change, s_diff
from rom_portal.questionnaires.loader import (
    Catalogue,
    DefinitionError,
    Problem,
    definition_files,
    load_catalogue,
    load_definition,
    parse_definition,
)
from rom_portal.questionnaires.schema import (
    Band,
    Item,
    LocalText,
    Option,
    Questionnaire,
    Scale,
)
from rom_portal.questionnaires.scoring import Alert, ScaleScore, Scoring, scale_range, score

__all__ = [
    "Alert",
    "AnswerError",
    "Band",
    "Catalogue",
    "Change",
    "ChangeCategory",
    "DefinitionError",
    "Item",
    "LocalText",
    "Option",
    "Problem",
    "Questionnaire",
    "Scale",
    "ScaleScore",
    "Scoring",
    "applicable_answers",
    "classify_change",
    "condition_holds",
    "definition_files",
    "load_catalogue",
    "load_definition",
    "missing_required",
    "parse_definition",
    "s_diff",
    "scale_range",
    "score",
    "validate_answer",
    "validate_answers",
    "visible_items",
]
