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
from rom_portal.questionnaires import Questionnaire, score
from rom_portal.services.filling import score_rows
from rom_portal.services.research.counts import Counted, count_clients
from rom_portal.services.research.request import WEEK_PERIODS, Occasions
from tests.conftest import People
from tests.research_cohort import EPOCH, Person, add_client, add_measurement
from tests.research_reference import Series, counts_of, series_of

CUT_OFF = datetime(2026, 6, 1, tzinfo=UTC)
GAPS = (
    timedelta(0),  # at the same moment: the order of submission decides
    timedelta(microseconds=300),  # most often in the same millisecond: still the later one
    timedelta(days=1),
    timedelta(weeks=4),  # exactly one period later
    timedelta(weeks=4, seconds=-1),
    timedelta(weeks=4, microseconds=-300),  # one period later, to the millisecond
    timedelta(weeks=5),
    timedelta(weeks=13),
    timedelta(weeks=30),
)
# Series with a measurement exactly at the end of the periods (week 52), and just before it.
EDGES = ((timedelta(weeks=26), timedelta(weeks=26)), (timedelta(weeks=52, milliseconds=-1),))
OCCASIONS = (
    Occasions(first=True, last=True, nth=(2, 3, 5), weeks=WEEK_PERIODS),
    Occasions(first=False, last=True, nth=(1, 4)),
)
RESPONDENT = {"phq9": "self", "psc17": "informant"}


def _moment(rng: random.Random, days: int) -> datetime:
    microseconds = rng.randrange(86_400_000_000)
    if microseconds % 1000 == 500:
        microseconds += 1  # half a millisecond: the databases may round either way
    return EPOCH + timedelta(days=days, microseconds=microseconds)


def _times(rng: random.Random, index: int) -> list[datetime]:
    # Some series start on 31 December and go on in January: the age band is taken in the first one's year (in
    # UTC, also when the database session is in another time zone).
    when = _moment(rng, rng.choice((0, 40, 330, 355, 359, 362)))
    if index < len(EDGES):
        times = [when]
        for gap in EDGES[index]:
            times.append(times[-1] + gap)
        return times
    times = []
    for _ in range(rng.randint(1, 7)):
        times.append(when)
        when += rng.choice(GAPS)
    return times


def _psc17_answers(rng: random.Random) -> dict[str, int]:
    # Now and then too many items left open for a score: that submission counts on no scale.
    return {str(item): rng.randrange(3) for item in range(1, 18) if rng.random() > 0.04}


def _scored(definition: Questionnaire, answers: dict) -> dict[str, tuple[float, str | None]]:
    scores = score_rows(0, 0, score(definition, answers))
    return {row.scale_id: (row.value, row.band) for row in scores if row.value is not None}


def _cohort(db: Database, catalogue, therapist_id: int, seed: int) -> dict[str, list[Series]]:  # type: ignore[no-untyped-def]
    """Write a random cohort of PHQ-9s (self) and PSC-17s (informants); return the model's series per questionnaire.

    Also written, and never counted: drafts, measurements after the cut-off, and forms by the other kind of
    respondent (a partner's PHQ-9, a child's own PSC-17)."""
    rng = random.Random(seed)
    expected: dict[str, list[Series]] = {"phq9": [], "psc17": []}
    with db.session(write=True) as session:
        for index in range(40):
            key = "psc17" if index % 2 else "phq9"
            informants = RESPONDENT[key] == "informant"
            definition = catalogue[key]
            person = Person(
                birth_year=rng.choice((None, 1940, 1950, 1951, 1990, 2001, 2007, 2008, 2014, 2025, 2026)),
                sex=rng.choice((None, "female", "male", "x")),
                consent=rng.random() > 0.15,
                totals=(),
                key=key,
            )
            registration = add_client(session, catalogue, therapist_id, person, f"s{seed}c{index}")
            labels = rng.sample(("moeder", "Vader", "leerkracht"), rng.randint(1, 3)) if informants else [""]
            measured: list[tuple[datetime, str, dict, bool]] = []
            for label in labels:
                for when in _times(rng, index // 2):
                    answers = _psc17_answers(rng) if informants else phq9(rng.randrange(28), rng.randrange(2))
                    measured.append((when, label, answers, rng.random() > 0.05))  # now and then a draft
            if rng.random() < 0.3:  # another informant at the same moment as the first
                measured.append((min(one[0] for one in measured), "oma" if informants else "", measured[-1][2], True))
            if rng.random() < 0.3:  # the other kind of respondent, before anyone else
                answers = _psc17_answers(rng) if informants else phq9(rng.randrange(28))
                measured.append(
                    (
                        min(one[0] for one in measured) - timedelta(days=1),
                        "" if informants else "partner",
                        answers,
                        True,
                    )
                )
            rng.shuffle(measured)  # submitted in any order; ties in time are broken by the order of submission
            counted = []
            for order, (when, label, answers, submitted) in enumerate(measured):
                add_measurement(session, definition, registration, when, answers, label, submitted)
                if submitted and when < CUT_OFF and bool(label) == informants:
                    counted.append((when, order, label, _scored(definition, answers)))
            series = series_of(person.birth_year, person.sex, counted, informants)
            if person.consent and series is not None:
                expected[key].append(series)
    return expected


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
        for key, respondent in RESPONDENT.items():
            model = expected[key]
            with db.session() as session:
                if session.connection().dialect.name == "postgresql":
                    # Years and periods are taken in UTC, whatever the session's time zone (here UTC+14).
                    session.connection().exec_driver_sql("SET LOCAL TIME ZONE 'Pacific/Kiritimati'")
                counted = list(count_clients(session, key, respondent, occasions, CUT_OFF))
            assert all(isinstance(one, Counted) for one in counted)
            assert _counter(counted) == _counter(counts_of(model, occasions)), (key, occasions)
            assert sum(one.clients for one in counted if one.position == 1) == sum(
                len(one.scales) for one in model
            )  # every counted client and scale once at its first measurement
