"""Reasons for a model decision: the features that pushed hardest, as the phrases behind them.

A feature built from cues (`cue_money`, `vader_neg`, `neg_after`, the rating...) is shown
as the matched phrases themselves, in the same form as before the model existed:
`'charged twice' (-2.5, money)`, `'terrible' (-2.1)`, `rating 1★ (-3.0)`. A structural
feature is named after them: `information question (+0.9)`, where the number is its push towards the
label against the runner-up class in the model's log-odds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from listener.scoring.features import FEATURES, INDEX
from listener.scoring.model import Decision

MAX_REASONS = 6
MIN_PUSH = 0.05

_NAMED: dict[str, str] = {
    "open_complaint": "open complaint",
    "resolved": "problem reported fixed",
    "q_info": "information question",
    "q_complaint": "complaint asked as a question",
    "exclaim": "exclamation marks",
    "qmarks": "question marks",
    "caps": "CAPITALS",
    "handle": "@handle",
    "hashtag": "#hashtag",
    "length": "length",
    "negations": "negations",
    "but": "'but'",
    "number": "numbers",
    "time_expr": "durations or dates",
    "first_person": "first person",
    "second_person": "addresses 'you'",
    "persistence": "still/again/since",
    "help": "asks for help",
    "urgent": "urgent words",
}
_NAMED_BY_INDEX = {INDEX[k]: v for k, v in _NAMED.items()}
_STARS = frozenset(INDEX[f"stars_{s}"] for s in range(1, 6))
_I_COMPOUND = INDEX["compound"]
_I_POS = INDEX["pos_after"]
_I_NEG = INDEX["neg_after"]
assert set(_NAMED) <= set(FEATURES)


def explain(
    decision: Decision,
    tokens: Sequence[str],
    values: Sequence[float],
    spans: Mapping[int, tuple[int, str]],
    item_slot: Mapping[int, int],
    stars: int | None,
) -> list[str]:
    """Up to MAX_REASONS strings: the phrases behind the strongest pushes first, then the
    structural features (question kind, first person...), each group strongest first.

    `item_slot` maps each scored item to the feature it fed (`features.extract`)."""
    n = len(tokens)
    out: list[str] = []
    named: list[str] = []
    shown: set[int] = set()

    def item(k: int) -> None:
        if k in shown or len(out) >= MAX_REASONS:
            return
        shown.add(k)
        value = values[k]
        if k >= n:
            out.append(f"rating {stars}★ ({value:+.1f})")
            return
        hit = spans.get(k)
        if hit is None:
            out.append(f"'{tokens[k]}' ({value:+.1f})")
        else:
            out.append(f"'{' '.join(tokens[k : hit[0]])}' ({value:+.1f}, {hit[1]})")

    label = decision.label
    for j, push in decision.contributions:
        if push < MIN_PUSH or len(out) >= MAX_REASONS:
            break
        text = _NAMED_BY_INDEX.get(j)
        if text is not None:
            named.append(f"{text} ({push:+.1f})")
        elif j in _STARS:
            if stars is not None and len(values) > n:
                item(len(values) - 1)
        elif j == _I_COMPOUND or j == _I_POS or j == _I_NEG:
            sign = 1.0 if j == _I_POS else -1.0 if j == _I_NEG else 0.0
            if j == _I_COMPOUND:
                sign = 1.0 if label == "positive" else -1.0 if label == "negative" else 0.0
            if sign:
                ranked = [(-abs(v), k) for k, v in enumerate(values) if v * sign > 0]
                ranked.sort()
                for _v, k in ranked:
                    item(k)
        else:  # a cue family or plain VADER words: the items behind it, strongest first
            members = [k for k, slot in item_slot.items() if slot == j and values[k]]
            for k in sorted(members, key=lambda k: -abs(values[k])):
                item(k)
    return (out + named)[:MAX_REASONS]
