"""Small-cell suppression, proved on random tables (hypothesis): no published count below k, and no suppressed
cell that published figures give away, whether by subtracting subtotals from a total or by any other sum.

The checks here do not reuse the suppression code's reasoning: they take the published table as an attacker
would and solve it (exact rational arithmetic).
"""

from __future__ import annotations

from fractions import Fraction
from itertools import product

from hypothesis import given, settings
from hypothesis import strategies as st

from rom_portal.services.research.suppression import ALL, suppress, with_margins
from tests.research_reference import counts_of

K = 10


def present_levels(dimensions, counts):  # type: ignore[no-untyped-def]
    """Per dimension, the levels somebody in the table belongs to (the others are left out of the table)."""
    width = len(dimensions)
    present = []
    for d, levels in enumerate(dimensions):
        grand = [ALL] * width
        kept = []
        for level in levels:
            grand[d] = level
            if counts.get(tuple(grand), 0):
                kept.append(level)
        present.append(tuple(kept))
    return present


@st.composite
def tables(draw):  # type: ignore[no-untyped-def]
    shape = draw(st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=3))
    dimensions = [tuple(f"d{d}l{i}" for i in range(size)) for d, size in enumerate(shape)]
    small = st.integers(min_value=0, max_value=14)
    mixed = st.one_of(small, st.integers(min_value=0, max_value=60))
    body = {cell: draw(mixed) for cell in product(*dimensions)}
    present = present_levels(dimensions, with_margins(dimensions, body))
    body = {cell: count for cell, count in body.items() if all(cell[d] in present[d] for d in range(len(cell)))}
    counts = with_margins(present, body)
    # Groups another table hides (tables of one scale with the same group sizes): some of them empty.
    groups = sorted(cell for cell in counts if cell[-1] == ALL)
    forced = draw(st.lists(st.sampled_from(groups), max_size=2)) if groups else []
    return present, counts, forced


def relations(dimensions, counts):  # type: ignore[no-untyped-def]
    """Every published sum: (total cell, its parts) along each dimension."""
    found = []
    for cell in counts:
        for d, value in enumerate(cell):
            if value == ALL and dimensions[d]:
                found.append((cell, [(*cell[:d], level, *cell[d + 1 :]) for level in dimensions[d]]))
    return found


def determined(unknowns, equations):  # type: ignore[no-untyped-def]
    """Which unknowns a set of linear equations (coefficient dicts) fixes: e_x in their row space."""
    index = {name: i for i, name in enumerate(unknowns)}
    rows = []
    for coefficients in equations:
        row = [Fraction(0)] * len(unknowns)
        for name, coefficient in coefficients.items():
            row[index[name]] += coefficient
        if any(row):
            rows.append(row)
    # Reduced row echelon form.
    pivots = []
    r = 0
    for c in range(len(unknowns)):
        pivot = next((i for i in range(r, len(rows)) if rows[i][c] != 0), None)
        if pivot is None:
            continue
        rows[r], rows[pivot] = rows[pivot], rows[r]
        lead = rows[r][c]
        rows[r] = [value / lead for value in rows[r]]
        for i in range(len(rows)):
            if i != r and rows[i][c] != 0:
                factor = rows[i][c]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[r], strict=True)]
        pivots.append(c)
        r += 1
    fixed = set()
    for i, c in enumerate(pivots):
        if sum(1 for value in rows[i] if value != 0) == 1:
            fixed.add(unknowns[c])
    return fixed


@settings(max_examples=300, deadline=None)
@given(tables())
def test_no_published_count_below_k(table) -> None:  # type: ignore[no-untyped-def]
    dimensions, counts, forced = table
    within = len(dimensions) - 1  # the last dimension splits groups (the band of a score)
    hidden = suppress(dimensions, counts, K, forced=forced, within=within)
    assert set(forced) <= hidden or not counts[(ALL,) * len(dimensions)]  # nobody in the table: nothing to hide
    for cell, count in counts.items():
        if cell not in hidden:
            group = (*cell[:within], ALL)
            # 0: an empty group, published as such (a hidden group shows no zeros: they would tell it is empty)
            assert count >= K or (count == 0 and counts[group] == 0 and group not in hidden), (cell, count)


@settings(max_examples=300, deadline=None)
@given(tables())
def test_subtracting_subtotals_from_a_total_never_reveals_a_suppressed_cell(table) -> None:  # type: ignore[no-untyped-def]
    dimensions, counts, forced = table
    hidden = suppress(dimensions, counts, K, forced=forced, within=len(dimensions) - 1)
    for total, parts in relations(dimensions, counts):
        members = [total, *parts]
        unknown = [cell for cell in members if cell in hidden]
        assert len(unknown) != 1, f"{unknown[0]} = {total} minus published parts"
        if total not in hidden and unknown:
            # Counts are never negative: hidden parts that must add up to 0 would all be known to be 0.
            assert sum(counts[cell] for cell in unknown) >= K, unknown


