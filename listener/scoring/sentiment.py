"""Complaint-aware sentiment: VADER's word valences plus socialear's phrase cues.

One pass per text, at the cost of about one `polarity_scores` call:

1. Text prep: emoji become tokens (socialear's own emoji valences) or VADER's emoji
   descriptions; curly apostrophes are straightened so "don’t" negates like "don't".
   ASCII text (most posts) skips this step entirely.
2. VADER's per-word valences, computed with VADER's own `sentiment_valence` (so its
   negation, booster, ALL-CAPS and idiom rules are unchanged) on VADER's own tokens.
3. The phrase matcher runs once over the same tokens. A matched cue *replaces* the VADER
   valences of the words it covers ("thanks for nothing" no longer counts "thanks" as
   praise), after its own negation ("not working" vs "no longer not working" is rare, but
   "wasn't cancelled" is not), booster and ALL-CAPS handling.
4. Sarcasm: praise words in a text that also states a complaint ("Great, another
   outage", "love waiting 2 hours on hold") are flipped, unless the text reports a fix.
5. A star rating adds one valence item; VADER's "but" rule and punctuation emphasis
   then apply to the whole list, and VADER's `score_valence` normalises it.

Every item that counts is kept with its span, so the label comes with its reasons.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from listener.scoring.lexicon import BOOSTERS, EMOJI, NEGATORS, Cue, builtin_cues
from listener.scoring.matcher import PhraseMatcher, normalise_token, phrase_tokens, strip_token
from listener.scoring.types import Sentiment
from listener.scoring.valence import word_valences

POSITIVE_AT = 0.05  # VADER's standard thresholds
NEGATIVE_AT = -0.05

# Negating a complaint ("wasn't delayed") makes it mildly good news, not praise.
NEGATED_COMPLAINT = -0.4
NEGATED_OTHER = -0.74  # VADER's N_SCALAR
CAPS_BOOST = 0.733  # VADER's C_INCR

# Star ratings (1-5) as one extra valence item: reviews state their verdict in stars.
RATING_VALENCE = {1: -3.0, 2: -2.2, 3: -0.3, 4: 1.8, 5: 2.6}

# Praise words that read as sarcasm next to a complaint.
SARCASM_PRONE = frozenset(
    "great love loving loved thanks thank cheers nice brilliant fantastic perfect wonderful "
    "awesome amazing excellent lovely fun glad happy impressed impressive genius lol haha "
    "lmao superb stellar outstanding best congrats congratulations well".split()
)

_CLAUSE_END = tuple(".,!?;:")
_DROP_CHARS = dict.fromkeys([0xFE0F, 0xFE0E, 0x200D, *range(0x1F3FB, 0x1F400)])
_SENTENCE_RE = re.compile(r"[^.!?\n]+[.!?]*")
_QUESTION_OPENERS = frozenset(
    "how what when where why which who whom whose is are am was were do does did can could "
    "will would should shall may might has have had anyone anybody any does isn't aren't "
    "doesn't don't can't won't".split()
)


_PUNCT = string.punctuation


def _vader_words(text: str) -> list[str]:
    """VADER's tokens (`SentiText.words_and_emoticons`): split on whitespace, strip
    surrounding punctuation unless that leaves <= 2 characters (keeps `:(` and `no.`)."""
    out = []
    for word in text.split():
        stripped = word.strip(_PUNCT)
        out.append(word if len(stripped) <= 2 else stripped)
    return out


def _compound(sentiments: list[float], text: str) -> float:
    """VADER's `score_valence` compound only (its pos/neu/neg proportions are not used)."""
    total = sum(sentiments)
    if not total:
        return 0.0
    # VADER's punctuation emphasis: up to 4 "!" (0.292 each); 2-3 "?" 0.18 each, more 0.96
    bangs = min(4, text.count("!"))
    questions = text.count("?")
    asked = 0.0 if questions <= 1 else questions * 0.18 if questions <= 3 else 0.96
    emphasis = bangs * 0.292 + asked
    total += emphasis if total > 0 else -emphasis
    return round(total / math.sqrt(total * total + 15), 4)  # VADER's normalize, alpha=15


