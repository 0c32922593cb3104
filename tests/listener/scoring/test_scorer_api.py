"""Phase-1 behaviour of `Scorer`: the API the pipeline relies on."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from listener.scoring import Score, Scorer, ScoringContext, Sentiment
from listener.types import Mention
from socialear.config import RulesConfig

MentionFactory = Callable[..., Mention]
RulesFactory = Callable[..., RulesConfig]


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("I love Nimbus, the new plan is brilliant and support was amazing!", "positive"),
        ("Nimbus is the worst, terrible service and rude staff.", "negative"),
        ("The Nimbus store on King Street opens at 9 on Saturdays.", "neutral"),
    ],
)
def test_labels_on_clear_cases(scorer: Scorer, text: str, label: str) -> None:
    assert scorer.sentiment(text).label == label


def test_sentiment_is_usable_alone(scorer: Scorer) -> None:
    result = scorer.sentiment("terrible")
    assert isinstance(result, Sentiment)
    assert result.compound < -0.05
    assert result.reasons


def test_config_lexicon_phrase_changes_the_score(scoring_rules: RulesFactory) -> None:
    text = "So many dropped calls on this network"
    without = Scorer(scoring_rules(lexicon={})).sentiment(text)
    with_phrase = Scorer(scoring_rules(lexicon={"dropped calls": -3.0})).sentiment(text)
    assert with_phrase.compound < without.compound
    assert any("dropped calls" in r for r in with_phrase.reasons)


def test_config_lexicon_single_word_goes_to_vader(scoring_rules: RulesFactory) -> None:
    text = "nimbusfail again today"
    plain = Scorer(scoring_rules(lexicon={})).sentiment(text)
    tuned = Scorer(scoring_rules(lexicon={"nimbusfail": -3.0})).sentiment(text)
    assert tuned.compound < plain.compound
    assert tuned.label == "negative"


def test_config_lexicon_overrides_a_builtin_cue(scoring_rules: RulesFactory) -> None:
    text = "There was an outage this morning"
    assert Scorer(scoring_rules(lexicon={})).sentiment(text).label == "negative"
    assert Scorer(scoring_rules(lexicon={"outage": 0.0})).sentiment(text).label == "neutral"


def test_categories_from_phrases_and_patterns(scorer: Scorer, mention: MentionFactory) -> None:
    score = scorer.score(mention("Charged twice on my BILL and no refunds yet"))
    assert score.categories == ["billing"]
    assert score.category_hits["billing"] == ["charged twice", "bill", "refunds"]


def test_category_phrases_match_whole_words_only(scorer: Scorer, mention: MentionFactory) -> None:
    score = scorer.score(mention("billing department was lovely"))
    assert "billing" not in score.categories  # "bill" is not a word here
    assert "praise" not in score.categories  # nor is "love"


def test_urgency_signals_present_and_summing(scorer: Scorer, mention: MentionFactory) -> None:
    m = mention(
        "@NimbusMobile URGENT: no signal since Monday, please help. Third time asking!",
        followers=250_000,
        verified=True,
        engagement=400,
    )
    ctx = ScoringContext(author_open_escalations=2, category_negative_recent={"outage": 12})
    score = scorer.score(m, ctx)
    expected = {
        "negativity",
        "severity",
        "reach",
        "engagement",
        "addressed",
        "help_request",
        "repeat_contact",
        "pile_on",
        "urgent_words",
    }
    assert set(score.urgency_signals) == expected
    assert abs(sum(score.urgency_signals.values()) - score.urgency) <= 1
    assert score.urgency >= 80
    assert all(v > 0 for v in score.urgency_signals.values())


def test_urgency_only_lists_non_zero_signals(scorer: Scorer, mention: MentionFactory) -> None:
    score = scorer.score(mention("The Nimbus store opens at 9."))
    assert score.urgency == 0
    assert score.urgency_signals == {}


def test_addressed_by_handle_or_reply(scorer: Scorer, mention: MentionFactory) -> None:
    assert "addressed" in scorer.score(mention("hey @nimbusmobile")).urgency_signals
    reply = mention("still broken", in_reply_to_user="NimbusMobile")
    assert "addressed" in scorer.score(reply).urgency_signals
    # a competitor's handle is not "us", and an e-mail-like string is not a handle
    assert "addressed" not in scorer.score(mention("hey @OrbitTel")).urgency_signals
    assert "addressed" not in scorer.score(mention("mail me x@NimbusMobile")).urgency_signals


def test_pile_on_needs_threshold(scorer: Scorer, mention: MentionFactory) -> None:
    m = mention("still no signal")
    below = scorer.score(m, ScoringContext(thread_negative_recent=4))
    at = scorer.score(m, ScoringContext(thread_negative_recent=5))
    assert "pile_on" not in below.urgency_signals
    assert at.urgency_signals["pile_on"] > 0


def test_reach_is_log_scaled(scorer: Scorer, mention: MentionFactory, scoring_rules: RulesFactory) -> None:
    small = scorer.score(mention("hello", followers=1_000)).urgency_signals["reach"]
    big = scorer.score(mention("hello", followers=100_000)).urgency_signals["reach"]
    assert 0 < small < big <= scoring_rules().urgency.weights.reach


def test_language_platform_tag_and_detection(scorer: Scorer, mention: MentionFactory) -> None:
    assert scorer.score(mention("The app keeps crashing when I open it")).language == "en"
    spanish = scorer.score(mention("El servicio al cliente de esta empresa es muy lento hoy"))
    assert spanish.language == "es"
    tagged = scorer.score(mention("ok", lang="fr"))
    assert tagged.language == "fr"
    assert scorer.score(mention("ok", lang="en-GB")).language == "en"


def test_unsupported_language_is_marked_neutral(scorer: Scorer, mention: MentionFactory) -> None:
    polish = "Obsługa klienta jest bardzo wolna, czekam od tygodnia"
    score = scorer.score(mention(polish, lang="pl"))
    assert score.language == "pl"
    assert score.language_supported is False
    assert score.sentiment.label == "neutral"
    assert any("not supported" in r for r in score.sentiment.reasons)


def test_question_flag(scorer: Scorer, mention: MentionFactory) -> None:
    assert scorer.score(mention("Does Nimbus support eSIM on the Pixel 8?")).question is True
    assert scorer.score(mention("how do i turn off voicemail on nimbus")).question is True
    assert scorer.score(mention("Nimbus has eSIM now.")).question is False


def test_to_dict_is_json_ready(scorer: Scorer, mention: MentionFactory) -> None:
    score = scorer.score(mention("charged twice!! @NimbusMobile", rating=1))
    assert isinstance(score, Score)
    data = json.loads(json.dumps(score.to_dict()))
    assert set(data) == {
        "sentiment",
        "categories",
        "urgency",
        "urgency_signals",
        "language",
        "language_supported",
        "question",
        "category_hits",
    }
    # the learned layer's calibrated class probabilities travel with the label
    assert set(data["sentiment"]) == {"label", "compound", "reasons", "probabilities"}
    assert set(data["sentiment"]["probabilities"]) == {"negative", "neutral", "positive"}


def test_score_is_pure(scorer: Scorer, mention: MentionFactory) -> None:
    m = mention("@NimbusMobile no signal again")
    assert scorer.score(m).to_dict() == scorer.score(m).to_dict()


@pytest.mark.parametrize("text", ["", "   ", "👍👍", "@NimbusMobile", "https://t.co/x1"])
def test_texts_without_words(scorer: Scorer, mention: MentionFactory, text: str) -> None:
    score = scorer.score(mention(text))
    assert score.language is None
    assert score.language_supported is True  # nothing to detect; scored as English
    assert isinstance(score.to_dict(), dict)


@pytest.mark.parametrize("rating", [float("nan"), 0, 10, -1])
def test_ratings_off_the_1_to_5_scale_are_ignored(scorer: Scorer, mention: MentionFactory, rating: float) -> None:
    score = scorer.score(mention("The sofa came on Tuesday.", rating=rating))
    assert score.sentiment.label == "neutral"


def test_review_title_is_scored_with_the_text(scorer: Scorer, mention: MentionFactory) -> None:
    score = scorer.score(mention("Sofa came on Tuesday.", title="Never again"))
    assert score.sentiment.label == "negative"
