"""Urgency 0-100: a weighted sum of signals, each a strength in [0, 1].

Why a transparent sum rather than a model: agents and operators must be able to see
*why* a mention jumped the queue (DESIGN invariant 2), and tune it in rules.yaml
(`urgency.weights`). Each signal's contribution is `weight x strength`; the pipeline
stores the non-zero contributions (`Score.urgency_signals`), which add up to the total
(before it is clipped to 100 and rounded).

Signals, and what the customer-care literature says they stand for:
- negativity: how unhappy (compound and stated complaints); angry customers churn;
- severity: the worst matched category (safety/outage 5 .. general 1);
- reach: followers on a log scale up to `reach_followers_high`, a verified account adds;
  high-reach complaints spread;
- engagement: likes/reposts/replies on a log scale: the complaint is already spreading;
- addressed: the brand's @handle is in the text or the post replies to the brand: the
  customer is waiting for *us*;
- help_request: asks for help, or asks the brand a question;
- repeat_contact: the author already has open escalations ("don't make them repeat");
- pile_on: many negative mentions in the same thread or category right now;
- urgent_words: "urgent", "asap", "emergency"...
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from socialear.config import URGENCY_SIGNALS, Urgency

ENGAGEMENT_HIGH = 1_000  # interactions that count as fully spread (no config field yet)
VERIFIED_BONUS = 0.25


def handle_pattern(handles: Iterable[str]) -> re.Pattern[str] | None:
    """One regex matching any of the brand's @handles as a whole word: an `@` not after a
    word character or another `@`, the handle, a word boundary. The `@` comes first and
    the test of what precedes it after (a lookbehind over the `@` and the character
    before it), so a search skips to each `@` instead of trying every position: 14x
    faster on a text without one, the same matches (`tests/listener/scoring/test_fast_paths.py`)."""
    names = sorted({h.lstrip("@").lower() for h in handles if h and h.strip("@")}, key=len, reverse=True)
    if not names:
        return None
    return re.compile(r"@(?<![\w@]@)(?:" + "|".join(map(re.escape, names)) + r")\b", re.IGNORECASE)


def log_strength(value: float, high: float) -> float:
    """0 at 0, 1 at `high`, logarithmic in between (1k followers is not 1% of 100k's reach)."""
    if value <= 0:
        return 0.0
    return min(1.0, math.log1p(value) / math.log1p(high))


def pile_on_strength(count: int, threshold: int) -> float:
    """0 below the threshold, 0.5 at it, 1 at twice the threshold."""
    if count < threshold:
        return 0.0
    return min(1.0, 0.5 + 0.5 * (count - threshold) / threshold)


def negativity_strength(compound: float, complaint: float, label: str) -> float:
    """How negative: VADER compound, or the weight of stated complaints if stronger."""
    if label != "negative":
        return 0.0
    stated = min(1.0, -complaint / 5.0) if complaint < 0 else 0.0
    return max(min(1.0, -compound), stated)


def combine(urgency: Urgency, strengths: dict[str, float]) -> tuple[int, dict[str, float]]:
    """Weights x strengths -> (total 0-100, non-zero contributions by signal)."""
    weights = urgency.weights
    points: dict[str, float] = {}
    for name in URGENCY_SIGNALS:
        strength = strengths.get(name, 0.0)
        if strength > 0:
            contribution = round(getattr(weights, name) * min(1.0, strength), 2)
            if contribution:
                points[name] = contribution
    total = round(min(100.0, max(0.0, sum(points.values()))))
    return total, points
