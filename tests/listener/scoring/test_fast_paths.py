"""The scorer's fast paths must give exactly what the plain definitions give.

Each shortcut taken for speed (per-word memo, precomputed phrase-start / lexicon /
numeral indices, second-token phrase index, "only non-zero items" loops, the fused
urgency arithmetic, the inlined English test) is checked here against a reference
written the slow, obvious way (the code as it was before the shortcut).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from vaderSentiment.vaderSentiment import BOOSTER_DICT

from listener.scoring import Scorer, ScoringContext, compiled, sentiment
from listener.scoring.features import extract
from listener.scoring.language import _ENGLISH, _FOREIGN, _FUNCTION_WORDS, _NOT_LANGUAGE_RE, VOTE_MARGIN, LanguageGate
from listener.scoring.matcher import PLACEHOLDERS, PhraseMatcher, token_class
from listener.scoring.sentiment import SentimentEngine, _tokenise
from listener.scoring.urgency import VERIFIED_BONUS, combine, log_strength, negativity_strength, pile_on_strength
from listener.scoring.valence import word_valences
from listener.types import Mention
from socialear.compiled import PURE_ENV

TEXTS = [
    "",
    "   ",
    "My flight was CANCELLED and nobody answers the phone!!!",
    "Charged twice for November, two lots of £32.50 out of my account. who do I talk to?",
    "Still waiting on my refund 😡😡 3 weeks now… don’t tell me it’s “processing”",
    "no signal since Monday, 2nd time this month. 45mins on hold at 6pm",
    "VADER is VERY SMART, handsome, and FUNNY!!! :) :-( <3",
    "Thanks for nothing @NimbusMobile #fail https://t.co/abc",
    "Mi pedido no ha llegado, muy mal servicio. 1/5",
    "Le colis est arrivé en retard, merci pour rien ★★☆☆☆",
    "Das ist nicht gut, ich warte seit 3 Tagen",
    "x² and ½ and ٣ are digits of a sort; 24/7 support my foot, 10x worse",
    "I can't believe it hasn't been fixed yet, wasn't delayed but not great either",
    "kind of ok I guess... at least it isn't a horrible app. never so good!",
    "Hi team, quick question: how do I turn off voicemail? Need help asap please",
    "🐎🐎🐎 ??? !!! ... -- ''",
    "sorted now, refund landed, thank you so much 👍",
    "Résumé naïve café — is this English? Ça va",
]


@pytest.fixture(scope="module")
def engine() -> SentimentEngine:
    return SentimentEngine({"dropped calls": -2.5, "nimbusfail": -2.0})


def _reference_tokenised(engine: SentimentEngine, text: str) -> tuple[Any, ...]:
    prepared = engine._prepare(text)
    words, low, tokens, cap_diff = _tokenise(prepared)
    matcher = engine.matcher
    raw = prepared.split()
    # entity masking, plainly: @handles, #hashtags, configured names carry nothing
    entities = [
        i for i, r in enumerate(raw) if r.lstrip(sentiment._LEADING)[:1] in ("@", "#") or tokens[i] in engine.entities
    ]
    hits = [i for i, w in enumerate(low) if w in engine.lexicon and w not in BOOSTER_DICT and i not in entities]
    starts = [i for i, t in enumerate(tokens) if matcher.may_start(t) and i not in entities]
    # ... and Title-case lexicon words in a brand position (`SentimentEngine._names`)
    title = [len(w) > 1 and w[0].isupper() and w[1:].islower() and i not in entities for i, w in enumerate(words)]
    ends = [r[-1] in ".!?" and not r.endswith("..") for r in raw]
    named = []
    if sum(title) * 2 <= len(words):
        for i in hits:
            if not i or not title[i] or ends[i - 1]:
                continue
            after = i + 1 < len(words) and (title[i + 1] or i + 1 in entities) and not ends[i]
            before = (i - 1 in entities) or (title[i - 1] and i > 1 and not ends[i - 2])
            if before or after or low[i - 1] in sentiment._BRAND_POSITION:
                named.append(i)
    hits = [i for i in hits if i not in named]
    starts = [i for i in starts if i not in named]
    numerals = [t for t in tokens if t[0] in "0123456789"]
    return prepared, words, low, tokens, cap_diff, hits, starts, numerals, sorted(entities + named)


@pytest.mark.parametrize("text", TEXTS)
def test_tokenise_matches_the_plain_definition(engine: SentimentEngine, text: str) -> None:
    expected = _reference_tokenised(engine, text)
    assert engine.tokenise(text) == expected
    assert engine.tokenise(text) == expected  # again, from the word memo


def test_the_word_memo_is_bounded(engine: SentimentEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sentiment, "_WORDS_KEPT", 3)
    engine._words.clear()
    for text in TEXTS:
        assert engine.tokenise(text) == _reference_tokenised(engine, text)
        assert len(engine._words) <= 3


@pytest.mark.parametrize("text", TEXTS)
def test_valences_with_known_hits(engine: SentimentEngine, text: str) -> None:
    _p, words, low, _t, cap_diff, hits, _s, _n, entities = engine.tokenise(text)
    expected = word_valences(words, low, engine.lexicon, cap_diff)
    for i in entities:  # masked entities (here: a #hashtag) get no valence
        expected[i] = 0.0
    assert word_valences(words, low, engine.lexicon, cap_diff, hits) == expected


# -- the phrase matcher: the original algorithm, one bucket scan per token -----------------
def _reference_first(
    entries: list[tuple[tuple[str, ...], Any]], tokens: Sequence[str], i: int
) -> list[tuple[int, Any]]:
    found = []
    for toks, value in entries:  # longest first
        end = i + len(toks)
        if end > len(tokens):
            continue
        for k in range(1, len(toks)):
            want, tok = toks[k], tokens[i + k]
            if want != tok and want != "*" and (want not in PLACEHOLDERS or token_class(tok) != want):
                break
        else:
            found.append((end, value))
    return found


def _reference_candidates(matcher: PhraseMatcher[Any], token: str) -> list[tuple[tuple[str, ...], Any]]:
    bucket = [(e[0], e[1]) for e in matcher._index.get(token, [])]
    if matcher._digit_index and token[:1].isdigit():
        cls = token_class(token)
        extra = [(e[0], e[1]) for e in matcher._digit_index.get(cls or "", [])]
        bucket = sorted(bucket + extra, key=lambda item: -len(item[0]))
    return bucket


def _reference_find(matcher: PhraseMatcher[Any], tokens: Sequence[str]) -> list[tuple[int, int, Any]]:
    out, i = [], 0
    while i < len(tokens):
        found = _reference_first(_reference_candidates(matcher, tokens[i]), tokens, i)
        if found:
            out.append((i, found[0][0], found[0][1]))
            i = found[0][0]
        else:
            i += 1
    return out


def _reference_find_all(matcher: PhraseMatcher[Any], tokens: Sequence[str]) -> list[tuple[int, int, Any]]:
    return [
        (i, end, v)
        for i in range(len(tokens))
        for end, v in _reference_first(_reference_candidates(matcher, tokens[i]), tokens, i)
    ]


def _random_token_lists(matcher: PhraseMatcher[Any], seed: int, count: int) -> list[list[str]]:
    vocab = sorted({t for bucket in matcher._index.values() for e in bucket for t in e[0] if t not in PLACEHOLDERS})
    vocab += ["2", "3rd", "45mins", "6pm", "07:40", "24/7", "x", "the", "monday", "three", "*"]
    rng = random.Random(seed)
    return [[rng.choice(vocab) for _ in range(rng.randint(0, 14))] for _ in range(count)]


def test_find_matches_the_reference_scan(engine: SentimentEngine) -> None:
    matcher = engine.matcher
    for tokens in _random_token_lists(matcher, 1, 3000) + [_tokenise(engine._prepare(t))[2] for t in TEXTS]:
        expected = _reference_find(matcher, tokens)
        assert matcher.find(tokens) == expected
        assert matcher.find(tuple(tokens)) == expected
        starts = [i for i, t in enumerate(tokens) if matcher.may_start(t)]
        assert matcher.find(tokens, starts) == expected
        assert matcher.find_all(tokens) == _reference_find_all(matcher, tokens)


def test_find_with_a_literal_number_phrase_and_duplicates() -> None:
    matcher: PhraseMatcher[str] = PhraseMatcher()
    for phrase, value in [
        ("24/7 support", "a"),
        ("<num> hours", "b"),
        ("<num> hours late", "c"),
        ("on hold for <dur>", "d"),
        ("on * for", "e"),
        ("hold", "f"),
        ("hold", "g"),
        ("three", "h"),
    ]:
        matcher.add(phrase, value)
    for tokens in _random_token_lists(matcher, 2, 3000):
        assert matcher.find(tokens) == _reference_find(matcher, tokens)
        assert matcher.find_all(tokens) == _reference_find_all(matcher, tokens)


# -- features and reasons with the "non-zero items" shortcut -----------------------------
def test_extract_and_explain_shortcuts(engine: SentimentEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    if compiled.ACTIVE:
        # compiled modules call `extract`/`explain` directly, so a spy set on the module is
        # never called: check the same wiring on the source build, in a child interpreter
        node = f"{__file__}::test_extract_and_explain_shortcuts"
        env = {**os.environ, PURE_ENV: "1"}
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=--import-mode=importlib", node],
            capture_output=True, text=True, env=env, timeout=300,
        )
        assert run.returncode == 0 and " 1 passed" in run.stdout, run.stdout + run.stderr
        return
    seen: list[tuple[Any, ...]] = []

    def spy_extract(*args: Any) -> list[tuple[int, float]]:
        full = extract(*args[:14])  # no shortcuts: scans every item and token
        x = extract(*args)
        assert x == full
        seen.append(args)
        return x

    original_explain = sentiment.explain

    def spy_explain(*args: Any) -> list[str]:
        reasons = original_explain(*args)
        assert reasons == original_explain(*args[:6])  # every value, not only the non-zero
        return reasons

    monkeypatch.setattr(sentiment, "extract", spy_extract)
    monkeypatch.setattr(sentiment, "explain", spy_explain)
    for text in TEXTS:
        for rating in (None, 1, 3, 5):
            engine.analyse(text, rating)
    assert len(seen) == 4 * len(TEXTS)


# -- the language gate ---------------------------------------------------------------------
def _reference_detect(gate: LanguageGate, text: str, tokens: Sequence[str]) -> str | None:
    if "@" in text or "http" in text or "#" in text:
        text = _NOT_LANGUAGE_RE.sub(" ", text)
        tokens = [t for t in tokens if t and t[0] != "@" and not t.startswith("http")]
    if not any(c.isalpha() for c in text):
        return None
    if not (not text.isascii() and any(c.isalpha() for c in text if ord(c) > 127)) and not any(
        token in _FOREIGN for token in tokens
    ):
        return "en"
    # the vote, counted the obvious way
    english = len({t for t in tokens if t in _ENGLISH})
    counts = sorted(((len({t for t in tokens if t in words}), code) for code, words in _FUNCTION_WORDS.items()), key=lambda c: -c[0])
    (best, code), (second, _) = counts[0], counts[1]
    if english >= VOTE_MARGIN and english - best >= VOTE_MARGIN:
        return "en"
    if best - max(english, second) >= VOTE_MARGIN:
        return code
    found = gate._detector.detect_language_of(text)
    return found.iso_code_639_1.name.lower() if found is not None else None


@pytest.mark.parametrize(
    "text",
    [
        *TEXTS,
        "@a #b http://x.y 123",
        "@@ ## !!",
        "ok @el la",
        "hola @la",
        "tellura y is my bill £80?? i never even used the extra data",
        "Gibt es bei Tidewire einen Vertrag ohne Mindestlaufzeit?",
        "Est-ce que Meridian accepte les poussettes en cabine ?",
        "la de en que",
    ],
)
def test_language_gate_matches_the_reference(engine: SentimentEngine, text: str) -> None:
    gate = LanguageGate()
    tokens = engine.tokenise(text)[3]
    assert gate.detect(text, tokens) == _reference_detect(gate, text, tokens)


# -- urgency: the fused arithmetic against strengths + `combine` ---------------------------
def _reference_urgency(scorer: Scorer, mention: Mention, ctx: ScoringContext) -> tuple[int, dict[str, float]]:
    score = scorer.score(mention, ctx)
    analysis = scorer.engine.analyse_tokens(scorer.engine.tokenise(mention.text), mention.rating)
    sentiment_ = score.sentiment
    urgency = scorer.rules.urgency
    addressed = scorer._addressed(mention, mention.text)
    reach = log_strength(mention.author.followers, urgency.reach_followers_high)
    if mention.author.verified:
        reach = min(1.0, reach + VERIFIED_BONUS)
    pile = 0
    if sentiment_.label != "positive":
        pile = max(
            ctx.thread_negative_recent,
            max((ctx.category_negative_recent.get(c, 0) for c in score.categories), default=0),
        )
    strengths = {
        "negativity": negativity_strength(
            sentiment_.compound, analysis.complaint if score.language_supported else 0.0, sentiment_.label
        ),
        "severity": scorer.categoriser.max_severity(score.categories) / 5.0,
        "reach": reach,
        "engagement": log_strength(mention.engagement, urgency.engagement_high),
        "addressed": 1.0 if addressed else 0.0,
        "help_request": 1.0 if analysis.help or (addressed and "?" in mention.text) else 0.0,
        "repeat_contact": 1.0 if ctx.author_open_escalations > 0 else 0.0,
        "pile_on": pile_on_strength(pile, urgency.pile_on_threshold),
        "urgent_words": 1.0 if analysis.urgent else 0.0,
    }
    return combine(urgency, strengths)


def test_urgency_matches_strengths_and_combine(scorer: Scorer, mention: Callable[..., Mention]) -> None:
    rng = random.Random(3)
    for text in [*TEXTS, "@NimbusMobile no signal, outage again? charged twice, urgent"]:
        for _ in range(6):
            m = mention(
                text,
                followers=rng.choice([0, 1, 250, 99_999, 100_000, 5_000_000]),
                verified=rng.random() < 0.3,
                engagement=rng.choice([0, 3, 999, 1000, 10**6]),
                in_reply_to_user=rng.choice([None, "@NimbusMobile", "someone"]),
                lang="en",
            )
            ctx = ScoringContext(
                author_open_escalations=rng.choice([0, 2]),
                thread_negative_recent=rng.choice([0, 4, 5, 12]),
                category_negative_recent=rng.choice([{}, {"outage": 7}, {"billing": 30}]),
            )
            score = scorer.score(m, ctx)
            assert (score.urgency, score.urgency_signals) == _reference_urgency(scorer, m, ctx)


def test_handle_pattern_finds_what_the_plain_lookbehind_finds() -> None:
    """urgency.handle_pattern puts the `@` before its lookbehind; the plain pattern had
    the lookbehind first. Same spans on texts built from the characters that matter."""
    import re

    from listener.scoring.urgency import handle_pattern

    handles = ["@NimbusMobile", "Nimbus", "nimbus_uk"]
    fast = handle_pattern(handles)
    names = sorted({h.lstrip("@").lower() for h in handles}, key=len, reverse=True)
    plain = re.compile(r"(?<![\w@])@(?:" + "|".join(map(re.escape, names)) + r")\b", re.IGNORECASE)
    assert fast is not None
    rng = random.Random(3)
    pieces = ["@", "@@", "Nimbus", "NIMBUSMOBILE", "nimbus_uk", "Mobile", "é", "x", "_", " ", "\n", "1", "-", "!", "ü"]
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 8)))
        a, b = plain.search(text), fast.search(text)
        assert (a and a.span()) == (b and b.span()), text
