"""The learned decision layer: a multinomial logistic regression over `features.FEATURES`.

The cues (`lexicon`, rules.yaml `lexicon`), VADER and the care logic still do the reading;
this layer only decides how much each kind of evidence counts, with weights learned on the
real, human-labelled posts by `listener/scoring/train.py` and stored as data in
`sentiment_model.json.gz` (with how it was trained and its scores; `docs/model-card.md`),
read once and checked against the SHA-256 in `sentiment_model.sha256`. Applying it is one sparse dot
product per class; the label is the class with the highest score.

Besides the dense features, the model may hold learned word weights (`LEXICAL`: a word or
word pair -> one weight per class, see `features.grams`); each gram present adds its
weights times `gram_norm(number of distinct grams in the post)`, 1/sqrt(n) but never more
than for a post of GRAMS_FLOOR grams. So the words' total pull grows only as sqrt(length)
(unnormalised, a typical post's many ordinary words pushed away from neutral, the intercept
learned to push back, and a one-word "terrible" came out neutral), and a two-word post is
not decided by the learned weight of "it" (plain 1/sqrt(n) made "love it" negative). A model without them (rules-only tests, `train.py`'s feature pass) skips that step.

Explanations: for the chosen class and the runner-up, each present feature contributes
`(w[label] - w[runner_up]) * x`; the features with the largest positive contributions are
the reasons, expanded by `sentiment` into the phrases behind them. A learned gram's push is
reported as the gram itself (a `str` where a feature has its index).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

from listener.scoring.features import FEATURES, gram_sequence
from listener.scoring.types import MODEL_FILE, ModelFileError

LABELS = ("negative", "neutral", "positive")
MODEL_VERSION = 2  # the weights file's format; bumped when its meaning changes
GRAMS_FLOOR = 20  # posts with fewer grams weigh each like a post with this many
_Entry = tuple[float, float, float, str]  # a learned gram's weight per class, and its name
_NORM = [1.0 / math.sqrt(max(n, GRAMS_FLOOR)) for n in range(256)]


def gram_norm(count: int) -> float:
    """The value of each learned gram in a post with `count` distinct grams."""
    return _NORM[count] if count < len(_NORM) else 1.0 / math.sqrt(count)


@dataclass(slots=True)
class Decision:
    label: str
    scores: dict[str, float]  # class -> linear score (log-odds up to a constant)
    # feature index (or learned gram) -> push towards `label`, largest first
    contributions: list[tuple[int | str, float]]
    temperature: float = 1.0  # fitted on validation data, so the probabilities are calibrated

    def probabilities(self) -> dict[str, float]:
        """softmax(scores / temperature): calibrated class probabilities."""
        scores = self.scores
        s0, s1, s2 = scores[LABELS[0]], scores[LABELS[1]], scores[LABELS[2]]
        top = max(s0, s1, s2)
        t = self.temperature
        e0 = math.exp((s0 - top) / t)
        e1 = math.exp((s1 - top) / t)
        e2 = math.exp((s2 - top) / t)
        total = e0 + e1 + e2
        return {LABELS[0]: e0 / total, LABELS[1]: e1 / total, LABELS[2]: e2 / total}


class LinearModel:
    """Weights per class over `FEATURES`; `decide(x)` for a sparse x [(index, value), ...]."""

    __slots__ = ("_b", "_columns", "_margins", "_pairs", "_words", "bias", "labels", "lexical", "temperature", "weights")

    def __init__(
        self,
        weights: Mapping[str, Sequence[float]],
        bias: Mapping[str, float],
        features: Sequence[str] = FEATURES,
        lexical: Mapping[str, Sequence[float]] | None = None,
        temperature: float = 1.0,
    ) -> None:
        if tuple(features) != FEATURES:
            raise ValueError("model weights were trained for other features; run `python -m listener.scoring.train`")
        self.labels = LABELS
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        self.temperature = float(temperature)
        for label in LABELS:
            if len(weights[label]) != len(FEATURES):
                raise ValueError(f"weights for {label!r} have {len(weights[label])} values, need {len(FEATURES)}")
        self.bias = {c: float(bias[c]) for c in LABELS}
        self.weights = {c: tuple(float(w) for w in weights[c]) for c in LABELS}
        self.lexical: dict[str, tuple[float, float, float]] = {}
        for gram, ws in (lexical or {}).items():
            if len(ws) != len(LABELS):
                raise ValueError(f"learned weights for {gram!r} have {len(ws)} values, need {len(LABELS)}")
            self.lexical[gram] = (float(ws[0]), float(ws[1]), float(ws[2]))
        # the hot path's view of `lexical`: words by themselves, pairs by first word then
        # second, so a pair costs a lookup only when its first word starts a learned pair
        # and no string or tuple is built for a miss; each entry carries its gram's name
        self._words: dict[str, _Entry] = {}
        self._pairs: dict[str, dict[str, _Entry]] = {}
        for gram, w in self.lexical.items():
            first, _, second = gram.partition(" ")
            if second:
                self._pairs.setdefault(first, {})[second] = (w[0], w[1], w[2], gram)
            else:
                self._words[gram] = (w[0], w[1], w[2], gram)
        # per feature, its weight for each class: one pass over a sparse x scores all three
        neg, neu, pos = [self.weights[c] for c in LABELS]
        self._columns = list(zip(neg, neu, pos, strict=True))
        self._b = (self.bias[LABELS[0]], self.bias[LABELS[1]], self.bias[LABELS[2]])
        # [top][runner][feature] -> w[top] - w[runner], for the explanations' pushes
        self._margins = [[tuple(w[top] - w[runner] for w in self._columns) for runner in range(3)] for top in range(3)]

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> LinearModel:
        """From the weights file's JSON (`train.write_model`)."""
        if document.get("version") != MODEL_VERSION:
            raise ModelFileError(f"weights file has format version {document.get('version')!r}, this code reads {MODEL_VERSION}")
        if tuple(document["labels"]) != LABELS:
            raise ModelFileError(f"weights file has labels {document['labels']!r}, need {LABELS!r}")
        return cls(
            document["weights"],
            document["bias"],
            document["features"],
            document.get("lexical"),
            float(document.get("temperature", 1.0)),
        )

    def scores(self, x: Sequence[tuple[int, float]], grams: Sequence[str] = ()) -> dict[str, float]:
        s0, s1, s2 = self._raw(x, grams)
        return {LABELS[0]: s0, LABELS[1]: s1, LABELS[2]: s2}

    def _dense(self, x: Sequence[tuple[int, float]]) -> tuple[float, float, float]:
        """Each class's bias plus its dense features' weights (one pass for all three)."""
        s0, s1, s2 = self._b
        columns = self._columns
        for j, v in x:
            a, b, c = columns[j]
            s0 += a * v
            s1 += b * v
            s2 += c * v
        return s0, s1, s2

    def _raw(self, x: Sequence[tuple[int, float]], grams: Sequence[str] = ()) -> tuple[float, float, float]:
        s0, s1, s2 = self._dense(x)
        if grams:
            lexical = self.lexical
            norm = gram_norm(len(grams))
            for gram in grams:
                w = lexical.get(gram)
                if w is not None:
                    s0 += w[0] * norm
                    s1 += w[1] * norm
                    s2 += w[2] * norm
        return s0, s1, s2

    def decide(self, x: Sequence[tuple[int, float]], tokens: Sequence[str] = ()) -> Decision:
        """The label for dense features `x` and (when the model has learned words) the
        post's matcher tokens, whose `features.grams` it looks up."""
        s0, s1, s2 = self._dense(x)
        found: list[Any] = []  # of `_Entry`; see `_learned` on why `Any`
        norm = 0.0
        if tokens and self.lexical:
            found, count = self._learned(gram_sequence(tokens))
            if found:
                l0 = l1 = l2 = 0.0
                for w in found:
                    l0 += w[0]
                    l1 += w[1]
                    l2 += w[2]
                norm = gram_norm(count)
                s0 += l0 * norm
                s1 += l1 * norm
                s2 += l2 * norm
        # label = the best class, runner = the second best (ties: the earlier label)
        if s0 >= s1:
            top, runner = (0, 1) if s0 >= s2 else (2, 0)
            if top == 0 and s2 > s1:
                runner = 2
        else:
            top, runner = (1, 0) if s1 >= s2 else (2, 1)
            if top == 1 and s2 > s0:
                runner = 2
        pushes: list[tuple[int | str, float]] = []
        margin = self._margins[top][runner]  # per feature: w[top] - w[runner]
        for j, v in x:
            p = margin[j] * v
            if p > 0:
                pushes.append((j, p))
        for w in found:
            p = w[top] - w[runner]  # (top, runner are 0-2: the weights)
            if p > 0:
                pushes.append((w[3], p * norm))
        pushes.sort(key=_second, reverse=True)  # stable: equal pushes keep the text's order
        return Decision(LABELS[top], {LABELS[0]: s0, LABELS[1]: s1, LABELS[2]: s2}, pushes, self.temperature)

    def _learned(self, seq: Sequence[str]) -> tuple[list[Any], int]:
        """The learned grams of a `features.gram_sequence` (its words in order of first
        use, then its pairs likewise) and how many distinct grams it has: what
        `grams(tokens)` and a lexicon lookup of each would give, in one pass with no set
        of pairs. A pair can only repeat an earlier one if its first word is itself a
        repeat, so only then is the text searched for it."""
        # `Any`, not `_Entry`: compiled, a typed tuple would be unpacked into C values and
        # boxed again for each hit (about 4x slower); these entries are only passed on
        words: dict[str, Any] = self._words
        pairs: dict[str, dict[str, Any]] = self._pairs
        found_words: list[Any] = []
        found_pairs: list[Any] = []
        seen: set[str] = set()
        count = 0
        previous = ""
        previous_repeats = False
        for i, token in enumerate(seq):
            if not token:  # had a digit: no gram, and no pair across it
                previous = ""
                continue
            repeats = token in seen
            if not repeats:
                seen.add(token)
                count += 1
                w = words.get(token)
                if w is not None:
                    found_words.append(w)
            if previous and not (previous_repeats and _pair_before(seq, i - 1, previous, token)):
                count += 1
                following = pairs.get(previous)
                if following is not None:
                    w = following.get(token)
                    if w is not None:
                        found_pairs.append(w)
            previous = token
            previous_repeats = repeats
        return found_words + found_pairs, count