@settings(max_examples=200, deadline=None)
@given(tables())
def test_no_combination_of_published_figures_fixes_a_suppressed_cell(table) -> None:  # type: ignore[no-untyped-def]
    dimensions, counts, forced = table
    hidden = sorted(suppress(dimensions, counts, K, forced=forced, within=len(dimensions) - 1))
    if not hidden:
        return
    equations = []
    for total, parts in relations(dimensions, counts):
        # total - sum(parts) = 0, with the published cells moved to the right-hand side.
        coefficients = {}
        for cell, sign in [(total, 1), *[(part, -1) for part in parts]]:
            if cell in hidden:
                coefficients[cell] = coefficients.get(cell, 0) + sign
        equations.append(coefficients)
    assert determined(hidden, equations) == set()


def test_a_single_small_cell_takes_a_partner_and_the_totals_stay() -> None:
    dimensions = [("a", "b", "c"), ("f", "m")]
    body = {("a", "f"): 40, ("a", "m"): 35, ("b", "f"): 3, ("b", "m"): 30, ("c", "f"): 25, ("c", "m"): 28}
    counts = with_margins(dimensions, body)
    hidden = suppress(dimensions, counts, K, within=len(dimensions) - 1)
    assert ("b", "f") in hidden
    assert len(hidden) == 4  # a 2x2 hypercube of inner cells
    assert (ALL, ALL) not in hidden and not any(ALL in cell for cell in hidden)


def test_a_group_all_in_one_band_does_not_give_the_band_away() -> None:
    # Twelve clients, all in band "mild": publishing 12 and 12 with the other bands hidden would tell.
    dimensions = [("x", "y"), ("mild", "severe")]
    body = {("x", "mild"): 12, ("x", "severe"): 0, ("y", "mild"): 30, ("y", "severe"): 25}
    counts = with_margins(dimensions, body)
    hidden = suppress(dimensions, counts, K, within=len(dimensions) - 1)
    assert ("x", "severe") in hidden
    assert ("x", "mild") in hidden or ("x", ALL) in hidden


def test_an_empty_table_publishes_its_zero() -> None:
    dimensions = [(), ()]
    counts = with_margins(dimensions, {})
    assert suppress(dimensions, counts, K, within=1) == set()


def test_two_groups_with_nobody_in_a_band_are_not_given_away_by_their_sum() -> None:
    # Hiding x-severe and y-severe (both 0) with x-mild and y-mild would leave 20 - 20 = their sum: both 0.
    dimensions = [("x", "y", "z"), ("mild", "severe")]
    body = {("x", "mild"): 30, ("x", "severe"): 0, ("y", "mild"): 30, ("y", "severe"): 0}
    body |= {("z", "mild"): 30, ("z", "severe"): 20}
    counts = with_margins(dimensions, body)
    hidden = suppress(dimensions, counts, K, within=len(dimensions) - 1)
    for total, parts in relations(dimensions, counts):
        unknown = [cell for cell in [total, *parts] if cell in hidden]
        if total not in hidden and unknown:
            assert sum(counts[cell] for cell in unknown) > 0, unknown


# --- The published tables of random cohorts ---------------------------------------------------------------


@st.composite
def cohorts(draw):  # type: ignore[no-untyped-def]
    from datetime import datetime, timedelta

    from rom_portal.models.base import utcnow
    from tests.research_reference import Measurement, Series

    start = datetime(2025, 3, 3, tzinfo=utcnow().tzinfo)
    clients = []
    for _ in range(draw(st.integers(min_value=0, max_value=70))):
        totals = draw(st.lists(st.integers(min_value=0, max_value=27), min_size=1, max_size=5))
        gaps = draw(st.lists(st.integers(min_value=1, max_value=60), min_size=len(totals), max_size=len(totals)))
        measurements, when = [], start
        for total, gap in zip(totals, gaps, strict=True):
            measurements.append(Measurement(when, float(total), None))
            when += timedelta(days=gap)
        clients.append(
            Series(
                draw(st.sampled_from([None, 1950, 1970, 1985, 1999, 2004])),
                draw(st.sampled_from([None, "female", "male"])),
                {"total": measurements},
            )
        )
    return clients


COUNT_STATISTICS = {"n", "pairs", "recovered", "reliably_improved", "no_reliable_change", "reliably_deteriorated"}


