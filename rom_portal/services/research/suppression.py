"""Small-cell suppression of a count table with margins: primary cells, then hypercubes (secondary).

A table has dimensions (age band, sex, respondent, band of the score, ...); every dimension also has the margin
``ALL``, the sum over its levels, so any total or subtotal of the table is itself a cell. Primary suppression: every
count below k. A count of zero is suppressed too (that nobody in a group has a band is a fact about that group),
except for levels nobody in the whole table belongs to: those are left out of the table altogether.

Secondary suppression follows the hypercube method (Repsilber; tau-ARGUS's GHMITER): every primary cell becomes a
corner of a hypercube, one other value chosen per dimension, whose 2^d corners are all suppressed. Moving the
corners by +t and -t in a checkerboard pattern (the same sign across a margin and its level, opposite signs
between two levels) keeps every total and subtotal as published, so no combination of published figures (a total
minus subtotals, or any other sum) fixes a suppressed cell. The hypercube is only taken when such a move stays
non-negative in some direction, so that "these cells add up to 0" cannot give the cells away either. Among the
possible hypercubes the cheapest is chosen: few clients behind the extra cells, and margins only when unavoidable.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from itertools import product

ALL = "all"

Coordinate = tuple[str, ...]


def with_margins(dimensions: Sequence[Sequence[str]], body: Mapping[Coordinate, int]) -> dict[Coordinate, int]:
    """Every cell of the table with its margins, from the counts of the inner cells (missing cells count 0)."""
    counts = dict.fromkeys(product(*[(*levels, ALL) for levels in dimensions]), 0)
    width = len(dimensions)
    for coordinate, count in body.items():
        if not count:
            continue
        for mask in range(1 << width):
            counts[tuple(ALL if mask >> d & 1 else coordinate[d] for d in range(width))] += count
    return counts


def _weight(count: int, coordinate: Coordinate) -> float:
    # Suppressing a margin costs far more than an inner cell: totals are what readers use most.
    return (count + 1) * 16.0 ** sum(1 for value in coordinate if value == ALL)


def suppress(
    dimensions: Sequence[Sequence[str]],
    counts: Mapping[Coordinate, int],
    k: int,
    forced: Iterable[Coordinate] = (),
    within: int | None = None,
) -> set[Coordinate]:
    """The cells to suppress in a table (every cell of ``with_margins``, only with levels somebody belongs to).

    ``within`` is the dimension that splits a group of clients (the band of their score): a zero there says
    something about the group (nobody in it has that band) and is suppressed, unless the group itself is empty.
    An empty group is published as 0 with its zeros: it is about nobody. But once one of its cells is hidden (as a
    complement, or forced), all of them are: published zeros would tell that the group is empty. ``forced`` cells
    are suppressed whatever their count (a group another table hides). A dimension with a single level is the same
    as its margin: it is set aside while choosing hypercubes and the level shares the margin's fate.
    """
    width = len(dimensions)
    if not counts.get((ALL,) * width):
        return set()  # nobody in the table: its zeros are about no one
    varying = [d for d in range(width) if len(dimensions[d]) > 1]

    def project(coordinate: Coordinate) -> Coordinate:
        return tuple(coordinate[d] for d in varying)

    inner_counts: dict[Coordinate, int] = {}
    for coordinate, count in counts.items():
        if all(coordinate[d] == ALL for d in range(width) if d not in varying):
            inner_counts[project(coordinate)] = count
    inner_dimensions = [dimensions[d] for d in varying]

    def group_of(cell: Coordinate) -> Coordinate:
        return cell if within is None else (*cell[:within], ALL, *cell[within + 1 :])

    empty_groups: dict[Coordinate, set[Coordinate]] = {}  # an empty group's cells, all 0
    for cell, count in counts.items():
        if count == 0 and counts[group_of(cell)] == 0:
            empty_groups.setdefault(project(group_of(cell)), set()).add(project(cell))
    inner_forced = {project(cell) for cell in forced}
    values = [(*levels, ALL) for levels in inner_dimensions]
    inner = _suppress_cells(values, inner_counts, k, inner_forced, list(empty_groups.values()))
    return {coordinate for coordinate in counts if project(coordinate) in inner}


def _suppress_cells(
    values: Sequence[tuple[str, ...]],
    counts: Mapping[Coordinate, int],
    k: int,
    forced: set[Coordinate],
    empty_groups: list[set[Coordinate]],
) -> set[Coordinate]:
    exempt = set().union(*empty_groups)
    suppressed = {cell for cell, count in counts.items() if count < k and cell not in exempt} | forced
    order = {cell: index for index, cell in enumerate(counts)}
    weights = {cell: _weight(count, cell) for cell, count in counts.items()}
    lines = _lines(values, counts)
    covered: set[Coordinate] = set()
    while True:
        for cell in sorted(suppressed - covered, key=lambda one: (counts[one], order[one])):
            if cell in covered:
                continue
            corners = _cheapest_hypercube(values, counts, weights, suppressed, cell)
            suppressed.update(corners)
            covered.update(corners)
        widened = _widen_small_remainders(lines, counts, order, suppressed, k)
        # An empty group with a hidden cell (a complement, or forced) is hidden whole: its zeros, published, would
        # say it is empty (a group with somebody in it never shows a zero), and so undo the hiding.
        opened = [cells for cells in empty_groups if cells & suppressed and not cells <= suppressed]
        for cells in opened:
            suppressed |= cells
        if not widened and not opened:
            return suppressed


def _lines(
    values: Sequence[tuple[str, ...]], counts: Mapping[Coordinate, int]
) -> list[tuple[Coordinate, list[Coordinate]]]:
    """Every sum in the table: a margin cell and the cells it adds up, along one dimension."""
    lines = []
    for cell in counts:
        for d, value in enumerate(cell):
            if value == ALL and len(values[d]) > 1:
                lines.append((cell, [(*cell[:d], level, *cell[d + 1 :]) for level in values[d] if level != ALL]))
    return lines


def _widen_small_remainders(
    lines: list[tuple[Coordinate, list[Coordinate]]],
    counts: Mapping[Coordinate, int],
    order: Mapping[Coordinate, int],
    suppressed: set[Coordinate],
    k: int,
) -> bool:
    """Where a published total minus its published parts leaves fewer than k clients (the hidden parts together),
    their mean and spread could be worked out from the published means: hide one more part. True if any was."""
    widened = False
    for total, parts in lines:
        if total in suppressed:
            continue
        hidden = [part for part in parts if part in suppressed]
        if hidden and sum(counts[part] for part in hidden) < k:
            shown = [part for part in parts if part not in suppressed]
            if shown:
                suppressed.add(min(shown, key=lambda part: (counts[part], order[part])))
                widened = True
    return widened


def _parities(width: int, flipping: tuple[bool, ...]) -> list[bool]:
    """For each corner, in the order ``itertools.product`` makes them: does its sign flip (an odd number of steps
    between two levels)?"""
    parities = [False]
    for flips in flipping:
        parities = [parity for parity in parities for parity in (parity, parity != flips)]
    return parities


def _cheapest_hypercube(
    values: Sequence[tuple[str, ...]],
    counts: Mapping[Coordinate, int],
    weights: Mapping[Coordinate, float],
    suppressed: set[Coordinate],
    cell: Coordinate,
) -> list[Coordinate]:
    width = len(values)
    if width == 0:
        return [cell]
    best: list[Coordinate] = []
    best_cost = math.inf
    choices = [[value for value in values[d] if value != cell[d]] for d in range(width)]
    parity_cache: dict[tuple[bool, ...], list[bool]] = {}
    for partner in product(*choices):
        # Opposite signs between two levels; the same sign between a level and its margin.
        flipping = tuple(ALL not in (cell[d], partner[d]) for d in range(width))
        parities = parity_cache.get(flipping)
        if parities is None:
            parities = parity_cache[flipping] = _parities(width, flipping)
        corners = list(product(*[(cell[d], partner[d]) for d in range(width)]))
        cost = 0.0
        for corner in corners:
            if corner not in suppressed:
                cost += weights[corner]
        if cost >= best_cost:
            continue
        lowest_plus = min(counts[corner] for corner, flips in zip(corners, parities, strict=True) if not flips)
        lowest_minus = min(
            (counts[corner] for corner, flips in zip(corners, parities, strict=True) if flips), default=math.inf
        )
        if lowest_plus == 0 and lowest_minus == 0:
            continue  # the checkerboard move would make a count negative whichever way it goes
        best, best_cost = corners, cost
        if cost == 0:
            break
    assert best, "pairing every dimension with its margin is always possible"
    return best
