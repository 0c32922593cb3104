"""The pure-Python spike detection as it was before reports/spikes.py was vectorised
with numpy (commit d8dee66): the reference `test_spikes_vectorised.py` holds the new code
to, bit for bit (the expected counts, the dispersion and every episode). Not used at run
time."""

# The original module's docstring, for the record:
# Spike detection on hourly counts: a robust seasonal baseline and a count-aware test.
#
# The method (the README's "Reports" section says why this one):
#
# 1. **Expected count per hour** e_t = L(day) x W(weekday) x S(hour of day), all robust:
#    * S, the daily rhythm: a trimmed mean of the counts at each UTC hour of day over the
#      whole history, normalised to shares of a day;
#    * W, the weekly rhythm: a trimmed mean of the daily totals per weekday, relative to
#      all days (a quiet Sunday, a busy Monday);
#    * L, the level: the median of the previous 7 days' de-seasonalised totals (the whole
#      history's median until 3 days are known). A median over a week is unmoved by a spike
#      day, and follows a brand that grows.
#    Then each of the 168 hours of the week is corrected by how it ran against that
#    product over the history (pooled, its highest week left out, shrunk toward 1): the
#    Monday-morning surge is more than "Monday" times "morning".
#    Trimmed means, medians and the left-out week ignore the spikes themselves, so a past
#    outage does not raise the baseline. A Monday morning is expected to be busy, so it is
#    no spike.
# 2. **Count-aware test**: a count x over a window (1 hour and 3 hours) with expected e is
#    flagged when x >= MIN_COUNT, x >= MIN_RATIO x e, and the negative-binomial tail
#    P(X >= x | mean e, size r) < ALPHA. The negative binomial (a Poisson whose rate varies)
#    fits social data, which is over-dispersed; r is estimated from the history's residuals.
#    Under it, 3 posts after a night with an expected 0.4 are unremarkable, as they are
#    below MIN_COUNT; 300 against an expected 100 are not.
# 3. **Episodes**: flagged hours at most one hour apart are merged; each is widened by its
#    neighbours still clearly above the baseline (the ramp up and down), and reported with
#    start, end (exclusive), mentions and the baseline summed over its hours.
#
# Pure Python on lists: a report runs it per brand on a few thousand hours.

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any

MIN_COUNT = 10  # fewer posts than this in a window are never a spike
MIN_RATIO = 2.0  # and the window must hold at least twice its baseline
ALPHA = 1e-6  # tail probability threshold (thousands of hours are tested per series)
# The moment estimate of the dispersion leaves out the largest 2% of residuals (they may
# be spikes), which also removes part of the noise's own variance; this inflation puts
# it back. Calibrated with ALPHA on the synthetic set of bench/spikes.py (seeds 7 and 13;
# the README's figures are on seed 101, not used for calibration).
VAR_INFLATION = 1.3
WINDOWS = (1, 3)  # hours
LEVEL_DAYS = 7
TRIM = 0.15  # trimmed share at each end for the rhythm estimates
HOW_PRIOR = 5.0  # expected posts of shrinkage for the hour-of-week correction


_first, _second, _third = itemgetter(0), itemgetter(1), itemgetter(2)


@dataclass(slots=True)
class Episode:
    """One spike: hours [start, end) as indexes into the series, with its size."""

    start: int
    end: int
    mentions: int
    baseline: float
    peak: int
    p_value: float


def trimmed_mean(values: Sequence[float], trim: float = TRIM) -> float:
    if not values:
        return 0.0
    xs = sorted(values)
    k = int(len(xs) * trim)
    core = xs[k : len(xs) - k] or xs
    return sum(core) / len(core)


