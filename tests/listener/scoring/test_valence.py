"""`valence.word_valences` must reproduce VADER's per-word rules exactly (it exists only to
be faster), so plain VADER's compound is recovered when no socialear cue is involved."""

from __future__ import annotations

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from listener.scoring.sentiment import _compound, _tokenise
from listener.scoring.valence import word_valences

SENTENCES = [
    "VADER is smart, handsome, and funny.",
    "VADER is smart, handsome, and funny!",
    "VADER is very smart, handsome, and funny.",
    "VADER is VERY SMART, handsome, and FUNNY.",
    "VADER is VERY SMART, handsome, and FUNNY!!!",
    "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!",
    "VADER is not smart, handsome, nor funny.",
    "The book was good.",
    "At least it isn't a horrible book.",
    "The book was only kind of good.",
    "Today SUX!",
    "Make sure you :) or :D today!",
    "Not bad at all",
    "Sentiment analysis has never been good.",
    "Sentiment analysis has never been this good!",
    "Most automated sentiment analysis tools are shit.",
    "With VADER, sentiment analysis is the shit!",
    "Other sentiment analysis tools can be quite bad.",
    "On the other hand, VADER is quite bad ass",
    "VADER is such a badass!",
    "Without a doubt, excellent idea.",
    "Roger Dodger is one of the most compelling variations on this theme.",
    "Roger Dodger is at least compelling as a variation on the theme.",
    "Roger Dodger is one of the least compelling variations on this theme.",
    "Not such a badass after all.",
    "no problems at all, no more worries or sadness",
    "It was kind of a disaster??? Really a total disaster?",
    "The staff were not very helpful and the food was barely edible.",
    "I absolutely LOVE this, no doubt the best thing ever",
]


@pytest.mark.parametrize("sentence", SENTENCES)
def test_same_compound_as_vader(sentence: str) -> None:
    vader = SentimentIntensityAnalyzer()
    words, low, _tokens, cap_diff = _tokenise(sentence)
    values = word_valences(words, low, vader.lexicon, cap_diff)
    assert _compound(values, sentence) == pytest.approx(vader.polarity_scores(sentence)["compound"], abs=1e-4)