def _pair_before(seq: Sequence[str], end: int, first: str, second: str) -> bool:
    """Whether `first second` occurs in `seq` with `first` before position `end`."""
    for j in range(end):
        if seq[j] == first and seq[j + 1] == second:
            return True
    return False


_second = itemgetter(1)  # sort key: the push


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def recorded_sha256(path: Path) -> str:
    """The digest recorded beside a weights file (`<stem>.sha256`, as `sha256sum` writes it)."""
    return path.with_name(path.name.split(".")[0] + ".sha256").read_text(encoding="utf-8").split()[0]


def load_model(path: Path = MODEL_FILE) -> LinearModel:
    """Read and check a weights file: its SHA-256 must equal the one recorded beside it,
    so a truncated, hand-edited or half-copied file is a clear error, not a silent drift."""
    try:
        blob = path.read_bytes()
        expected = recorded_sha256(path)
    except OSError as exc:
        raise ModelFileError(f"cannot read the sentiment weights: {exc}; reinstall, or retrain with `python -m listener.scoring.train`") from None
    actual = hashlib.sha256(blob).hexdigest()
    if actual != expected:
        raise ModelFileError(
            f"{path.name}: SHA-256 {actual} does not match the recorded {expected}; the weights file was altered or "
            "truncated: reinstall, or retrain with `python -m listener.scoring.train`"
        )
    try:
        document = json.loads(gzip.decompress(blob).decode("utf-8"))
        return LinearModel.from_document(document)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{path.name}: unreadable weights ({exc})") from None


_DEFAULT: list[LinearModel] = []  # the shipped model, loaded once per process


def default_model() -> LinearModel:
    if not _DEFAULT:
        _DEFAULT.append(load_model())
    return _DEFAULT[0]