def _weekday(epoch_day: int) -> int:
    return (epoch_day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0


@lru_cache(maxsize=16)
def _calendar(first_hour: int, n: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[tuple[int, int, int], ...]]:
    """Calendar positions of hours first_hour .. first_hour + n - 1, computed once per
    (first_hour, n) and shared by every series of a report (they all span the same
    hours): (hour of day per index, hour of week per index, (day, first index, end
    index) per UTC day touched)."""
    hod = tuple((first_hour + i) % 24 for i in range(n))
    how = tuple(_hour_of_week(first_hour + i) for i in range(n))
    days = []
    i = 0
    while i < n:
        day = (first_hour + i) // 24
        j = min(n, (day + 1) * 24 - first_hour)
        days.append((day, i, j))
        i = j
    return hod, how, tuple(days)


def expected_counts(counts: Sequence[int], first_hour: int) -> list[float]:
    """e_t for every hour of `counts` (hour 0 = epoch hour `first_hour`).

    Written day by day over precomputed calendar positions (a report runs it on six
    series of ~4,000 hours); the arithmetic and its order are those of the plain
    per-hour definition, so the figures are the same to the last bit."""
    n = len(counts)
    if n == 0:
        return []
    hod, how, day_spans = _calendar(first_hour, n)
    offset = next((i for i, x in enumerate(counts) if x), n)
    by_hod: list[list[float]] = [[] for _ in range(24)]
    for j in range(offset, min(n, offset + 24)):  # every 24th hour from j: one hour of day
        by_hod[hod[j]] = [float(x) for x in counts[j::24]]
    s = [trimmed_mean(v) for v in by_hod]
    total_s = sum(s)
    shares = [v / total_s for v in s] if total_s > 0 else [1 / 24] * 24
    # Daily totals, partial days scaled up by the share of the day they cover.
    # Days before the series' first post are unknown, not quiet: a brand added last week
    # has no history, and zeros would make its first day a "spike".
    first_seen_day = (first_hour + offset) // 24 if offset < n else None
    totals: dict[int, float | None] = {}
    for d, i, j in day_spans:
        covered = 0.0
        for h in hod[i:j]:
            covered += shares[h]
        x = float(sum(counts[i:j]))
        ok = covered > 0.2 and first_seen_day is not None and d >= first_seen_day
        totals[d] = x / covered if ok else None
    known = {d: v for d, v in totals.items() if v is not None}
    overall = trimmed_mean(list(known.values())) if known else 0.0
    w = [1.0] * 7
    if overall > 0:
        for wd in range(7):
            vals = [v for d, v in known.items() if _weekday(d) == wd]
            if vals:
                w[wd] = max(trimmed_mean(vals) / overall, 0.05)
    deseason = {d: v / w[_weekday(d)] for d, v in known.items()}
    global_level = statistics.median(deseason.values()) if deseason else 0.0
    base: list[float] = []
    for d, i, j in day_spans:
        prev = [deseason[p] for p in range(d - LEVEL_DAYS, d) if p in deseason]
        scale = (statistics.median(prev) if len(prev) >= 3 else global_level) * w[_weekday(d)]
        base.extend([scale * shares[h] for h in hod[i:j]])
    return _hour_of_week_correction(counts, base, how, offset)


def _hour_of_week(hour: int) -> int:
    return _weekday(hour // 24) * 24 + hour % 24


def _hour_of_week_correction(counts: Sequence[int], base: list[float], how: Sequence[int],
                             offset: int) -> list[float]:
    """Scale each hour by how its hour-of-week slot ran against the product model.

    Daily x weekly rhythm misses their interaction: Monday 9:00 is busier than "a
    Monday" times "9:00" (the week's backlog). Per slot (168 of them), the factor is the
    pooled ratio sum(x) / sum(e) over the history's weeks, without the week where the
    slot ran highest (a spike in it must not teach the baseline), shrunk toward 1 by
    HOW_PRIOR expected posts so that a sparse slot keeps the product model.
    """
    slots: list[list[tuple[float, float, float]]] = [[] for _ in range(168)]
    for j in range(offset, min(len(counts), offset + 168)):  # every 168th hour: one slot
        slots[how[j]] = [(float(x), e, x - e) for x, e in zip(counts[j::168], base[j::168], strict=True)]
    factor = [1.0] * 168
    for k, pairs in enumerate(slots):
        if len(pairs) >= 3:
            pairs = sorted(pairs, key=_third)[:-1]
        xs = sum(map(_first, pairs))
        es = sum(map(_second, pairs))
        factor[k] = (xs + HOW_PRIOR) / (es + HOW_PRIOR)
    return [e * factor[k] for e, k in zip(base, how, strict=True)]


def dispersion(counts: Sequence[int], expected: Sequence[float]) -> float:
    """The negative binomial's size r (variance = e + e^2/r), by moments on the residuals.

    The largest 2% of residuals are left out (they are the spikes we look for), and the
    excess variance inflated by VAR_INFLATION to make up for it. Clipped to [3, 200]:
    r = 200 is as good as Poisson.
    """
    pairs = [(x - e, e) for x, e in zip(counts, expected, strict=True) if e > 0.5]
    if len(pairs) < 24:
        return 10.0
    pairs.sort(key=_first)
    pairs = pairs[: max(1, int(len(pairs) * 0.98))]
    excess = sum([r * r - e for r, e in pairs])
    scale = sum([e * e for _, e in pairs])
    if scale <= 0 or excess <= 0:
        return 200.0
    return min(max(scale / (excess * VAR_INFLATION), 3.0), 200.0)


def nb_tail(x: int, mean: float, size: float) -> float:
    """P(X >= x) for a negative binomial with this mean and size; exact sum in log space."""
    if x <= 0:
        return 1.0
    mean = max(mean, 1e-3)
    p = size / (size + mean)
    log_p, log_q = math.log(p), math.log1p(-p)

    def log_pmf(k: int) -> float:
        return math.lgamma(k + size) - math.lgamma(size) - math.lgamma(k + 1) + size * log_p + k * log_q

    if x <= mean:  # the lower sum is the short one, and the tail is not small anyway
        return max(0.0, 1.0 - sum(math.exp(log_pmf(k)) for k in range(x)))
    total = 0.0
    term = math.exp(log_pmf(x))
    k = x
    while term > 0:
        total += term
        if term < total * 1e-12 or k - x > 100_000:
            break
        term *= (k + size) / (k + 1) * (1 - p)
        k += 1
    return min(total, 1.0)


def detect(
    counts: Sequence[int],
    first_hour: int,
    *,
    from_index: int = 0,
    min_count: int = MIN_COUNT,
    min_ratio: float = MIN_RATIO,
    alpha: float = ALPHA,
    expected: Sequence[float] | None = None,
) -> list[Episode]:
    """Spikes in `counts` that touch hours >= `from_index` (earlier hours are history)."""
    n = len(counts)
    if n == 0:
        return []
    e = list(expected) if expected is not None else expected_counts(counts, first_hour)
    r = dispersion(counts, e)
    flagged: dict[int, float] = {}
    for width in WINDOWS:
        xs, mus = _window_sums(counts, width), _window_sums(e, width)
        lo = max(0, from_index - width + 1)
        for i in [i for i in range(lo, len(xs)) if xs[i] >= min_count and xs[i] >= min_ratio * mus[i]]:
            x, mu = xs[i], mus[i]
            p = nb_tail(int(x), mu, r * width)
            if p < alpha:
                for j in range(i, i + width):  # the window's hours that carry the excess
                    if width == 1 or _clearly_above(counts[j], e[j], r, sds=1.0):
                        flagged[j] = min(p, flagged.get(j, 1.0))
    if not flagged:
        return []
    episodes: list[Episode] = []
    hours = sorted(flagged)
    group = [hours[0]]
    for h in hours[1:]:
        if h - group[-1] <= 2:
            group.append(h)
        else:
            episodes.append(_episode(group, counts, e, r, flagged))
            group = [h]
    episodes.append(_episode(group, counts, e, r, flagged))
    return [ep for ep in episodes if ep.end > from_index]


def _window_sums(values: Sequence[Any], width: int) -> list[Any]:
    """sum(values[i:i + width]) for every i, added left to right as sum() does (so the
    same floats), in `width` passes over the list instead of one sum() per window."""
    acc = list(values[: len(values) - width + 1])
    for k in range(1, width):
        acc = [a + b for a, b in zip(acc, values[k:], strict=False)]
    return acc


def _clearly_above(x: int, e: float, r: float, sds: float = 2.0) -> bool:
    return x >= 2 and x > 1.5 * e and x > e + sds * math.sqrt(e + e * e / r)


def _episode(group: list[int], counts: Sequence[int], e: Sequence[float], r: float,
             flagged: dict[int, float]) -> Episode:
    start, end = group[0], group[-1] + 1
    while start > 0 and _clearly_above(counts[start - 1], e[start - 1], r):
        start -= 1
    while end < len(counts) and _clearly_above(counts[end], e[end], r):
        end += 1
    peak = max(range(start, end), key=lambda i: counts[i] - e[i])
    return Episode(
        start=start,
        end=end,
        mentions=int(sum(counts[start:end])),
        baseline=float(sum(e[start:end])),
        peak=peak,
        p_value=min(flagged[h] for h in group),
    )


__all__ = ["ALPHA", "MIN_COUNT", "MIN_RATIO", "Episode", "detect", "dispersion", "expected_counts", "nb_tail"]
