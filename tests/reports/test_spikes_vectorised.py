"""reports/spikes.py (numpy) computes what the pure-Python reference computes, to the last
bit: expected counts, dispersion and episodes, on the synthetic series of bench/spikes.py
(rhythms, trends, spikes, decoys, levels from 0.2 to 80 an hour), on series cut to start
mid-day and mid-week, with leading zeros (a brand added late), and on tiny ones."""

from __future__ import annotations

import random
from dataclasses import astuple

import pytest

from reports import spikes
from tests.reports import spikes_reference as ref
from tests.reports.test_spikes import MONDAY, _bench


def _same(counts: list[int], first_hour: int, from_index: int) -> None:
    assert spikes.expected_counts(counts, first_hour) == ref.expected_counts(counts, first_hour)
    e = ref.expected_counts(counts, first_hour)
    if counts:
        assert spikes.dispersion(counts, e) == ref.dispersion(counts, e)
    got = [astuple(ep) for ep in spikes.detect(counts, first_hour, from_index=from_index)]
    assert got == [astuple(ep) for ep in ref.detect(counts, first_hour, from_index=from_index)]


def test_the_bench_series_give_the_same_floats_and_episodes() -> None:
    import numpy as np

    bench = _bench()
    rng, gen = random.Random(3), np.random.default_rng(101)
    found = 0
    for i in range(60):
        counts = list(bench.generate(gen).counts)
        cut = rng.randrange(0, 200)  # start anywhere in a day and a week
        first = bench.FIRST_HOUR + cut
        _same(counts[cut:], first, from_index=len(counts[cut:]) - 28 * 24 if i % 2 else 0)
        found += len(spikes.detect(counts[cut:], first))
    assert found > 20  # the series do hold spikes: episodes were compared, not only empties


@pytest.mark.parametrize("n", [0, 1, 2, 3, 23, 24, 25, 167, 168, 169, 500])
def test_short_and_sparse_series(n: int) -> None:
    rng = random.Random(n)
    for start in (MONDAY, MONDAY + 7, MONDAY + 100):
        _same([rng.choice((0, 0, 0, 1, 2, 40)) for _ in range(n)], start, 0)
        _same([0] * (n // 2) + [rng.randrange(30) for _ in range(n - n // 2)], start, n // 3)