@dataclass(slots=True)
class TextAnalysis:
    """What the scorer needs from one pass over a text (sentiment plus side evidence)."""

    sentiment: Sentiment
    tokens: list[str]
    complaint: float = 0.0  # sum of complaint-cue valences (<= 0), after negation
    complaint_kinds: list[str] = field(default_factory=list)
    help: list[str] = field(default_factory=list)
    urgent: list[str] = field(default_factory=list)
    question: bool = False


class SentimentEngine:
    """VADER with rules.yaml's lexicon merged in, plus the complaint-cue matcher."""

    def __init__(self, lexicon: Mapping[str, float] | None = None) -> None:
        self.vader = SentimentIntensityAnalyzer()
        self.lexicon = self.vader.lexicon
        self.matcher: PhraseMatcher[Cue] = PhraseMatcher()
        rules = {k.strip().lower(): float(v) for k, v in (lexicon or {}).items() if k.strip()}
        single_words = {k for k in rules if len(phrase_tokens(k)) == 1 and " " not in k}
        overridden = {phrase_tokens(k) for k in rules}
        for phrase, cue in builtin_cues():
            # a rules.yaml word or phrase overrides a built-in cue with the same text
            if phrase_tokens(phrase) not in overridden:
                self.matcher.add(phrase, cue)
        for key, valence in rules.items():
            if key in single_words:
                # single words go to VADER itself, so its negation/booster rules apply
                self.lexicon[key] = valence
            else:
                self.matcher.add(key, Cue(valence, "lexicon", complaint=valence < 0))
        emoji_chars = set(EMOJI) | {k for k in self.vader.emojis if len(k) == 1}
        self._emoji_re = re.compile("[" + "".join(sorted(map(re.escape, emoji_chars))) + "]")
        self._emojis = self.vader.emojis

    # -- public --------------------------------------------------------------------
    def sentiment(self, text: str, rating: float | None = None) -> Sentiment:
        return self.analyse(text, rating).sentiment

    def analyse(self, text: str, rating: float | None = None) -> TextAnalysis:
        text = self._prepare(text)
        words = _vader_words(text)
        low = [w.lower() for w in words]
        tokens = [strip_token(w) for w in low]
        upper = sum(1 for w in words if w.isupper())
        cap_diff = 0 < len(words) - upper < len(words)  # VADER's allcap_differential
        sentiments = word_valences(words, low, self.lexicon, cap_diff)
        # index -> (end, cue, negated) for reasons; VADER words are everything else
        cue_at: dict[int, tuple[int, Cue, bool]] = {}
        analysis = TextAnalysis(Sentiment("neutral", 0.0, []), tokens)
        praise_fix = False
        previous_end = 0
        for start, end, cue in self.matcher.find(tokens):
            kind = cue.kind
            if kind == "help" or kind == "urgent":
                # requests, not praise: VADER's +valence for "help"/"please" would make a
                # plea for help read as positive
                (analysis.help if kind == "help" else analysis.urgent).append(
                    " ".join(tokens[start:end])
                )
                for k in range(start, end):
                    sentiments[k] = 0.0
                continue
            valence = cue.valence
            negated = self._negated(words, tokens, start, previous_end)
            previous_end = end
            if negated:
                valence *= NEGATED_COMPLAINT if cue.complaint else NEGATED_OTHER
            else:
                boost = BOOSTERS.get(tokens[start - 1]) if start else None
                if boost:
                    valence *= 1.0 + boost
                word = words[start]
                if cap_diff and len(word) > 2 and word.isupper():
                    valence += CAPS_BOOST if valence > 0 else -CAPS_BOOST
                if cue.complaint:
                    analysis.complaint += valence
                    analysis.complaint_kinds.append(kind)
                elif kind == "resolution" and tokens[start] not in SARCASM_PRONE:
                    praise_fix = True
            for k in range(start, end):
                sentiments[k] = 0.0
            sentiments[start] = valence
            cue_at[start] = (end, cue, negated)

        if analysis.complaint <= -1.0 and not praise_fix:
            self._flip_sarcasm(tokens, sentiments, cue_at)

        if "but" in tokens:
            pivot = tokens.index("but")
            for k, value in enumerate(sentiments):
                if value:
                    sentiments[k] = value * (0.5 if k < pivot else 1.5 if k > pivot else 1.0)

        stars = None
        if rating is not None:
            stars = max(1, min(5, round(rating)))
            sentiments.append(RATING_VALENCE[stars])

        compound = _compound(sentiments, text)
        label = (
            "positive" if compound >= POSITIVE_AT else "negative" if compound <= NEGATIVE_AT
            else "neutral"
        )
        analysis.sentiment = Sentiment(
            label, compound, self._reasons(label, tokens, sentiments, cue_at, stars)
        )
        analysis.question = self._is_question(text, tokens, analysis, label)
        return analysis

    # -- steps -----------------------------------------------------------------------
    def _prepare(self, text: str) -> str:
        """Emoji to tokens/descriptions and apostrophes straightened; ASCII skips it all."""
        if text.isascii():
            return text.strip()
        text = text.translate(_DROP_CHARS).replace("’", "'").replace("‘", "'")
        emojis = self._emojis

        def swap(match: re.Match[str]) -> str:
            char = match.group(0)
            return f" {char} " if char in EMOJI else f" {emojis[char]} "

        return self._emoji_re.sub(swap, text).strip()

    @staticmethod
    def _negated(words: list[str], tokens: list[str], start: int, floor: int) -> bool:
        """A negator up to 3 tokens before `start`, within the same clause and not inside
        the previous cue ("no signal since Monday": the "no" belongs to "no signal")."""
        for j in range(start - 1, max(floor - 1, start - 4), -1):
            if words[j].endswith(_CLAUSE_END):
                return False
            if tokens[j] in NEGATORS or tokens[j].endswith("n't"):
                return True
        return False

    @staticmethod
    def _flip_sarcasm(
        tokens: list[str], sentiments: list[float], cue_at: dict[int, tuple[int, Cue, bool]]
    ) -> None:
        """Praise next to a stated complaint reads as sarcasm: flip it to mild negative."""
        for k, token in enumerate(tokens):
            value = sentiments[k]
            if value > 0 and token in SARCASM_PRONE:
                hit = cue_at.get(k)
                if hit is None or hit[1].kind in ("resolution", "sarcasm"):
                    sentiments[k] = -0.5 * value
                    cue_at[k] = (
                        hit[0] if hit else k + 1,
                        Cue(-0.5 * value, "sarcasm", False),
                        False,
                    )

    def _reasons(
        self,
        label: str,
        tokens: list[str],
        sentiments: list[float],
        cue_at: dict[int, tuple[int, Cue, bool]],
        stars: int | None,
    ) -> list[str]:
        """The items that pushed the score towards its label, strongest first."""
        if label == "neutral":
            return []
        sign = 1.0 if label == "positive" else -1.0
        n = len(tokens)
        items = sorted(
            (k for k, v in enumerate(sentiments) if v * sign > 0),
            key=lambda k: -abs(sentiments[k]),
        )[:6]
        out = []
        for k in items:
            value = sentiments[k]
            if k >= n:
                out.append(f"rating {stars}★")
                continue
            hit = cue_at.get(k)
            if hit is None:
                out.append(f"'{tokens[k]}' ({value:+.1f})")
                continue
            end, cue, negated = hit
            kind = f"negated {cue.kind}" if negated else cue.kind
            out.append(f"'{' '.join(tokens[k:end])}' ({value:+.1f}, {kind})")
        return out

    @staticmethod
    def _is_question(text: str, tokens: list[str], analysis: TextAnalysis, label: str) -> bool:
        """True when the post is only a question (not a complaint phrased as one)."""
        if analysis.complaint < 0 or label == "negative":
            return False
        if "?" not in text and (not tokens or tokens[0] not in _QUESTION_OPENERS):
            return False
        asked = False
        for sentence in _SENTENCE_RE.findall(text):
            words = [w for w in sentence.split() if not w.startswith(("@", "#", "http"))]
            if not any(any(c.isalnum() for c in w) for w in words):
                continue
            if sentence.rstrip().endswith("?") or normalise_token(words[0]) in _QUESTION_OPENERS:
                asked = True
                continue
            return False
        return asked
