"""Complaint-aware sentiment: VADER's word valences plus socialear's phrase cues.

One pass per text, at about the cost of one `polarity_scores` call:

1. Text prep: each emoji becomes its own token (valences in `lexicon.EMOJI`); curly
   apostrophes are straightened so "don’t" negates like "don't". ASCII text skips this.
2. VADER's per-word valences (`valence.word_valences`, VADER's rules on pre-lowered
   tokens), with rules.yaml single words merged into VADER's lexicon.
3. The phrase matcher runs once over the same tokens. A matched cue *replaces* the
   VADER valences of the words it covers ("thanks for nothing" no longer counts "thanks"
   as praise), after its own negation ("wasn't delayed"), booster and ALL-CAPS handling.
   A negation that no cue or VADER word explains ("hasn't paid it back", "the gate
   hasn't opened") is itself weak evidence of a failure.
4. Care logic, the point of issue 3 (see `_care_logic`): what a care team must act on
   decides the label, not the tone. An open complaint outweighs courtesy and turns
   praise words into sarcasm; a fix ("sorted", "refund landed") turns the complaint words
   into history; an information question or a news item is neither.
5. A star rating adds one valence item; VADER's "but" rule and punctuation emphasis
   then apply to the whole list, and VADER's normalisation gives the compound.

Every item that counts keeps its span and kind, so the label comes with its reasons.

Speed (the scorer must keep >= 50% of bare VADER's throughput): `tokenise` looks each
distinct word up once in a bounded per-engine memo that also records whether VADER
scores it, whether a cue may start there and whether it is a number, so the later
steps visit only those positions; the care logic, features and reasons visit only the
items with a valence. `tests/listener/scoring/test_fast_paths.py` checks every such
shortcut against the plain definition.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Literal

from vaderSentiment.vaderSentiment import BOOSTER_DICT, SentimentIntensityAnalyzer

from listener.scoring.explain import explain, item_reason
from listener.scoring.features import extract, grams
from listener.scoring.lexicon import (
    BOOSTERS,
    COMPLAINT_KINDS,
    DOUBTERS,
    EMOJI,
    NEGATORS,
    NEUTRAL_WORDS,
    Cue,
    builtin_cues,
)
from listener.scoring.matcher import STRIP_CHARS, PhraseMatcher, phrase_tokens
from listener.scoring.model import LinearModel, default_model
from listener.scoring.questions import question_kind
from listener.scoring.types import Sentiment
from listener.scoring.valence import word_valences

POSITIVE_AT = 0.05  # VADER's standard thresholds on the (adjusted) compound
NEGATIVE_AT = -0.05

NEGATED_COMPLAINT = -0.4  # "wasn't delayed" is mildly good news, not praise
NEGATED_OTHER = -0.74  # VADER's N_SCALAR
CAPS_BOOST = 0.733  # VADER's C_INCR
UNEXPLAINED_NEGATION = -1.0  # "the gate hasn't opened": weak failure evidence

OPEN_COMPLAINT = -1.5  # complaint evidence (sum of valences) that makes a post a complaint
FIXED_COMPLAINT = 0.25  # weight left on complaint words once the text reports a fix
OUTWEIGHED_PRAISE = 0.25  # weight left on other praise next to an open complaint
SARCASM_FLIP = -0.5  # praise-prone words next to an open complaint
INFO_QUESTION = 0.1  # weight left on everything in an information question or news

# Star ratings (1-5) as one extra valence item: reviews state their verdict in stars.
RATING_VALENCE = {1: -3.0, 2: -2.5, 3: 0.0, 4: 2.5, 5: 3.0}

# Praise words that read as sarcasm (or courtesy) next to an open complaint.
SARCASM_PRONE = frozenset(
    "great love loving loved thanks thank cheers nice brilliant fantastic perfect wonderful "
    "awesome amazing excellent lovely fun glad happy impressed impressive genius lol haha "
    "lmao superb stellar outstanding best congrats congratulations good enjoying proudly "
    "grateful appreciate appreciated 👏 😊 🙂 👍 😀 😃 😄 😁".split()
)
# Negations that say nothing about a failure ("can't wait", "don't hesitate").
_HARMLESS_AFTER_NEGATION = frozenset(
    "wait thank recommend fault complain believe hesitate worry mind need know think "
    "expect bother forget even too only just sure yet really usually normally i one more "
    "longer way doubt".split()
)
_NEGATION_AUX = frozenset(
    "hasn't hasnt haven't havent didn't didnt doesn't doesnt isn't isnt wasn't wasnt "
    "won't wont can't cant couldn't couldnt cannot aren't arent weren't werent never no".split()
)

_DROP_CHARS: dict[int, str | None] = dict.fromkeys([0xFE0F, 0xFE0E, 0x200D, *range(0x1F3FB, 0x1F400)])
_PUNCT = string.punctuation
_TOKEN_STRIP = STRIP_CHARS
_CLAUSE_END = tuple(".,!?;:")
_STAR_RE = re.compile(
    r"\b([1-5])\s?(?:/\s?5|stars?\b|★|sterne\b|estrellas\b|étoiles\b)|(★{1,5})☆*",
    re.IGNORECASE,
)
_MAY_RATE = re.compile("[1-5★]").search


def _tokenise(text: str) -> tuple[list[str], list[str], list[str], bool]:
    """One pass: VADER's tokens, the same lowered, the matcher's tokens, VADER's cap_diff.

    VADER's tokens (`SentiText.words_and_emoticons`): split on whitespace, strip
    surrounding punctuation unless that leaves <= 2 characters (keeps `:(` and `no.`).
    The matcher's tokens are lowered with all surrounding punctuation stripped.
    """
    words: list[str] = []
    low: list[str] = []
    tokens: list[str] = []
    upper = 0
    for word in text.split():
        stripped = word.strip(_PUNCT)
        if len(stripped) > 2:
            word = stripped
        if word.isupper():
            upper += 1
        lowered = word.lower()
        words.append(word)
        low.append(lowered)
        tokens.append(lowered.strip(_TOKEN_STRIP) or lowered)
    cap_diff = 0 < len(words) - upper < len(words)  # VADER's allcap_differential
    return words, low, tokens, cap_diff


def _compound(values: list[float], text: str) -> float:
    """VADER's `score_valence` compound only (its pos/neu/neg proportions are not used)."""
    total = sum(values)
    if not total:
        return 0.0
    # VADER's punctuation emphasis: up to 4 "!" (0.292 each); 2-3 "?" 0.18 each, more 0.96
    bangs = min(4, text.count("!"))
    questions = text.count("?")
    asked = 0.0 if questions <= 1 else questions * 0.18 if questions <= 3 else 0.96
    emphasis = bangs * 0.292 + asked
    total += emphasis if total > 0 else -emphasis
    return round(total / math.sqrt(total * total + 15), 4)  # VADER's normalize, alpha=15


