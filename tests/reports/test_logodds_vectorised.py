"""`log_odds_z` computes the z of its candidate terms with numpy, elementwise: the same
floats, bit for bit, as the per-term formula it replaced (written out below), so the
report's rounded z values and its ties (broken by term) are unchanged."""

from __future__ import annotations

import math
import random
from collections import Counter

from reports.engine import _Others
from reports.logodds import PRIOR_CAP, _total, distinctive_terms, log_odds_z


def _reference(group, others, background=None, alpha0=None, min_count=1):
    n_i = float(_total(group))
    n_j = float(_total(others))
    bg_total = float(sum(background.values())) if background is not None else n_i + n_j
    if bg_total <= 0:
        return {}
    a0 = float(alpha0) if alpha0 is not None else min(bg_total, PRIOR_CAP)
    out = {}
    for term, y_i in group.items():
        if y_i <= 0 or y_i < min_count:
            continue
        y_j = float(others.get(term, 0))
        bg = background.get(term, 0) if background is not None else y_i + y_j
        a_w = a0 * max(bg, 0.5) / bg_total
        li = math.log((y_i + a_w) / max(n_i + a0 - y_i - a_w, 1e-9))
        lj = math.log((y_j + a_w) / max(n_j + a0 - y_j - a_w, 1e-9))
        var = 1.0 / (y_i + a_w) + 1.0 / (y_j + a_w)
        out[term] = ((li - lj) / math.sqrt(var), int(y_i))
    return out


def _counts(rng: random.Random, vocab: list[str], tokens: int) -> Counter[str]:
    weights = [1 / (i + 1) for i in range(len(vocab))]  # Zipfian, like real text
    return Counter(rng.choices(vocab, weights, k=tokens))


def test_vectorised_z_is_the_scalar_formula_bit_for_bit() -> None:
    rng = random.Random(11)
    vocab = [f"w{i}" for i in range(3000)] + [f"w{i} w{i + 1}" for i in range(1000)]
    for trial in range(12):
        brands = [_counts(rng, vocab, rng.choice([50, 2_000, 20_000])) for _ in range(3)]
        others = _Others(brands[1:])
        merged = brands[1] + brands[2]
        background = brands[0] + merged if trial % 3 == 0 else None
        for min_count in (1, 3):
            for alpha0 in (None, 50.0):
                want = _reference(brands[0], merged, background, alpha0, min_count)
                assert log_odds_z(brands[0], others, background, alpha0, min_count) == want
                assert log_odds_z(brands[0], merged, background, alpha0, min_count) == want
        assert distinctive_terms(brands[0], others) == distinctive_terms(brands[0], merged)


def test_edge_cases() -> None:
    assert log_odds_z(Counter(), Counter({"a": 2})) == {}
    assert log_odds_z(Counter({"a": 2}), Counter(), min_count=3) == {}
    assert log_odds_z(Counter({"a": 0, "b": -1, "c": 4}), Counter({"a": 1}), min_count=0) == \
        _reference(Counter({"a": 0, "b": -1, "c": 4}), Counter({"a": 1}), min_count=0)
    assert log_odds_z(Counter({"a": 3}), Counter({"a": 3}), background={"b": 5}) == \
        _reference(Counter({"a": 3}), Counter({"a": 3}), background={"b": 5})
