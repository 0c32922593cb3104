"""The learned decision layer: weights load, features are deterministic, labels explained."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from listener.scoring import Scorer
from listener.scoring.features import FEATURES, INDEX
from listener.scoring.model import LABELS, LinearModel, default_model
from listener.scoring.sentiment import SentimentEngine
from socialear.config import RulesConfig

RulesFactory = Callable[..., RulesConfig]


def test_weights_load_and_match_the_features() -> None:
    import gzip
    import json

    from listener.scoring.model import MODEL_FILE

    model = default_model()
    document = json.loads(gzip.decompress(MODEL_FILE.read_bytes()))
    assert tuple(document["features"]) == FEATURES
    assert tuple(document["labels"]) == LABELS
    for label in LABELS:
        assert len(model.weights[label]) == len(FEATURES)
    # the file documents how it was made: real posts, TweetEval test never read
    training = document["training"]
    assert "TweetEval test" in training["data"] and "never read" in training["data"]
    assert training["tweeteval_val_ece"]["calibrated"] <= training["tweeteval_val_ece"]["T=1"] + 0.01


def test_weights_for_other_features_are_refused() -> None:
    zeros = (0.0,) * (len(FEATURES) - 1)
    with pytest.raises(ValueError, match="trained for other features"):
        LinearModel(dict.fromkeys(LABELS, zeros), dict.fromkeys(LABELS, 0.0), FEATURES[:-1])


def test_features_are_deterministic_and_sparse(scorer: Scorer) -> None:
    text = "Charged twice AGAIN and still no reply since Monday @NimbusMobile!!"
    first = scorer.engine.analyse(text, 2).features
    second = SentimentEngine(None).analyse(text, 2).features
    assert first == second
    assert [j for j, _v in first] == sorted({j for j, _v in first})  # index order, no repeats
    present = {FEATURES[j] for j, v in first if v}
    assert {"cue_money", "stars_2", "handle", "exclaim", "persistence", "time_expr"} <= present


def test_decision_is_the_highest_scoring_class(scorer: Scorer) -> None:
    model = default_model()
    x = scorer.engine.analyse("flight cancelled and 2 hours on hold").features
    assert x[0][0] == INDEX["compound"]
    decision = model.decide(x)
    scores = model.scores(x)
    assert decision.label == max(scores, key=scores.__getitem__) == "negative"
    assert all(push > 0 for _j, push in decision.contributions)
    assert abs(sum(decision.probabilities().values()) - 1.0) < 1e-9


@pytest.mark.parametrize(
    "text",
    [
        "charged twice, no reply to my email",
        "Fantastic support, sorted in minutes!",
        "How do I cancel an order I placed by mistake?",
        "The store on King Street opens at 9.",
    ],
)
def test_every_label_has_reasons_or_is_plainly_neutral(scorer: Scorer, text: str) -> None:
    result = scorer.sentiment(text)
    if result.label != "neutral":
        assert result.reasons
    assert all(isinstance(r, str) and r for r in result.reasons)


def test_reasons_name_the_cues_first(scorer: Scorer) -> None:
    result = scorer.sentiment("Refund promised 3 weeks ago. Still nothing. Charged twice too")
    assert result.label == "negative"
    assert "charged twice" in result.reasons[0] or "refund" in result.reasons[0]


def test_rules_lexicon_still_moves_a_label(scoring_rules: RulesFactory) -> None:
    text = "The zorblex thing happened with my order"
    plain = Scorer(scoring_rules(lexicon={})).sentiment(text)
    bad = Scorer(scoring_rules(lexicon={"zorblex thing": -3.0})).sentiment(text)
    good = Scorer(scoring_rules(lexicon={"zorblex thing": 3.0})).sentiment(text)
    # (the real-data model already reads "my order" as slightly negative, as real posts
    # about orders mostly are; the lexicon entry must still move the label decisively)
    assert plain.probabilities is not None and bad.probabilities is not None
    assert bad.probabilities["negative"] > plain.probabilities["negative"] + 0.2
    assert bad.label == "negative"
    assert any("zorblex thing" in r for r in bad.reasons)
    assert good.label == "positive"


def test_without_the_model_the_label_is_the_compound_sign(scoring_rules: RulesFactory) -> None:
    scorer = Scorer(scoring_rules(), model=None)
    result = scorer.sentiment("Great service, love the new app")
    assert result.label == "positive" and result.compound >= 0.05


def test_grams_are_words_and_pairs_without_numbers() -> None:
    from listener.scoring.features import grams

    got = grams(["still", "no", "signal", "since", "3rd", "day", "£30", "refund", "no", "signal"])
    # distinct, sorted; "3rd" and "£30" are left out and break the pairs around them
    assert got == sorted({"still", "no", "signal", "since", "day", "refund", "still no", "no signal", "signal since", "refund no"})


def test_the_hot_path_scores_exactly_the_learned_grams() -> None:
    from listener.scoring.features import grams

    engine = SentimentEngine(None)
    model = default_model()
    assert model.lexical, "the committed model has learned words"
    for text in (
        "still no reply from support, third email this week",
        "the the the parcel parcel arrived arrived",  # repeats take the distinct path
        "router fine now, thanks for sorting it",
        "ref 44821: on hold 2hrs, nobody picks up",
    ):
        a = engine.analyse(text)
        fast = model.decide(a.features, a.tokens).scores
        slow = model.scores(a.features, grams(a.tokens))
        assert all(abs(fast[c] - slow[c]) < 1e-9 for c in LABELS)


def test_the_one_pass_gram_walk_equals_grams_on_random_posts() -> None:
    """`_learned` finds the learned grams and counts the distinct ones without a set of
    pairs; random posts over a small vocabulary (so words and pairs repeat, and digits
    break pairs) must give exactly `grams()` looked up in the lexicon, in text order."""
    import random

    from listener.scoring.features import gram_sequence, grams

    model = default_model()
    vocabulary = ["no", "reply", "still", "waiting", "the", "parcel", "3rd", "£30", "thanks", "it", "not", "working"]
    rng = random.Random(7)
    for _ in range(3000):
        tokens = [rng.choice(vocabulary) for _ in range(rng.randint(0, 14))]
        found, count = model._learned(gram_sequence(tokens))
        expected = grams(tokens)
        assert count == len(expected)
        assert sorted(w[3] for w in found) == sorted(g for g in expected if g in model.lexical)
        names = [w[3] for w in found]
        words = [n for n in names if " " not in n]
        assert names[: len(words)] == words  # words first, then pairs
        assert words == sorted(words, key=tokens.index)  # each in order of first use


def test_learned_words_never_include_brands_or_numbers() -> None:
    model = default_model()
    assert not any(ch.isdigit() for gram in model.lexical for ch in gram)
    for brand_word in ("nimbus", "fernbank", "skylark", "quillfield", "wrenfield", "fathom"):
        assert brand_word not in model.lexical


def test_learned_words_show_up_as_reasons(scorer: Scorer) -> None:
    result = scorer.sentiment("nobody has turned up and nobody answers the phone")
    assert result.label == "negative"
    learned = [r for r in result.reasons if "(learned," in r]
    assert 1 <= len(learned) <= 3


def test_a_learned_word_is_not_shown_again_beside_its_cue(scorer: Scorer) -> None:
    """"'nobody' (-1.2, waiting)" and "'nobody' (learned, +0.2)" side by side only confuse an
    agent: a learned gram that is also a scored phrase of the post is not a reason."""
    import json
    import re
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "data" / "labelled" / "posts.jsonl"
    texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line]
    texts.append("nobody has turned up and nobody answers the phone")
    shown_learned = 0
    for text in texts:
        reasons = scorer.sentiment(text).reasons
        quoted = [(re.match(r"'(.+)' \(", r), r) for r in reasons]
        cues = {m.group(1) for m, r in quoted if m and "(learned," not in r}
        learned = [m.group(1) for m, r in quoted if m and "(learned," in r]
        shown_learned += len(learned)
        assert not cues & set(learned), (text, reasons)
    assert shown_learned > len(texts)  # learned words are still shown, just not twice
    assert "'nobody' (learned" not in " ".join(scorer.sentiment(texts[-1]).reasons)


def test_training_fits_learned_words_from_rows() -> None:
    from listener.scoring.features import INDEX
    from listener.scoring.train import fit, split_of, vocabulary

    i = INDEX["cue_failure"]
    rows = [
        ([(i, -0.5)], ["no", "reply", "no reply"], 0),
        ([(i, -0.5)], ["still", "no", "reply", "still no", "no reply"], 0),
        ([], ["store", "opens"], 1),
        ([], ["store", "hours"], 1),
        ([], ["love", "it", "love it"], 2),
        ([], ["love", "this"], 2),
    ]
    vocab = vocabulary(rows, min_docs=2)
    assert "no reply" in vocab and "love it" not in vocab  # in one post only: never learned
    model = fit(rows * 3, 0.01, 4.0, ["no", "reply", "store", "love"])
    assert set(model.lexical) <= {"no", "reply", "store", "love"}
    assert model.lexical["love"][2] > model.lexical["love"][0]  # a positive word
    # the brand sets' split is fixed by the text alone
    assert split_of("abc") == split_of("abc") and {split_of(str(k)) for k in range(200)} == {"test", "tune", "train"}


def test_brand_tweets_weigh_more_in_training() -> None:
    """`domain_weights` gives the brand sets' posts BRAND_WEIGHT; in `fit`, a heavier row
    wins a disagreement the plain rows would have won by number."""
    from listener.scoring.train import BRAND_SETS, BRAND_WEIGHT, domain_weights, fit

    assert BRAND_WEIGHT > 1
    records = [(BRAND_SETS[0], "t", "neutral", None), ("tweeteval-sentiment", "t", "neutral", None)]
    assert domain_weights(records) == [BRAND_WEIGHT, 1.0]
    # "launch" is negative in two plain posts and neutral in one brand post (weighed 3)
    rows = [([], ["launch"], 0), ([], ["launch"], 0), ([], ["launch"], 1), ([], ["other"], 1), ([], ["other"], 2), ([], ["x"], 2)]
    for weight, label in ((1.0, "negative"), (3.0, "neutral")):
        model = fit(rows, 0.01, 4.0, ["launch"], row_weights=[1.0, 1.0, weight, 1.0, 1.0, 1.0])
        scores = model.scores([], ["launch"])
        assert max(scores, key=scores.__getitem__) == label, (weight, scores)


def test_nb_prior_lets_class_words_carry_more_weight() -> None:
    """`nb_prior` (NBSVM's log-count ratio as a per-weight L2 scale): a gram the counts tie
    to one class gets a larger scale for that class than a gram spread over all three, and
    under the same L2 strength `fit` gives the tied gram more weight than plain L2 does."""
    from listener.scoring.train import fit, nb_prior

    rows = [
        ([], ["refund", "the"], 0),
        ([], ["refund", "the"], 0),
        ([], ["the", "store"], 1),
        ([], ["the", "store"], 1),
        ([], ["the", "love"], 2),
        ([], ["the", "love"], 2),
    ]
    vocab = ["love", "refund", "store", "the"]
    prior = nb_prior(rows, vocab, 0.5)
    assert abs(float(prior.mean()) - 1.0) < 1e-9
    assert prior[1, 0] > prior[3, 0] and prior[0, 2] > prior[3, 2]  # "refund" / "love" vs "the"
    assert (nb_prior(rows, vocab, exponent=0.0) == 1.0).all()  # exponent 0: plain L2
    plain = fit(rows, 1.0, 4.0, vocab)
    scaled = fit(rows, 1.0, 4.0, vocab, prior=prior)
    for gram, label in (("refund", 0), ("love", 2)):
        assert scaled.lexical[gram][label] > plain.lexical[gram][label] > 0, gram
    assert abs(scaled.lexical.get("the", (0.0, 0.0, 0.0))[1]) < 0.05  # spread evenly: held near 0