def as_stars(rating: float | None) -> int | None:
    """A platform rating as 1-5 stars; None when absent or not on a 1-5 scale (NaN, 0, 10)."""
    if rating is None or not math.isfinite(rating) or not 0.5 <= rating <= 5.5:
        return None
    return max(1, min(5, round(rating)))


def stars_in_text(text: str) -> int | None:
    """A rating written in the text ("2/5", "1 star", "★★★★☆"), for posts with no field."""
    if _MAY_RATE(text) is None:  # every rating needs a digit 1-5 or a star: cheap pre-check
        return None
    m = _STAR_RE.search(text)
    if m is None:
        return None
    return int(m.group(1)) if m.group(1) else len(m.group(2))


# (prepared text, VADER's tokens, the same lowered, the matcher's tokens, cap_diff,
# indices of the words VADER scores, indices of the tokens a cue may start at,
# the tokens that start with a digit)
Tokenised = tuple[str, list[str], list[str], list[str], bool, list[int], list[int], list[str], list[int]]
_UPPER, _SCORED, _STARTS, _NUMERAL, _ENTITY = 1, 2, 4, 8, 16  # `SentimentEngine._word` flags
_TITLE = 32  # Title-case word ("Virgin"): a name when it stands in a brand position
_ENDS_SENTENCE = 64  # the raw word ends a sentence ("late."): the next word starts one
_LEADING = "\"'([{*-<>.,:;!?¡¿“‘«"  # stripped before looking for a leading @ or #
# lowercase words after which a Title-case word names a company, not a feeling: "flew
# Spirit", "switched to Sky", "with Orange", "thanks to Best Buy" (entity masking)
_BRAND_POSITION = frozenset(
    "with from at to by on via fly flew flying flown use using used switch switched switching join joined "
    "called named chose choose choosing book booked booking ditch ditched leave left".split()
)
_ASCII_DIGITS = frozenset("0123456789")
_WORDS_KEPT = 1 << 14  # distinct words memoised per engine (a few MB at most)


