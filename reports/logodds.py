"""Distinctive terms: weighted log-odds with an informative Dirichlet prior.

Monroe, Colaresi & Quinn (2008), "Fightin' Words", section 3.5.1. Raw counts rank the
words everyone uses ("phone", "today"); plain log-odds ranks words seen once. This method
shrinks each group's term frequency toward a prior built from the background (all
groups pooled), then divides the difference in log-odds by its standard error:

    delta_w = log((y_iw + a_w) / (n_i + a0 - y_iw - a_w))
            - log((y_jw + a_w) / (n_j + a0 - y_jw - a_w))
    var(delta_w) ~ 1 / (y_iw + a_w) + 1 / (y_jw + a_w)
    z_w = delta_w / sqrt(var)

where y_i are the group's counts, y_j everyone else's, n the totals, a_w = a0 * p_w with
p_w the background share of the term. A term is distinctive when z_w is large: frequent
enough to be sure of, and more frequent in this group than elsewhere.

a0 (the prior's strength) defaults to the background total capped at PRIOR_CAP, so a
small corpus is shrunk about as much as it has evidence, and a huge one is not
shrunk to nothing.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from itertools import repeat

import numpy as np

PRIOR_CAP = 10_000.0
Z_MIN = 1.96  # report only terms distinctive at the 95% level


def log_odds_z(
    group: Mapping[str, int],
    others: Mapping[str, int],
    background: Mapping[str, int] | None = None,
    alpha0: float | None = None,
    min_count: int = 1,
) -> dict[str, tuple[float, int]]:
    """term -> (z, count in group) for every term of `group` seen at least `min_count` times.

    Without `background`, the background is group + others (not materialised: a term's
    background count is looked up in both).
    """
    n_i = float(_total(group))
    n_j = float(_total(others))
    bg_total = float(sum(background.values())) if background is not None else n_i + n_j
    if bg_total <= 0:
        return {}
    a0 = float(alpha0) if alpha0 is not None else min(bg_total, PRIOR_CAP)
    # The candidates first, in one comprehension: most of a sample's terms are seen once
    # or twice, under `min_count`, and a Python loop body per term cost more than the
    # math on the few that remain. The others' (and background) counts are looked up
    # for the candidates only, in C (`map`, or the mapping's own `counts_of`).
    candidates = [(term, y) for term, y in group.items() if y >= min_count and y > 0]
    if not candidates:
        return {}
    terms = [term for term, _y in candidates]
    many = getattr(others, "counts_of", None)
    y_j = np.array(many(terms) if callable(many) else list(map(others.get, terms, repeat(0))), dtype=np.float64)
    y_i = np.array([y for _term, y in candidates], dtype=np.float64)
    if background is not None:
        bg = np.array(list(map(background.get, terms, repeat(0))), dtype=np.float64)
    else:
        bg = y_i + y_j
    # The formula of the module docstring, elementwise, each operation in the order the
    # per-term expression evaluates it (numpy's +, -, *, / and sqrt are IEEE-rounded as
    # Python's floats are); the logarithms are math.log's, as numpy's own log may differ
    # in the last bit on some CPUs. So the floats are those of the scalar formula, bit
    # for bit (tests/reports/test_logodds_vectorised.py).
    # A term missing from the background still gets a small prior (half a count).
    a_w = a0 * np.maximum(bg, 0.5) / bg_total
    log = math.log
    li = np.array(list(map(log, ((y_i + a_w) / np.maximum(n_i + a0 - y_i - a_w, 1e-9)).tolist())))
    lj = np.array(list(map(log, ((y_j + a_w) / np.maximum(n_j + a0 - y_j - a_w, 1e-9)).tolist())))
    var = 1.0 / (y_i + a_w) + 1.0 / (y_j + a_w)
    z = ((li - lj) / np.sqrt(var)).tolist()
    return {term: (zw, int(y)) for (term, y), zw in zip(candidates, z, strict=True)}


def _total(counts: Mapping[str, int]) -> int:
    """sum(counts.values()), from the mapping's own `total()` when it has one (Counter;
    the report engine's view of the other brands' counts, which it keeps as one total)."""
    total = getattr(counts, "total", None)
    return int(total()) if callable(total) else sum(counts.values())


def distinctive_terms(
    group: Mapping[str, int],
    others: Mapping[str, int],
    *,
    background: Mapping[str, int] | None = None,
    top: int = 10,
    min_count: int = 3,
    exclude: Collection[str] = (),
) -> list[dict[str, object]]:
    """The `top` terms most distinctive of `group` against `others`, best first.

    Each item: {"term", "count" (in the group), "z", "significant" (z >= Z_MIN, the 95%
    level)}. Terms with z > 0 and count >= min_count are ranked by z; on a small corpus
    few reach Z_MIN, and the best-supported leads are still worth showing, marked as
    such. `exclude` drops terms such as the brands' own names and handles (a brand's
    name is trivially "distinctive" of its own mentions and says nothing).
    """
    banned = {e.casefold() for e in exclude}
    scored = log_odds_z(group, others, background, min_count=min_count)
    ranked = sorted(
        ((z, n, term) for term, (z, n) in scored.items() if z > 0 and n >= min_count),
        key=lambda item: (-item[0], item[2]),
    )
    out: list[dict[str, object]] = []
    for z, n, term in ranked:  # the exclusions checked best first, until `top` are kept
        if len(out) == top:
            break
        if not _banned(term, banned):
            out.append({"term": term, "count": n, "z": round(z, 2), "significant": z >= Z_MIN})
    return out


def _banned(term: str, banned: set[str]) -> bool:
    return term in banned or any(part in banned for part in term.split(" "))


__all__ = ["Z_MIN", "distinctive_terms", "log_odds_z"]