@settings(max_examples=40, deadline=None)
@given(cohorts(), st.sampled_from([(), ("age",), ("sex",), ("age", "sex")]))
def test_no_published_figure_of_an_export_rests_on_fewer_than_k_clients(clients, strata) -> None:  # type: ignore[no-untyped-def]
    from rom_portal.paths import resource_dir
    from rom_portal.questionnaires import load_catalogue
    from rom_portal.services.research.export import tabulate
    from rom_portal.services.research.request import WEEK_PERIODS, ExportRequest, Occasions

    phq9 = load_catalogue(resource_dir("questionnaires"))["phq9"]
    request = ExportRequest(("phq9",), Occasions(True, True, (2,), WEEK_PERIODS), ("respondent", *strata))
    for table in tabulate(phq9, counts_of(clients, request.occasions), request, K):
        rows = {(row.occasion, row.age_band, row.sex, row.respondent): row for row in table.rows}
        for row in table.rows:
            cells = dict(zip(table.statistics, row.cells, strict=True))
            size = cells["n" if "n" in cells else "pairs"]
            for name, cell in cells.items():
                if cell.suppressed:
                    assert cell.value is None
                    continue
                if name in COUNT_STATISTICS or name.startswith("band_"):
                    grand = rows[(row.occasion, ALL, ALL, ALL)]
                    grand_value = grand.cells[table.statistics.index(name)].value
                    empty_group = size.value == 0 and not size.suppressed
                    assert cell.value >= K or grand_value == 0 or empty_group, (name, row)  # 0: about nobody
                else:  # mean, sd, median, quartiles, mean change: only with the count of the group
                    assert not size.suppressed and (size.value >= K or size.value == 0)
        # A total minus its published parts never leaves exactly one hidden part (per stratum axis).
        for axis in (1, 2):
            for key, total in rows.items():
                if key[axis] != ALL:
                    continue
                parts = [
                    one
                    for other, one in rows.items()
                    if other[0] == key[0]
                    and other[axis] != ALL
                    and all(other[d] == key[d] for d in (1, 2, 3) if d != axis)
                ]
                if not parts:
                    continue
                for index, name in enumerate(table.statistics):
                    if name not in COUNT_STATISTICS and not name.startswith("band_"):
                        continue
                    hidden = [one for one in [total, *parts] if one.cells[index].suppressed]
                    assert len(hidden) != 1, (name, key, axis)


def _series(birth_year, sex, totals):  # type: ignore[no-untyped-def]
    from datetime import datetime, timedelta

    from rom_portal.models.base import utcnow
    from tests.research_reference import Measurement, Series

    start = datetime(2025, 3, 3, tzinfo=utcnow().tzinfo)
    measurements = [Measurement(start + timedelta(weeks=4 * i), float(t), None) for i, t in enumerate(totals)]
    return Series(birth_year, sex, {"total": measurements})


def _tables(clients, occasions, strata):  # type: ignore[no-untyped-def]
    from rom_portal.paths import resource_dir
    from rom_portal.questionnaires import load_catalogue
    from rom_portal.services.research.export import tabulate
    from rom_portal.services.research.request import ExportRequest

    phq9 = load_catalogue(resource_dir("questionnaires"))["phq9"]
    return tabulate(phq9, counts_of(clients, occasions), ExportRequest(("phq9",), occasions, strata), K)


def test_hidden_groups_that_a_published_total_adds_up_hold_k_clients() -> None:
    from rom_portal.services.research.request import Occasions

    # 30 clients aged 25-44, one child and one old man: total minus the 25-44 row would give the two scores.
    clients = [_series(1990, "female", (10 + i % 5, 8)) for i in range(30)]
    clients += [_series(2018, "female", (22, 20)), _series(1945, "male", (3, 2))]
    for table in _tables(clients, Occasions(True, True), ("age",)):
        rows = {row.age_band: row for row in table.rows if row.occasion in ("first", "first_to_last")}
        total, adults = rows[ALL], rows["25-44"]
        n_index = 0
        assert total.cells[n_index].suppressed or adults.cells[n_index].suppressed, table.kind


def test_tables_with_the_same_groups_hide_the_same_groups() -> None:
    from rom_portal.services.research.request import Occasions

    # 15 men and 9 women, all with two measurements: first, last and the change table share their group sizes.
    clients = [_series(1980, "male", (12, 5)) for _ in range(15)] + [_series(1980, "female", (14, 9)) for _ in range(9)]
    seen: dict[str, set[bool]] = {}
    for table in _tables(clients, Occasions(True, True, (2,)), ("sex",)):
        for row in table.rows:
            seen.setdefault(row.sex, set()).add(row.cells[0].suppressed)
    assert seen["female"] == {True}
    assert all(len(states) == 1 for states in seen.values()), seen  # never shown in one table, hidden in another


def test_an_empty_group_hidden_with_others_shows_no_zeros() -> None:
    from rom_portal.services.research.request import WEEK_PERIODS, Occasions

    # Found by hypothesis: nobody aged 45-64 has a second measurement, yet that group's n is hidden with the change
    # table's. Its zeros, published, would tell that it is empty: a group with somebody in it never shows a zero.
    clients = [_series(None, None, (0, 5))] + [_series(None, None, (0, 0)) for _ in range(9)]
    clients += [_series(None, None, (0,)) for _ in range(14)]
    clients += [_series(1950, None, (0, 0)), _series(1970, None, (0,))]
    for table in _tables(clients, Occasions(True, True, (2,), WEEK_PERIODS), ("respondent", "age")):
        grand = {row.occasion: row for row in table.rows if (row.age_band, row.sex, row.respondent) == (ALL,) * 3}
        for row in table.rows:
            if not row.cells[0].suppressed:
                continue
            for index, name in enumerate(table.statistics):
                nobody = grand[row.occasion].cells[index].value == 0  # a level nobody in the table has
                if name.startswith("band_") or name in COUNT_STATISTICS - {"n", "pairs"}:
                    shown_zero = row.cells[index].value == 0 and not row.cells[index].suppressed
                    assert not shown_zero or nobody, (table.kind, row.occasion, row.age_band, name)