@dataclass(slots=True)
class TextAnalysis:
    """What the scorer needs from one pass over a text (sentiment plus side evidence)."""

    sentiment: Sentiment
    tokens: list[str]
    complaint: float = 0.0  # open complaint evidence (sum of valences, <= 0)
    resolved: bool = False
    help: list[str] = field(default_factory=list)
    urgent: list[str] = field(default_factory=list)
    question: bool = False
    features: list[tuple[int, float]] = field(default_factory=list)  # the model's input
    grams: list[str] = field(default_factory=list)  # `features.grams`, for `train.py` (keep_grams)
    # token indices no learned word may use: a negated cue and its negation ("wasn't
    # delayed": the model must not read "delayed" as a complaint word the cue already undid)
    unlearned: list[int] = field(default_factory=list)
    # a rules.yaml `lexicon` word or phrase occurs: the operator's reading of the post then
    # stands in for the learned words, none of which counts (`analyse_tokens`)
    overridden: bool = False


# placeholder until `analyse_tokens` sets the real sentiment (never returned)
_UNDECIDED = Sentiment("neutral", 0.0, [])


# Negation scope: a negation does not turn a comparison around. "never had a worse
# experience" and "couldn't be worse" are as bad as it gets; "couldn't be better" and
# "never seen a better phone" as good. VADER flips the word (to +1.6 / -1.4).
_COMPARATIVES = frozenset("worse worst better best happier nicer easier faster".split())
_COMPARED_AFTER = frozenset("a an be been".split())
_SCOPE_NEGATIONS = frozenset("never not no nobody nothing cannot".split())
SUPERLATIVE_BOOST = 1.25


def _comparative_scope(
    low: list[str], values: list[float], spans: dict[int, tuple[int, str]], i: int, base: float
) -> bool:
    """Restore the sign of comparative `low[i]` when VADER's negation flipped it in a
    "never had a worse" / "couldn't be better" construction (and intensify it); a cue
    on the negation itself ("never had" as in "never had a reply") is then no failure.
    Returns whether it did (the negation is then spent on the comparison)."""
    if i < 2 or low[i - 1] not in _COMPARED_AFTER or values[i] * base >= 0:
        return False
    for j in range(max(0, i - 4), i - 1):
        w = low[j]
        if w in _SCOPE_NEGATIONS or w.endswith("n't") or (w.endswith("nt") and w[:-2] in _MODALS):
            values[i] = abs(values[i]) * SUPERLATIVE_BOOST * (1.0 if base > 0 else -1.0)
            for k in range(max(0, i - 4), i):
                span = spans.get(k)
                if span is not None and span[0] <= i and k <= j < span[0]:
                    values[k] = 0.0
                    del spans[k]
            return True
    return False


_MODALS = frozenset("couldn could wouldn would can won didn hasn haven isn wasn".split())

DISAGREEING_NEUTRAL = 0.5  # a neutral label with |compound| beyond this shows the model's number


def agreeing_compound(label: str, compound: float, probabilities: Mapping[str, float]) -> float:
    """The compound shown to agents and routes, in agreement with the label: VADER's when
    its sign agrees, else P(positive) - P(negative) (whose sign always agrees with a
    negative or positive argmax), so no agent reads "negative, compound +0.6"."""
    if (
        (label == "negative" and compound >= 0)
        or (label == "positive" and compound <= 0)
        or (label == "neutral" and abs(compound) >= DISAGREEING_NEUTRAL)
    ):
        return round(probabilities["positive"] - probabilities["negative"], 4) + 0.0
    return compound


