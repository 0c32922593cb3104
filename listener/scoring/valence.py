"""VADER's per-word valence rules, ported to run on pre-lowered tokens.

`SentimentIntensityAnalyzer.sentiment_valence` re-lowercases the whole sentence up to
seven times for *every* sentiment word (`_negation_check`, `_special_idioms_check`), so
most of VADER's time goes to `str.lower`. socialear's speed budget (the full scorer at
>= 50% of bare VADER throughput) leaves no room for that, so this module applies the
same rules, in the same order, with the same constants, to a list lowered once.
`tests/listener/scoring/test_valence.py` checks it gives VADER's exact compound scores.

Differences from VADER, both deliberate: none in the per-word rules; VADER's `but` rule
(which mis-indexes repeated values) is replaced by a correct one in `sentiment`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    C_INCR,
    N_SCALAR,
    NEGATE,
    SPECIAL_CASES,
)

_NEGATE = frozenset(NEGATE)
_SO_THIS = ("so", "this")
# Words that occur in VADER's multi-word idioms/boosters: the idiom check is skipped
# unless one of them is near, which changes nothing but saves string building.
_IDIOM_WORDS = frozenset([w for key in [*SPECIAL_CASES, *[k for k in BOOSTER_DICT if " " in k]] for w in key.split()])
_MULTIWORD_BOOSTERS = {k: v for k, v in BOOSTER_DICT.items() if " " in k}


def _signed_booster(scalar: float, valence: float, shouted: bool) -> float:
    """A booster word's push on the word it modifies: towards the word's sign, and by
    C_INCR more when the booster is in capitals amid lower case (VADER's _scalar_inc_dec)."""
    if valence < 0:
        scalar = -scalar
    if shouted:
        scalar += C_INCR if valence > 0 else -C_INCR
    return scalar


def _idioms(valence: float, low: list[str], i: int) -> float:
    """VADER's `_special_idioms_check` (only reached when i >= 3)."""
    n = len(low)
    if _IDIOM_WORDS.isdisjoint(low[i - 3 : i + 3]):
        return valence
    w3, w2, w1, w0 = low[i - 3], low[i - 2], low[i - 1], low[i]
    threetwoone = f"{w3} {w2} {w1}"
    threetwo = f"{w3} {w2}"
    twoone = f"{w2} {w1}"
    for seq in (f"{w1} {w0}", f"{w2} {w1} {w0}", twoone, threetwoone, threetwo):
        if seq in SPECIAL_CASES:
            valence = SPECIAL_CASES[seq]
            break
    if n - 1 > i:
        zeroone = f"{w0} {low[i + 1]}"
        if zeroone in SPECIAL_CASES:
            valence = SPECIAL_CASES[zeroone]
    if n - 1 > i + 1:
        zeroonetwo = f"{w0} {low[i + 1]} {low[i + 2]}"
        if zeroonetwo in SPECIAL_CASES:
            valence = SPECIAL_CASES[zeroonetwo]
    for n_gram in (threetwoone, threetwo, twoone):
        if n_gram in _MULTIWORD_BOOSTERS:
            valence += _MULTIWORD_BOOSTERS[n_gram]
    return valence


def word_valences(
    words: list[str],
    low: list[str],
    lexicon: Mapping[str, float],
    cap_diff: bool,
    hits: Iterable[int] | None = None,
) -> list[float]:
    """One valence per word, exactly as VADER's `polarity_scores` loop computes them.

    `words` are VADER's tokens (`SentiText.words_and_emoticons`), `low` the same lowered.
    VADER's `scalar_inc_dec` and `negated([word])` are inlined (same operations, same
    order): they ran several times per sentiment word. `hits`: the indices of the words
    in the lexicon and not boosters, ascending, when the caller already knows them.
    """
    n = len(words)
    out = [0.0] * n
    last = n - 1
    boosters = BOOSTER_DICT
    negate = _NEGATE
    if hits is None:  # only words in the lexicon get a valence
        hits = [i for i, w in enumerate(low) if w in lexicon and w not in boosters]
    for i in hits:
        item_low = low[i]
        base = lexicon[item_low]
        if item_low == "kind" and i < last and low[i + 1] == "of":
            continue
        valence = base
        if item_low == "no" and i != last and low[i + 1] in lexicon:
            valence = 0.0
        if (
            (i > 0 and low[i - 1] == "no")
            or (i > 1 and low[i - 2] == "no")
            or (i > 2 and low[i - 3] == "no" and low[i - 1] in ("or", "nor"))
        ):
            valence = base * N_SCALAR
        if cap_diff and words[i].isupper():
            valence += C_INCR if valence > 0 else -C_INCR
        # start_i = 0
        if i > 0:
            w1 = low[i - 1]
            if w1 not in lexicon:
                scalar = boosters.get(w1, 0.0)  # VADER's _scalar_inc_dec
                if scalar:
                    valence += _signed_booster(scalar, valence, cap_diff and words[i - 1].isupper())
                if w1 in negate or "n't" in w1:  # _negated
                    valence *= N_SCALAR
        # start_i = 1
        if i > 1:
            w2 = low[i - 2]
            if w2 not in lexicon:
                s = boosters.get(w2, 0.0)
                if s:
                    valence += _signed_booster(s, valence, cap_diff and words[i - 2].isupper()) * 0.95
                if w2 == "never" and low[i - 1] in _SO_THIS:
                    valence *= 1.25
                elif w2 == "without" and low[i - 1] == "doubt":
                    pass
                elif w2 in negate or "n't" in w2:
                    valence *= N_SCALAR
        # start_i = 2
        if i > 2:
            w3 = low[i - 3]
            if w3 not in lexicon:
                s = boosters.get(w3, 0.0)
                if s:
                    valence += _signed_booster(s, valence, cap_diff and words[i - 3].isupper()) * 0.9
                if (w3 == "never" and low[i - 2] in _SO_THIS) or low[i - 1] in _SO_THIS:
                    valence *= 1.25
                elif w3 == "without" and (low[i - 2] == "doubt" or low[i - 1] == "doubt"):
                    pass
                elif w3 in negate or "n't" in w3:
                    valence *= N_SCALAR
                if not _IDIOM_WORDS.isdisjoint(low[i - 3 : i + 3]):
                    valence = _idioms(valence, low, i)
        # VADER's `_least_check`
        if i > 1 and low[i - 1] not in lexicon and low[i - 1] == "least":
            if low[i - 2] != "at" and low[i - 2] != "very":
                valence *= N_SCALAR
        elif i > 0 and low[i - 1] not in lexicon and low[i - 1] == "least":
            valence *= N_SCALAR
        out[i] = valence
    return out
