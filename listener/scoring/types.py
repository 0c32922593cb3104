"""Value objects the scorer returns, and the recent context the pipeline hands it.

They are plain data (no behaviour beyond `to_dict`) so that routing, storage and the
console can use them without importing the scoring machinery, and so an escalation can
store exactly what made it fire (DESIGN invariant 2: every decision is explained).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from socialear.pickling import by_position

# the sentiment weights (data, `listener.scoring.train` writes them); located here because
# a mypyc-compiled module's `__file__` does not name its source directory
MODEL_FILE = Path(__file__).resolve().parent / "sentiment_model.json.gz"


class ModelFileError(RuntimeError):
    """The sentiment weights file is missing, altered or unreadable: the scorer must not
    guess. (Here, not in the compiled `model`: mypyc cannot subclass built-in exceptions.)"""


@by_position
@dataclass(slots=True)
class Sentiment:
    """A label with the evidence behind it.

    `compound` is VADER's normalised score (-1..1) after socialear's complaint signals,
    rating and language handling. `reasons` lists what drove the label, strongest first,
    e.g. `["'charged twice' (-2.5, money)", "rating 1★"]`, so an agent can check the
    machine's judgement instead of trusting a number. When the learned layer decided the
    label, `compound` always agrees with it in sign (where VADER's compound did not, it is
    replaced by P(positive) - P(negative)), and `probabilities` are the layer's calibrated
    class probabilities (None where no model decided: rules-only, other languages).
    """

    label: str  # negative | neutral | positive
    compound: float
    reasons: list[str] = field(default_factory=list)
    probabilities: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "compound": self.compound, "reasons": list(self.reasons)}
        if self.probabilities is not None:
            out["probabilities"] = dict(self.probabilities)
        return out


@dataclass(slots=True)
class Score:
    """Everything scoring says about one mention; `urgency_signals` sums to ≈ `urgency`."""

    sentiment: Sentiment
    categories: list[str]
    category_hits: dict[str, list[str]]  # category -> matched phrases/patterns
    urgency: int  # 0-100
    urgency_signals: dict[str, float]  # signal name -> points contributed (non-zero only)
    language: str | None
    language_supported: bool
    question: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form stored with a mention and shown in the console."""
        return {
            "sentiment": self.sentiment.to_dict(),
            "categories": list(self.categories),
            "urgency": self.urgency,
            "urgency_signals": dict(self.urgency_signals),
            "language": self.language,
            "language_supported": self.language_supported,
            "question": self.question,
            "category_hits": {k: list(v) for k, v in self.category_hits.items()},
        }


@by_position
@dataclass(slots=True)
class PreScore:
    """The part of a Score that needs no history (`Scorer.prescore`): everything but the
    repeat-contact and pile-on signals and the urgency total, which `Scorer.finish` adds.
    Plain data, so a worker process can compute it and hand it back pickled."""

    sentiment: Sentiment
    categories: list[str]
    category_hits: dict[str, list[str]]
    points: dict[str, float]  # urgency signals negativity .. help_request, non-zero only
    urgent: float  # the urgent_words contribution (0: none)
    language: str | None
    language_supported: bool
    question: bool


@dataclass(slots=True)
class ScoringContext:
    """Recent context the pipeline computes from the database before scoring.

    Scoring stays a pure function of (mention, rules, context), so replays over history
    give the same answer when given the same context.
    """

    author_open_escalations: int = 0  # repeat contact: the author already has open cases
    thread_negative_recent: int = 0  # negative mentions in the same conversation, pile-on window
    # per category, same window
    category_negative_recent: dict[str, int] = field(default_factory=dict)