class SentimentEngine:
    """VADER with rules.yaml's lexicon merged in, plus the complaint-cue matcher."""

    def __init__(
        self,
        lexicon: Mapping[str, float] | None = None,
        model: LinearModel | Literal["default"] | None = "default",
        exclude: Collection[tuple[str, ...]] = (),
        keep_grams: bool = False,
        entities: Collection[str] = (),
    ) -> None:
        """`model`: the learned decision layer (None: the label is the compound's sign, as
        before the model existed). `exclude`: built-in phrases (as `phrase_tokens`) to leave
        out, which `train.py` uses to simulate a lexicon that never saw a fold's texts.
        `keep_grams`: list each text's `features.grams` even when the model has no learned
        words (`train.py`, which is about to learn them). `entities`: the words of the
        configured brands' and competitors' names and handles, which carry no valence
        (a company called "Virgin" or "Sky" is not a sentiment)."""
        self.keep_grams = keep_grams
        self.entities = frozenset(w.lower().strip(_TOKEN_STRIP) for w in entities if w.strip(_TOKEN_STRIP))
        self.vader = SentimentIntensityAnalyzer()
        self.lexicon = self.vader.lexicon
        self.lexicon.update(NEUTRAL_WORDS)
        self.model = default_model() if model == "default" else model
        self.matcher: PhraseMatcher[Cue] = PhraseMatcher()
        rules = {k.strip().lower(): float(v) for k, v in (lexicon or {}).items() if k.strip()}
        overridden = {phrase_tokens(k) for k in rules} | set(exclude)
        for phrase, cue in builtin_cues():
            # a rules.yaml word or phrase overrides a built-in cue with the same text
            if phrase_tokens(phrase) not in overridden:
                self.matcher.add(phrase, cue)
        self.rules_words: frozenset[str] = frozenset(k for k in rules if len(phrase_tokens(k)) == 1 and " " not in k)
        for key, valence in rules.items():
            if len(phrase_tokens(key)) == 1 and " " not in key:
                # single words go to VADER itself, so its negation/booster rules apply
                self.lexicon[key] = valence
            else:
                self.matcher.add(key, Cue(valence, "lexicon", complaint=valence < 0))
        # one str.translate pads every emoji with spaces and drops variation selectors,
        # zero-width joiners and skin tones; far cheaper than a regex or VADER's loop
        emoji_chars = set(EMOJI) | {k for k in self.vader.emojis if len(k) == 1}
        self._prep_table: dict[int, str | None] = {ord(c): f" {c} " for c in emoji_chars}
        self._prep_table.update(_DROP_CHARS)
        self._prep_table.update({ord("’"): "'", ord("‘"): "'"})
        # raw word -> `_word`'s result; lexicon and cues are fixed from here on
        self._words: dict[str, tuple[str, str, str, int]] = {}

    # -- public --------------------------------------------------------------------
    def sentiment(self, text: str, rating: float | None = None) -> Sentiment:
        return self.analyse(text, rating).sentiment

    def analyse(self, text: str, rating: float | None = None) -> TextAnalysis:
        return self.analyse_tokens(self.tokenise(text), rating)

    def tokenise(self, text: str) -> Tokenised:
        """The prepared text and its tokens: `_tokenise`'s four values, then the indices
        of the words VADER scores and of the tokens a cue may start at, and the tokens
        that start with a digit; what `analyse_tokens` reads.

        Each distinct whitespace-separated word is worked out once (`_word`) and then
        looked up: words repeat across posts, and one dict lookup replaces two `strip`s,
        a `lower`, an `isupper` and the lexicon and phrase-index lookups."""
        if text.isascii():  # `_prepare`, inlined
            text = text.strip()
        else:
            text = text.translate(self._prep_table).strip()
        words: list[str] = []
        low: list[str] = []
        tokens: list[str] = []
        hits: list[int] = []
        starts: list[int] = []
        numerals: list[str] = []
        entities: list[int] = []
        names: list[int] = []  # scored Title-case words: entities if in a brand position
        all_flags: list[int] = []
        upper = 0
        known = self._words.get
        for i, raw in enumerate(text.split()):
            info = known(raw)
            if info is None:
                info = self._word(raw)
            word, lowered, token, flags = info
            words.append(word)
            low.append(lowered)
            tokens.append(token)
            all_flags.append(flags)
            if flags:
                if flags & _UPPER:
                    upper += 1
                if flags & _ENTITY:
                    entities.append(i)
                elif flags & _SCORED:
                    if flags & _TITLE and i:
                        names.append(i)
                    hits.append(i)
                if flags & _STARTS:
                    starts.append(i)
                if flags & _NUMERAL:
                    numerals.append(token)
        n = len(words)
        if names:
            named = self._names(names, all_flags, low)
            if named:
                entities = sorted(entities + named)
                hits = [i for i in hits if i not in named]
                starts = [i for i in starts if i not in named]
        cap_diff = 0 < n - upper < n  # VADER's allcap_differential
        return text, words, low, tokens, cap_diff, hits, starts, numerals, entities

    @staticmethod
    def _names(candidates: list[int], flags: list[int], low: list[str]) -> list[int]:
        """Entity masking for names nobody configured: a Title-case lexicon word that does
        not start a sentence is a company's name ("Virgin", "Spirit", "Orange", "Best Buy")
        when it stands next to another Title-case word or an @handle/#hashtag, or after a
        word such as "flew", "with" or "switched to". Text written in Title Case throughout
        (a headline) is left alone: there capitals say nothing."""
        n = len(flags)
        titled = sum(1 for f in flags if f & _TITLE)
        if titled * 2 > n:
            return []
        named: list[int] = []
        for i in candidates:
            if flags[i - 1] & _ENDS_SENTENCE:
                continue  # the first word of a sentence is capitalised anyway
            before = flags[i - 1]
            after = flags[i + 1] if i + 1 < n else 0
            if (
                before & _ENTITY
                or (before & _TITLE and i > 1 and not flags[i - 2] & _ENDS_SENTENCE)
                or (after & (_ENTITY | _TITLE) and not flags[i] & _ENDS_SENTENCE)
                or low[i - 1] in _BRAND_POSITION
            ):
                named.append(i)
        return named

    def _word(self, raw: str) -> tuple[str, str, str, int]:
        """`_tokenise` for one word (VADER's token, lowered, the matcher's token), and
        flags: VADER's isupper, scored by `word_valences`, a cue may start here, the
        token starts with a digit."""
        stripped = raw.strip(_PUNCT)
        word = stripped if len(stripped) > 2 else raw
        lowered = word.lower()
        token = lowered.strip(_TOKEN_STRIP) or lowered
        flags = 0
        if word.isupper():
            flags |= _UPPER
        if raw[-1] in ".!?" and not raw.endswith(".."):
            flags |= _ENDS_SENTENCE
        # entity masking: an @handle, a #hashtag or a configured brand/competitor word
        # names something; it carries no valence and starts no cue ("@VirginAtlantic")
        head = raw.lstrip(_LEADING)[:1]
        if head == "@" or head == "#" or token in self.entities:
            flags |= _ENTITY
        else:
            if len(word) > 1 and word[0].isupper() and word[1:].islower():
                flags |= _TITLE
            if lowered in self.lexicon and lowered not in BOOSTER_DICT:
                flags |= _SCORED
            if self.matcher.may_start(token):
                flags |= _STARTS
        if token[0] in _ASCII_DIGITS:
            flags |= _NUMERAL
        info = (word, lowered, token, flags)
        if len(self._words) >= _WORDS_KEPT:
            self._words.clear()  # a bounded memo; common words come straight back
        self._words[raw] = info
        return info

    def analyse_tokens(self, tokenised: Tokenised, rating: float | None = None, decide: bool = True) -> TextAnalysis:
        """`analyse` on a text already `tokenise`d. `decide=False` skips the label (the
        model, its features and the reasons) for a caller that only needs the side
        evidence (the scorer, for a text that is not English)."""
        text, words, low, tokens, cap_diff, hits, starts, numerals, entities = tokenised
        values = word_valences(words, low, self.lexicon, cap_diff, hits)
        # index -> (end, kind) for items that are cues; plain VADER words are absent
        spans: dict[int, tuple[int, str]] = {}
        analysis = TextAnalysis(_UNDECIDED, tokens)
        if starts:
            self._apply_cues(words, tokens, values, spans, analysis, cap_diff, starts)
        lexicon = self.lexicon
        rules_words = self.rules_words
        compared: list[int] = []  # comparatives whose negation the comparison rule spent ("never had a better")
        for i in hits:
            if rules_words and low[i] in rules_words:
                analysis.overridden = True  # a rules.yaml word overrides the learned ones
            v = values[i]
            if v and v * lexicon[low[i]] < 0 and i not in spans:  # VADER negated this word
                if low[i] in _COMPARATIVES and _comparative_scope(low, values, spans, i, lexicon[low[i]]):
                    compared.append(i)
                # either way the negation and the word it scopes over are read here, so
                # neither speaks for itself to the learned layer ("couldn't be better")
                analysis.unlearned.append(i)
                for j in range(max(0, i - 4), i):
                    if low[j] in _SCOPE_NEGATIONS or low[j].endswith("n't"):
                        analysis.unlearned.append(j)
        self._unexplained_negations(tokens, values, spans)

        asked = question_kind(text, tokens)
        analysis.question = asked is not None
        stars = as_stars(rating) if rating is not None else stars_in_text(text)
        if stars is not None:
            values.append(RATING_VALENCE[stars])
            spans[len(values) - 1] = (len(values), "rating")
        # the items with a valence: the care logic, the "but" rule, the features and the
        # reasons only ever change or read these (they never make a zero item non-zero)
        nonzero = [k for k, v in enumerate(values) if v]
        if not decide:
            self._care_logic(tokens, values, spans, analysis, asked, stars, nonzero)
            analysis.sentiment = Sentiment("neutral", 0.0, [])
            return analysis
        model = self.model
        if model is not None:  # the model also reads the evidence before the care logic
            pre = values.copy()
            kinds = spans.copy()  # the care logic relabels some spans (sarcasm)
            for i in compared:
                # the model reads a resolved comparison as the praise / failure cue it is
                # ("couldn't be better"), not as a plain VADER word whose weight the
                # learned words may outvote; only the features see this kind
                kinds[i] = (i + 1, "comparison")
        self._care_logic(tokens, values, spans, analysis, asked, stars, nonzero)

        if "but" in tokens:  # VADER's contrast rule, without its repeated-value bug
            pivot = tokens.index("but")
            n = len(tokens)
            for k in nonzero:
                if k < n and values[k]:
                    values[k] *= 0.5 if k < pivot else 1.5 if k > pivot else 1.0

        compound = _compound(values, text)
        if model is None:
            label = "positive" if compound >= POSITIVE_AT else "negative" if compound <= NEGATIVE_AT else "neutral"
            analysis.sentiment = Sentiment(label, compound, self._reasons(label, tokens, values, spans, stars))
            return analysis
        item_slot: dict[int, int] = {}
        x = extract(
            text,
            words,
            tokens,
            cap_diff,
            pre,
            values,
            kinds,
            compound,
            analysis.complaint <= OPEN_COMPLAINT,
            analysis.resolved,
            asked,
            stars,
            bool(analysis.help),
            bool(analysis.urgent),
            item_slot,
            nonzero,
            numerals,
            len(compared),
        )
        analysis.features = x
        # entities and negated cues are no learned words either: a blank breaks the grams there;
        # a post with a rules.yaml lexicon entry has none (the operator's reading decides:
        # "outage: 0" makes "There was an outage this morning" neutral, not "this morning")
        gram_tokens = tokens
        if analysis.overridden:
            gram_tokens = []
        elif entities or analysis.unlearned:
            gram_tokens = tokens.copy()
            for i in entities:
                gram_tokens[i] = ""
            for i in analysis.unlearned:
                gram_tokens[i] = ""
        if self.keep_grams:
            analysis.grams = grams(gram_tokens)
        decision = model.decide(x, gram_tokens)
        label = decision.label
        reasons = explain(decision, tokens, values, spans, item_slot, stars, nonzero)
        if not reasons and label != "neutral":
            reasons = self._reasons(label, tokens, values, spans, stars)
        p = decision.probabilities()
        probabilities = {c: round(v, 4) for c, v in p.items()}
        analysis.sentiment = Sentiment(label, agreeing_compound(label, compound, p), reasons, probabilities)
        return analysis

    # -- steps -----------------------------------------------------------------------
    def _prepare(self, text: str) -> str:
        """Emoji become separate tokens and apostrophes are straightened; ASCII skips it."""
        if text.isascii():
            return text.strip()
        return text.translate(self._prep_table).strip()

    def _apply_cues(
        self,
        words: list[str],
        tokens: list[str],
        values: list[float],
        spans: dict[int, tuple[int, str]],
        analysis: TextAnalysis,
        cap_diff: bool,
        starts: list[int] | None = None,
    ) -> None:
        previous_end = 0
        negators = NEGATORS
        for start, end, cue in self.matcher.find(tokens, starts):
            kind = cue.kind
            if end - start == 1:
                values[start] = 0.0
            else:
                values[start:end] = [0.0] * (end - start)
            if kind == "help" or kind == "urgent":
                # requests, not praise: VADER's +valence for "help"/"please" would make a
                # plea for help read as positive
                (analysis.help if kind == "help" else analysis.urgent).append(" ".join(tokens[start:end]))
                continue
            valence = cue.valence
            negator = -1
            if kind == "neutral":
                # a phrase that says a word is no complaint ("nothing damaged", "by
                # mistake"): its words do not speak for themselves to the learned layer
                analysis.unlearned.extend(range(start, end))
            elif kind == "lexicon":
                analysis.overridden = True  # a rules.yaml phrase: no learned word counts
            if kind == "emoji" or kind == "emoticon":
                negated = False
            else:
                # `_negated`, inlined: it runs for almost every cue
                negated = False
                for j in range(start - 1, max(previous_end - 1, start - 5), -1):
                    if words[j].endswith(_CLAUSE_END):
                        break
                    token = tokens[j]
                    if token in negators or token.endswith("n't"):
                        negated = True
                        negator = j  # (not the loop variable after the loop: mypyc differs)
                        break
                if not negated and kind == "resolution":
                    negated = any(t in DOUBTERS for t in tokens[max(0, start - 3) : start])
                if end - start > 1 or tokens[start] not in negators:
                    previous_end = end  # a bare "nothing"/"never" still negates what follows
            if negated:
                valence *= NEGATED_COMPLAINT if cue.complaint else NEGATED_OTHER
                kind = "negated " + kind
                if negator >= 0:
                    analysis.unlearned.append(negator)
                analysis.unlearned.extend(range(start, end))
            elif valence:
                if start:
                    boost = BOOSTERS.get(tokens[start - 1])
                    if boost:
                        valence *= 1.0 + boost
                if cap_diff:
                    word = words[start]
                    if len(word) > 2 and word.isupper():
                        valence += CAPS_BOOST if valence > 0 else -CAPS_BOOST
            values[start] = valence
            spans[start] = (end, kind)

    @staticmethod
    def _negated(words: list[str], tokens: list[str], start: int, floor: int) -> bool:
        """A negator up to 4 tokens before `start`, within the same clause and not inside
        the previous cue ("no signal since Monday": the "no" belongs to "no signal").
        (Inlined in `_apply_cues`; kept for callers and tests.)"""
        for j in range(start - 1, max(floor - 1, start - 5), -1):
            if words[j].endswith(_CLAUSE_END):
                return False
            if tokens[j] in NEGATORS or tokens[j].endswith("n't"):
                return True
        return False

    def _unexplained_negations(self, tokens: list[str], values: list[float], spans: dict[int, tuple[int, str]]) -> None:
        """A "hasn't/didn't/can't + verb" that nothing else scored is weak failure evidence."""
        if _NEGATION_AUX.isdisjoint(tokens):  # most texts: one C-level scan
            return
        lexicon = self.lexicon
        n = len(tokens)
        for i, token in enumerate(tokens):
            if token not in _NEGATION_AUX or values[i] or i in spans:
                continue
            if any(s <= i < e for s, (e, _k) in spans.items()):
                continue
            following = tokens[i + 1 : i + 3]
            if not following or following[0] in _HARMLESS_AFTER_NEGATION:
                continue
            if not _COMPARATIVES.isdisjoint(tokens[i + 1 : i + 4]):
                continue  # "never had a worse ...": `_comparative_scope` reads it
            if any(lexicon.get(t) for t in following) or any((i + 1 + k) in spans for k in range(len(following))):
                continue  # VADER or a cue already reads the negated word
            if i + 1 < n:
                values[i] = UNEXPLAINED_NEGATION
                spans[i] = (min(n, i + 2), "failure")

    @staticmethod
    def _care_logic(
        tokens: list[str],
        values: list[float],
        spans: dict[int, tuple[int, str]],
        analysis: TextAnalysis,
        asked: str | None,
        stars: int | None,
        nonzero: list[int] | None = None,
    ) -> None:
        """Re-weigh the items by what a care team must act on (see module docstring).

        `nonzero`: the indices of the items with a valence, ascending (all of them when
        None); only these are re-weighed, since re-weighing never revives a zero."""
        complaint = 0.0
        resolved = False
        news = False
        for k, (_end, kind) in spans.items():
            value = values[k]
            if kind in COMPLAINT_KINDS and value < 0:
                complaint += value
            elif kind == "resolution" and value > 0:
                resolved = True
            elif kind == "news":
                news = True
        analysis.resolved = resolved
        n = len(tokens)
        if nonzero is None:
            nonzero = [k for k, v in enumerate(values) if v]
        if resolved:
            for k, (_end, kind) in spans.items():
                if kind in COMPLAINT_KINDS and kind != "sarcasm" and values[k] < 0:
                    values[k] *= FIXED_COMPLAINT
            for k in nonzero:
                if k < n and values[k] < 0 and k not in spans:
                    values[k] *= 0.5
        elif complaint <= OPEN_COMPLAINT:
            analysis.complaint = complaint
            for k in nonzero:
                value = values[k]
                if value <= 0:
                    continue
                item_kind = spans[k][1] if k in spans else None
                if k >= n:  # the rating: only a 5-star review on a strong complaint is sarcasm
                    if stars == 5 and complaint <= 2 * OPEN_COMPLAINT:
                        values[k] = value * SARCASM_FLIP
                        spans[k] = (k + 1, "sarcasm")
                    continue
                if item_kind == "polite" or tokens[k] in SARCASM_PRONE:
                    values[k] = value * SARCASM_FLIP
                    spans[k] = (spans[k][0] if k in spans else k + 1, "sarcasm")
                elif item_kind != "resolution":
                    values[k] = value * OUTWEIGHED_PRAISE
        else:
            analysis.complaint = min(0.0, complaint)
        if stars == 3:  # lukewarm: only a concrete failure makes a 3-star review negative
            for k in nonzero:
                if k < n and values[k] > 0:
                    values[k] = 0.0
        if asked == "info" or (news and complaint > 2 * OPEN_COMPLAINT):
            # complaint words in an information question are its topic ("what's the
            # compensation for a delayed flight?"), unless the asker piles them up
            strong = complaint <= 2 * OPEN_COMPLAINT and asked == "info"
            for k in nonzero:
                item_kind = spans[k][1] if k in spans else None
                if item_kind in COMPLAINT_KINDS and not strong:
                    values[k] = 0.0
                else:
                    values[k] *= INFO_QUESTION

    @staticmethod
    def _reasons(
        label: str,
        tokens: list[str],
        values: list[float],
        spans: dict[int, tuple[int, str]],
        stars: int | None,
    ) -> list[str]:
        """The items that pushed the score towards its label, strongest first."""
        if label == "neutral":
            return []
        sign = 1.0 if label == "positive" else -1.0
        items = sorted((k for k, v in enumerate(values) if v * sign > 0), key=lambda k: -abs(values[k]))[:6]
        return [item_reason(k, tokens, values, spans, stars) for k in items]
