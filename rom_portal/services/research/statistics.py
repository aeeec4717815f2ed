"""Summaries of a cell's scores, kept as a histogram: one count per distinct score, never one entry per client.

Scores take few distinct values (a sum of item values, or a mean with at most 4 decimals), so a cell of 100,000
clients is a few dozen numbers. Median and quartiles interpolate between the ordered scores as numpy's default,
R's type 7 and Excel's QUARTILE.INC do; sd is the sample standard deviation (n - 1).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

DECIMALS = 2


class Histogram(Counter[float]):
    """Score -> how many clients have it."""

    @property
    def n(self) -> int:
        return sum(self.values())


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    sd: float | None  # None for a single score
    median: float
    q1: float
    q3: float


def quantile(ordered: list[tuple[float, int]], n: int, p: float) -> float:
    """The p-quantile (type 7) of ``n`` scores given as (score, count) in ascending order."""
    position = (n - 1) * p
    lower_index = math.floor(position)
    fraction = position - lower_index
    lower = upper = None
    seen = 0
    for score, count in ordered:
        if lower is None and lower_index < seen + count:
            lower = score
        if lower_index + 1 < seen + count or (fraction == 0 and lower is not None):
            upper = score
            break
        seen += count
    assert lower is not None
    if upper is None:
        upper = lower
    return lower + (upper - lower) * fraction


def summarise(histogram: Histogram) -> Summary | None:
    n = histogram.n
    if n == 0:
        return None
    ordered = sorted(histogram.items())
    mean = math.fsum(score * count for score, count in ordered) / n
    sd = math.sqrt(math.fsum(count * (score - mean) ** 2 for score, count in ordered) / (n - 1)) if n > 1 else None
    return Summary(
        n=n,
        mean=round(mean, DECIMALS),
        sd=round(sd, DECIMALS) if sd is not None else None,
        median=round(quantile(ordered, n, 0.5), DECIMALS),
        q1=round(quantile(ordered, n, 0.25), DECIMALS),
        q3=round(quantile(ordered, n, 0.75), DECIMALS),
    )


@dataclass
class ChangeSum:
    """Pre-post differences of one cell: their count and sum (only the mean is published)."""

    pairs: int = 0
    total: float = 0.0

    def add(self, difference: float, pairs: int = 1) -> None:
        self.pairs += pairs
        self.total += difference * pairs

    def merge(self, other: ChangeSum) -> None:
        self.pairs += other.pairs
        self.total += other.total

    @property
    def mean(self) -> float | None:
        return round(self.total / self.pairs, DECIMALS) if self.pairs else None
