"""Short, clear posts get their obvious label: a post's length is not evidence of neutrality."""

from __future__ import annotations

import pytest

from listener.scoring import Scorer
from listener.scoring.features import FEATURES, SHORT
from listener.scoring.train import SANITY


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("terrible", "negative"),
        ("awful", "negative"),
        ("awful service", "negative"),
        ("worst service ever", "negative"),
        ("great", "positive"),
        ("love it", "positive"),
        ("thanks, sorted!", "positive"),
    ],
)
def test_short_clear_posts(scorer: Scorer, text: str, label: str) -> None:
    result = scorer.sentiment(text)
    assert result.label == label, result
    assert result.reasons


@pytest.mark.parametrize(
    ("stars", "label"), [(1, "negative"), (2, "negative"), (3, "neutral"), (4, "positive"), (5, "positive")]
)
def test_a_bare_rating_gives_its_label(scorer: Scorer, stars: int, label: str) -> None:
    assert scorer.sentiment("", rating=stars).label == label


# the committed weights miss these two, recorded as `sanity_failures` in the weights file
# (docs/model-card.md, known limits): kept visible as strict xfails, not dropped
_KNOWN_MISSES = {"Support kept me on hold for an hour.", "The parcel has arrived, nothing damaged"}


@pytest.mark.parametrize(
    ("text", "rating", "labels"),
    [
        pytest.param(*case, marks=pytest.mark.xfail(strict=True, reason="recorded sanity failure of the weights"))
        if case[0] in _KNOWN_MISSES
        else case
        for case in SANITY
    ],
)
def test_the_training_sanity_list_holds_for_the_committed_weights(
    scorer: Scorer, text: str, rating: int | None, labels: tuple[str, ...]
) -> None:
    assert scorer.sentiment(text, rating=rating).label in labels


def test_short_posts_carry_no_length_feature(scorer: Scorer) -> None:
    length = FEATURES.index("length")
    short = " ".join(["word"] * SHORT)
    assert all(j != length for j, _v in scorer.engine.analyse(short).features)
    assert any(j == length and v > 0 for j, v in scorer.engine.analyse(short + " more").features)
