"""Reasons for a model decision: the features that pushed hardest, as the phrases behind them.

A feature built from cues (`cue_money`, `vader_neg`, `neg_after`, the rating...) is shown
as the matched phrases themselves, in the same form as before the model existed:
`'charged twice' (-2.5, money)`, `'terrible' (-2.1)`, `rating 1★ (-3.0)`. A structural
feature is named after them: `information question (+0.9)`, where the number is its push towards the
label against the runner-up class in the model's log-odds. A learned word or word pair is
shown with its push: `'no reply' (learned, +0.7)`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from listener.scoring.features import FEATURES, INDEX
from listener.scoring.model import Decision

MAX_REASONS = 6
MAX_LEARNED = 3  # learned grams among the reasons: the cues' phrases stay in view
MIN_PUSH = 0.05
# learned single words too plain to explain anything to an agent (they still count)
_PLAIN = frozenset(
    "a an the i me my we our you your it its it's this that these those is are was were be been am "
    "to of in on at for from by with and or so as if then than there here they them their he she his "
    "her do does did have has had will would can could just get got but".split()
)

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
assert (_I_COMPOUND, _I_POS, _I_NEG) == (0, 1, 2)  # `explain` tests `j <= _I_NEG`


def explain(
    decision: Decision,
    tokens: Sequence[str],
    values: Sequence[float],
    spans: Mapping[int, tuple[int, str]],
    item_slot: Mapping[int, int],
    stars: int | None,
    nonzero: Sequence[int] | None = None,
) -> list[str]:
    """Up to MAX_REASONS strings: the phrases behind the strongest pushes first, then the
    structural features (question kind, first person...), each group strongest first.

    `item_slot` maps each scored item to the feature it fed (`features.extract`);
    `nonzero` lists the indices of `values` that may be non-zero (default: all)."""
    n = len(tokens)
    out: list[str] = []
    named: list[str] = []
    shown: set[int] = set()
    label = decision.label
    # reasons agree with the label: a phrase is shown as a cause only if its valence has
    # the label's sign (none for neutral), and a push is signed as the label's direction
    want = 1.0 if label == "positive" else -1.0 if label == "negative" else 0.0
    positive: list[int] | None = None  # the items ranked by strength, per sign, when needed
    negative: list[int] | None = None
    learned = 0
    cues: set[str] | None = None  # the phrases of the scored items, when a learned gram comes up
    for j, push in decision.contributions:
        if push < MIN_PUSH or len(out) >= MAX_REASONS:
            break
        if isinstance(j, str):
            if learned < MAX_LEARNED and j not in _PLAIN:
                if cues is None:
                    cues = _phrases(tokens, values, spans, nonzero)
                if j in cues:
                    # "'nobody' (-1.2, waiting)" says it; "'nobody' (learned, +0.2)" would confuse
                    continue
                out.append(f"'{j}' (learned, {_signed(push, want)})")
                learned += 1
            continue
        text = _NAMED_BY_INDEX.get(j)
        if text is not None:
            named.append(f"{text} ({_signed(push, want)})")
            continue
        if j in _STARS:
            if stars is None or len(values) <= n:
                continue
            items = [len(values) - 1]
        elif j <= _I_NEG:  # compound, pos_after, neg_after (features 0-2)
            if j == _I_COMPOUND:
                sign = 1.0 if label == "positive" else -1.0 if label == "negative" else 0.0
                if not sign:
                    continue
            else:
                sign = 1.0 if j == _I_POS else -1.0
            if sign > 0:
                if positive is None:
                    positive = _ranked(values, 1.0, nonzero)
                items = positive
            else:
                if negative is None:
                    negative = _ranked(values, -1.0, nonzero)
                items = negative
        else:  # a cue family or plain VADER words: the items behind it, strongest first
            items = [k for k, slot in item_slot.items() if slot == j and values[k]]
            if len(items) > 1:
                items.sort(key=lambda k: -abs(values[k]))
        for k in items:
            if k in shown or values[k] * want < MIN_PUSH:
                continue
            if len(out) >= MAX_REASONS:
                break
            shown.add(k)
            out.append(item_reason(k, tokens, values, spans, stars))
    return (out + named)[:MAX_REASONS]


def _signed(push: float, want: float) -> str:
    """A push towards the label, written as sentiment: "-0.7" towards negative, "+0.7"
    towards positive, "neutral 0.7" towards neutral."""
    if want == 0.0:
        return f"neutral {push:.1f}"
    return f"{push * want:+.1f}"


def item_reason(
    k: int, tokens: Sequence[str], values: Sequence[float], spans: Mapping[int, tuple[int, str]], stars: int | None
) -> str:
    """One scored item as a reason: `rating 1★ (-3.0)`, `'terrible' (-2.1)` or
    `'charged twice' (-2.5, money)` (item `len(tokens)` is the star rating)."""
    value = values[k]
    if k >= len(tokens):
        return f"rating {stars}★ ({value:+.1f})"
    hit = spans.get(k)
    if hit is None:
        return f"'{tokens[k]}' ({value:+.1f})"
    return f"'{item_phrase(k, tokens, spans)}' ({value:+.1f}, {hit[1]})"


def item_phrase(k: int, tokens: Sequence[str], spans: Mapping[int, tuple[int, str]]) -> str:
    """The words of item `k`: a cue's whole phrase, or the one token."""
    hit = spans.get(k)
    return tokens[k] if hit is None else " ".join(tokens[k : hit[0]])


def _phrases(
    tokens: Sequence[str],
    values: Sequence[float],
    spans: Mapping[int, tuple[int, str]],
    nonzero: Sequence[int] | None,
) -> set[str]:
    """The text of every item with a valence (a cue's whole phrase, or a VADER word)."""
    n = len(tokens)
    return {
        item_phrase(k, tokens, spans)
        for k in (range(len(values)) if nonzero is None else nonzero)
        if k < n and values[k]
    }


def _ranked(values: Sequence[float], sign: float, nonzero: Sequence[int] | None) -> list[int]:
    """Indices of the items with this sign, strongest first (ties: lower index first)."""
    if nonzero is None:
        ranked = [(-abs(v), k) for k, v in enumerate(values) if v * sign > 0]
    else:
        ranked = [(-abs(values[k]), k) for k in nonzero if values[k] * sign > 0]
    ranked.sort()
    return [k for _v, k in ranked]
