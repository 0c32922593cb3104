"""Spike detection on synthetic hourly series: precision and recall.

    python bench/spikes.py [--series 200] [--seed 13]

Each series is 8 weeks of hourly mention counts with what real brand traffic has: a
daily rhythm (quiet nights, a lunchtime peak, a commute bump), a weekly one (busy
Mondays, a Monday-morning surge, quiet weekends), a slow trend, and over-dispersed noise
(negative binomial, size 5..50). Levels run from 0.2 to 80 mentions an hour. The first 4
weeks are history; in the last 4, most series get 1-2 injected spikes (1-8 hours, 2-6x
the expected count, at least 15 extra posts), and quiet series get decoys: +3 posts in
one night hour, which must NOT be reported (too few to mean anything).

A detected episode is a true positive when it overlaps an injected spike (+-1 hour);
precision = true episodes / all episodes, recall = injected spikes found / injected.
Prints one JSON object. The figures are in the README (Reports, "Spikes").
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reports.spikes import detect

FIRST_HOUR = 493_776  # 2026-05-04 00:00 UTC, a Monday
WEEKS = 8
HISTORY_WEEKS = 4


@dataclass
class Series:
    counts: list[int]
    spikes: list[tuple[int, int]] = field(default_factory=list)  # injected [start, end)
    decoys: list[int] = field(default_factory=list)
    level: float = 0.0


def _rhythm(hour: int) -> float:
    h = hour % 24
    day = (hour // 24 + 3) % 7  # Monday = 0
    daily = 0.2 + math.exp(-(((h - 13) / 4.5) ** 2)) + 0.4 * math.exp(-(((h - 8) / 1.5) ** 2))
    weekly = (1.3, 1.05, 1.0, 1.0, 1.05, 0.7, 0.6)[day]
    monday_morning = 1.6 if day == 0 and 7 <= h <= 11 else 1.0
    return daily * weekly * monday_morning


def generate(rng: np.random.Generator) -> Series:
    n = WEEKS * 168
    level = float(math.exp(rng.uniform(math.log(0.2), math.log(80))))
    shape = np.array([_rhythm(FIRST_HOUR + i) for i in range(n)])
    shape /= shape.mean()
    trend = 1 + rng.uniform(-0.3, 0.5) * np.arange(n) / n
    mu = level * shape * trend
    size = rng.uniform(5, 50)
    counts = rng.poisson(rng.gamma(size, mu / size)).astype(int)
    s = Series(counts.tolist(), level=level)
    start_eval = HISTORY_WEEKS * 168
    k = rng.choice([0, 1, 2], p=[0.25, 0.55, 0.2])
    taken: list[tuple[int, int]] = []
    for _ in range(k):
        dur = int(rng.integers(1, 9))
        for _try in range(20):
            st = int(rng.integers(start_eval + 24, n - dur - 1))
            if all(st + dur + 48 < a or st > b + 48 for a, b in taken):
                break
        else:
            continue
        mult = rng.uniform(2, 6)
        extra_mu = mu[st : st + dur] * mult
        if extra_mu.sum() < 15:
            extra_mu = extra_mu + (15 - extra_mu.sum()) / dur
        extra = rng.poisson(extra_mu)
        for i in range(dur):
            s.counts[st + i] += int(extra[i])
        taken.append((st, st + dur))
        s.spikes.append((st, st + dur))
    if level < 3:
        for _ in range(int(rng.integers(1, 4))):
            day = int(rng.integers(HISTORY_WEEKS * 7, WEEKS * 7))
            h = day * 24 + int(rng.integers(1, 6))
            if all(not (a - 24 <= h < b + 24) for a, b in s.spikes):
                s.counts[h] += 3
                s.decoys.append(h)
    return s


def evaluate(series: int = 200, seed: int = 13) -> dict[str, float | int]:
    rng = np.random.default_rng(seed)
    tp_eps = fp_eps = found = injected = decoy_hits = 0
    quiet_fp = quiet_series = 0
    started = time.perf_counter()
    for _ in range(series):
        s = generate(rng)
        eps = detect(s.counts, FIRST_HOUR, from_index=HISTORY_WEEKS * 168)
        injected += len(s.spikes)
        hit = [False] * len(s.spikes)
        for ep in eps:
            match = [i for i, (a, b) in enumerate(s.spikes) if ep.start < b + 1 and ep.end > a - 1]
            if match:
                tp_eps += 1
                for i in match:
                    hit[i] = True
            else:
                fp_eps += 1
                if any(ep.start <= d < ep.end for d in s.decoys):
                    decoy_hits += 1
        found += sum(hit)
        if not s.spikes:
            quiet_series += 1
            quiet_fp += sum(1 for _ in eps)
    detected = tp_eps + fp_eps
    return {
        "series": series,
        "hours_per_series": WEEKS * 168,
        "evaluated_hours_per_series": (WEEKS - HISTORY_WEEKS) * 168,
        "injected": injected,
        "detected": detected,
        "precision": round(tp_eps / detected, 3) if detected else 1.0,
        "recall": round(found / injected, 3) if injected else 1.0,
        "false_episodes": fp_eps,
        "false_episodes_on_series_without_spikes": quiet_fp,
        "series_without_spikes": quiet_series,
        "decoys_reported": decoy_hits,
        "seconds": round(time.perf_counter() - started, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    print(json.dumps(evaluate(args.series, args.seed)))


if __name__ == "__main__":
    main()
