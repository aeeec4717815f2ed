"""The database's counting of a research export (window functions) against a plain model, on the real databases.

Random cohorts with the awkward cases: two measurements at the same moment, gaps of exactly four weeks, series
longer than the week periods, a series that starts in one year and goes on in the next, informants who start
later or on the same day, scores that could not be computed, clients without consent, measurements after the
cut-off. ``count_clients`` must count exactly what ``tests/research_reference.py`` counts.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from rom_portal.db import Database
from rom_portal.demo_caseload import phq9
from rom_portal.models import Registration
from rom_portal.questionnaires import Questionnaire, score
from rom_portal.services.filling import score_rows
from rom_portal.services.research.counts import Counted, count_clients
from rom_portal.services.research.request import WEEK_PERIODS, Occasions
from tests.conftest import People
from tests.research_cohort import EPOCH, Person, add_client, add_measurement
from tests.research_reference import Measurement, Series, counts_of

CUT_OFF = datetime(2026, 6, 1, tzinfo=UTC)
GAPS = (
    timedelta(0),  # at the same moment: the order of submission decides
    timedelta(days=1),
    timedelta(weeks=4),  # exactly one period later
    timedelta(weeks=4, seconds=-1),
    timedelta(weeks=5),
    timedelta(weeks=13),
    timedelta(weeks=30),
)
OCCASIONS = (
    Occasions(first=True, last=True, nth=(2, 3, 5), weeks=WEEK_PERIODS),
    Occasions(first=False, last=True, nth=(1, 4)),
)


def _times(rng: random.Random) -> list[datetime]:
    # Some series start in December and go on in January (the age band is taken in the first one's year).
    when = EPOCH + timedelta(days=rng.choice((0, 40, 330, 355, 362)), hours=rng.randrange(24))
    times = []
    for _ in range(rng.randint(1, 7)):
        times.append(when)
        when += rng.choice(GAPS)
    return times


def _psc17_answers(rng: random.Random) -> dict[str, int]:
    # Now and then too many items left open for a score: that submission counts on no scale.
    return {str(item): rng.randrange(3) for item in range(1, 18) if rng.random() > 0.04}


def _scored(definition: Questionnaire, answers: dict) -> dict[str, tuple[float, str | None]]:
    return {
        row.scale_id: (row.value, row.band)
        for row in score_rows(0, 0, score(definition, answers))
        if row.value is not None
    }


def _cohort(db: Database, catalogue, therapist_id: int, seed: int) -> dict[str, list[Series]]:  # type: ignore[no-untyped-def]
    """Write a random cohort of PHQ-9s (self) and PSC-17s (informants); return the model's series per questionnaire."""
    rng = random.Random(seed)
    expected: dict[str, list[Series]] = {"phq9": [], "psc17": []}
    with db.session(write=True) as session:
        for index in range(36):
            informants = index % 2 == 1
            key = "psc17" if informants else "phq9"
            definition = catalogue[key]
            person = Person(
                birth_year=rng.choice((None, 1940, 1950, 1951, 1990, 2001, 2007, 2008, 2014, 2025, 2026)),
                sex=rng.choice((None, "female", "male", "x")),
                consent=rng.random() > 0.15,
                totals=(),
                key=key,
            )
            registration = add_client(session, catalogue, therapist_id, person, f"s{seed}c{index}")
            series: dict[str, list[tuple[datetime, int, dict]]] = {}
            labels = rng.sample(("moeder", "vader", "leerkracht"), rng.randint(1, 3)) if informants else [""]
            measured: list[tuple[datetime, str, dict]] = []
            for label in labels:
                for when in _times(rng):
                    answers = _psc17_answers(rng) if informants else phq9(rng.randrange(28), rng.randrange(2))
                    measured.append((when, label, answers))
            if rng.random() < 0.3:  # an informant who starts on the same day as another
                measured.append((measured[0][0], "oma" if informants else "", measured[-1][2]))
            rng.shuffle(measured)  # submitted in any order; ties in time are broken by the order of submission
            for order, (when, label, answers) in enumerate(measured):
                add_measurement(session, definition, registration, when, answers, label)
                series.setdefault(label, []).append((when, order, _scored(definition, answers)))
            if person.consent:
                expected[key] += _model_series(person, registration, series)
    return expected


def _model_series(person: Person, registration: Registration, series: dict) -> list[Series]:  # type: ignore[type-arg]
    """The model's series of one client: submitted before the cut-off and scored; of informants, the first one's."""
    counted = {
        label: sorted((when, order, scores) for when, order, scores in rows if when < CUT_OFF and scores)
        for label, rows in series.items()
    }
    counted = {label: rows for label, rows in counted.items() if rows}
    if not counted:
        return []
    label = min(counted, key=lambda label: (counted[label][0][0], label))  # who started first; then by label
    one = Series(registration.birth_year, registration.sex)
    for when, _order, scores in counted[label]:
        for scale_id, (value, band) in scores.items():
            one.scales.setdefault(scale_id, []).append(Measurement(when, value, band))
    return [one]


def _counter(counts) -> Counter:  # type: ignore[no-untyped-def,type-arg]
    merged: Counter = Counter()  # type: ignore[type-arg]
    for one in counts:
        if one.position is None and one.period is None and not one.last:
            continue  # counts at no occasion
        merged[
            (one.scale_id, one.age_band, one.sex, one.position, one.period, one.last, one.band, one.value, one.before)
        ] += one.clients
    return merged


@pytest.mark.parametrize("seed", [1, 2])
def test_the_database_counts_what_the_model_counts(app, db: Database, people: People, seed: int) -> None:
    catalogue = app.state.catalogue
    expected = _cohort(db, catalogue, people.alice.id, seed)
    for occasions in OCCASIONS:
        for key, respondent in (("phq9", "self"), ("psc17", "informant")):
            model = expected[key]
            with db.session() as session:
                counted = list(count_clients(session, key, respondent, occasions, CUT_OFF))
            assert all(isinstance(one, Counted) for one in counted)
            assert _counter(counted) == _counter(counts_of(model, occasions)), (key, occasions)
            assert sum(one.clients for one in counted if one.position == 1) == sum(
                len(one.scales) for one in model
            )  # every counted client and scale once at its first measurement
