"""The learned decision layer: a multinomial logistic regression over `features.FEATURES`.

The cues (`lexicon`, rules.yaml `lexicon`), VADER and the care logic still do the reading;
this layer only decides how much each kind of evidence counts, with weights learned on the
labelled dev split by `listener/scoring/train.py` and stored in `model_weights.py`
(generated, reviewable, with its cross-validation scores). Applying it is one sparse dot
product per class; the label is the class with the highest score.

Explanations: for the chosen class and the runner-up, each present feature contributes
`(w[label] - w[runner_up]) * x`; the features with the largest positive contributions are
the reasons, expanded by `sentiment` into the phrases behind them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType

from listener.scoring.features import FEATURES

LABELS = ("negative", "neutral", "positive")


@dataclass(slots=True)
class Decision:
    label: str
    scores: dict[str, float]  # class -> linear score (log-odds up to a constant)
    contributions: list[tuple[int, float]]  # feature index -> push towards `label`, largest first

    def probabilities(self) -> dict[str, float]:
        top = max(self.scores.values())
        exp = {c: math.exp(s - top) for c, s in self.scores.items()}
        total = sum(exp.values())
        return {c: e / total for c, e in exp.items()}


class LinearModel:
    """Weights per class over `FEATURES`; `decide(x)` for a sparse x [(index, value), ...]."""

    __slots__ = ("labels", "bias", "weights", "_columns", "_b", "_margins")

    def __init__(
        self,
        weights: Mapping[str, Sequence[float]],
        bias: Mapping[str, float],
        features: Sequence[str] = FEATURES,
    ) -> None:
        if tuple(features) != FEATURES:
            raise ValueError("model weights were trained for other features; run `python -m listener.scoring.train`")
        self.labels = LABELS
        for label in LABELS:
            if len(weights[label]) != len(FEATURES):
                raise ValueError(f"weights for {label!r} have {len(weights[label])} values, need {len(FEATURES)}")
        self.bias = {c: float(bias[c]) for c in LABELS}
        self.weights = {c: tuple(float(w) for w in weights[c]) for c in LABELS}
        # per feature, its weight for each class: one pass over a sparse x scores all three
        neg, neu, pos = (self.weights[c] for c in LABELS)
        self._columns = list(zip(neg, neu, pos, strict=True))
        self._b = (self.bias[LABELS[0]], self.bias[LABELS[1]], self.bias[LABELS[2]])
        # [top][runner][feature] -> w[top] - w[runner], for the explanations' pushes
        self._margins = [[tuple(w[top] - w[runner] for w in self._columns) for runner in range(3)] for top in range(3)]

    @classmethod
    def from_module(cls, module: ModuleType) -> LinearModel:
        return cls(module.WEIGHTS, module.BIAS, module.FEATURES)

    def scores(self, x: Sequence[tuple[int, float]]) -> dict[str, float]:
        s0, s1, s2 = self._raw(x)
        return {LABELS[0]: s0, LABELS[1]: s1, LABELS[2]: s2}

    def _raw(self, x: Sequence[tuple[int, float]]) -> tuple[float, float, float]:
        s0, s1, s2 = self._b
        columns = self._columns
        for j, v in x:
            a, b, c = columns[j]
            s0 += a * v
            s1 += b * v
            s2 += c * v
        return s0, s1, s2

    def decide(self, x: Sequence[tuple[int, float]]) -> Decision:
        # `_raw`, inlined (one call per scored text)
        s0, s1, s2 = self._b
        columns = self._columns
        for j, v in x:
            a, b, c = columns[j]
            s0 += a * v
            s1 += b * v
            s2 += c * v
        # label = the best class, runner = the second best (ties: the earlier label)
        if s0 >= s1:
            top, runner = (0, 1) if s0 >= s2 else (2, 0)
            if top == 0 and s2 > s1:
                runner = 2
        else:
            top, runner = (1, 0) if s1 >= s2 else (2, 1)
            if top == 1 and s2 > s0:
                runner = 2
        pushes = []
        margin = self._margins[top][runner]  # per feature: w[top] - w[runner]
        for j, v in x:
            p = margin[j] * v
            if p > 0:
                pushes.append((j, p))
        pushes.sort(key=_second, reverse=True)
        return Decision(LABELS[top], {LABELS[0]: s0, LABELS[1]: s1, LABELS[2]: s2}, pushes)


def _second(pair: tuple[int, float]) -> float:
    return pair[1]


def default_model() -> LinearModel:
    from listener.scoring import model_weights

    return LinearModel.from_module(model_weights)
