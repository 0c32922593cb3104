"""The features the learned decision layer (`model`) reads, from one `SentimentEngine` pass.

Every feature is something the engine already computes, so extraction costs a loop over
the matched cues and one over the tokens. Values are scaled to about -1..1 so that one
L2 penalty suits them all; sums of valences are squashed with `x / (|x| + 2)` so one
extreme post cannot dominate. A feature vector is sparse: a list of `(index, value)`
pairs for the non-zero features, in index order (deterministic for a given text).

Groups (names in `FEATURES`):
- the care-adjusted VADER compound and its positive / negative parts (after the care
  logic of `sentiment`: sarcasm flips, fixed complaints, information questions);
- cue valence summed per family *before* the care logic (`cue_failure`, `cue_waiting`,
  `cue_money`, `cue_leaving`, `cue_escalation`, `cue_safety`, `cue_sarcasm`,
  `cue_resolution`, `cue_praise`, `cue_polite`, `cue_news`, `cue_emoji`). rules.yaml
  `lexicon` phrases count as failure (valence < 0) or praise (> 0), and so does a
  comparison the negation-scope rule resolved ("couldn't be better", "never had a worse":
  span kind "comparison"; as a plain VADER word the learned words outvoted it); rules.yaml
  single words go into VADER's lexicon and so into `vader_pos` / `vader_neg` and the compound;
- plain VADER words (positive and negative sums). Negated cues ("wasn't delayed") count
  only through the compound and its parts: as separate features they had too few dev
  examples to learn a sign;
- the care logic's flags (open complaint, resolved), the question kind;
- the star rating (one-hot) and, for a 3-star review, its text's negative part again
  (most 3-star reviews are lukewarm and neutral; one that names a failure is negative, so
  the model needs to weigh the text more when the stars sit on the fence), punctuation, caps, @handle, #hashtag, length *beyond*
  `SHORT` tokens only (`log1p(n) - log1p(SHORT)`, scaled; 0 for shorter posts). Length is
  weak, easily confounded evidence: read from the first token, training learned "short
  post -> neutral" and labelled "terrible", "awful service" or "great" neutral. A short
  post is now judged only by what it says;
- generic complaint markers that do not depend on a phrase list (distinct words, capped):
  negations (those not already spent on turning a cue around, as in "wasn't delayed", or on a
  comparison, as in "never had a better experience"), numbers,
  durations and days, first and second person, "still/again/yet/since", help and
  urgency requests.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence

from listener.scoring.matcher import _CLASS_OF_WORD, token_class

FAMILIES = (
    "failure",
    "waiting",
    "money",
    "leaving",
    "escalation",
    "safety",
    "sarcasm",
    "resolution",
    "praise",
    "polite",
    "news",
    "emoji",
)

FEATURES: tuple[str, ...] = (
    "compound",
    "pos_after",
    "neg_after",
    *[f"cue_{f}" for f in FAMILIES],
    "vader_pos",
    "vader_neg",
    "open_complaint",
    "resolved",
    "q_info",
    "q_complaint",
    "stars_1",
    "stars_2",
    "stars_3",
    "stars_4",
    "stars_5",
    "stars_3_complaint",
    "exclaim",
    "qmarks",
    "caps",
    "handle",
    "hashtag",
    "length",
    "negations",
    "but",
    "number",
    "time_expr",
    "first_person",
    "second_person",
    "persistence",
    "help",
    "urgent",
)
INDEX: dict[str, int] = {name: i for i, name in enumerate(FEATURES)}

# the feature a span kind (from `sentiment`) counts towards
_SLOT_OF_KIND: dict[str, int] = {f: INDEX[f"cue_{f}"] for f in FAMILIES}
_SLOT_OF_KIND["emoticon"] = INDEX["cue_emoji"]
_FAMILY_SLOTS = tuple(INDEX[f"cue_{f}"] for f in FAMILIES)
_I_FAILURE = INDEX["cue_failure"]
_I_PRAISE = INDEX["cue_praise"]

_NEGATIONS = frozenset(
    "not no never nothing nobody none without cannot isn't isnt wasn't wasnt aren't arent weren't "
    "werent didn't didnt doesn't doesnt don't dont hasn't hasnt haven't havent won't wont can't "
    "cant couldn't couldnt shouldn't wouldn't mustn't ain't".split()
)
_FIRST = frozenset("i my me we our us i'm im i've ive i'd mine myself".split())
_SECOND = frozenset("you your you're youre u ur yours".split())
_PERSIST = frozenset("still again yet since already anymore repeatedly".split())
_TIME_CLASSES = frozenset({"<dur>", "<day>", "<time>", "<ord>"})

_TIME_WORDS = frozenset(w for w, c in _CLASS_OF_WORD.items() if c != "<num>")  # monday, third
_NUMBER_WORDS = frozenset(w for w, c in _CLASS_OF_WORD.items() if c == "<num>")  # three, several
_HAS_DIGIT = re.compile(r"\d").search
_DIGITS = frozenset("0123456789")

_I_COMPOUND = INDEX["compound"]
_I_POS = INDEX["pos_after"]
_I_NEG = INDEX["neg_after"]
_I_VPOS = INDEX["vader_pos"]
_I_VNEG = INDEX["vader_neg"]
_I_STARS = INDEX["stars_1"] - 1
_I_OPEN = INDEX["open_complaint"]
_I_RESOLVED = INDEX["resolved"]
_I_Q_INFO = INDEX["q_info"]
_I_Q_COMPLAINT = INDEX["q_complaint"]
_I_STARS_3_COMPLAINT = INDEX["stars_3_complaint"]
_I_EXCLAIM = INDEX["exclaim"]
_I_QMARKS = INDEX["qmarks"]
_I_CAPS = INDEX["caps"]
_I_HANDLE = INDEX["handle"]
_I_HASHTAG = INDEX["hashtag"]
_I_LENGTH = INDEX["length"]
_I_NEGATIONS = INDEX["negations"]
_I_BUT = INDEX["but"]
_I_NUMBER = INDEX["number"]
_I_TIME = INDEX["time_expr"]
_I_FIRST = INDEX["first_person"]
_I_SECOND = INDEX["second_person"]
_I_PERSIST = INDEX["persistence"]
_I_HELP = INDEX["help"]
_I_URGENT = INDEX["urgent"]
# `extract` appends features in this order, which must be index order
assert (
    _I_COMPOUND < _I_POS < _I_NEG < min(_FAMILY_SLOTS)
    and max(_FAMILY_SLOTS) < _I_VPOS < _I_VNEG < _I_OPEN < _I_RESOLVED < _I_Q_INFO < _I_Q_COMPLAINT
    and _I_Q_COMPLAINT < _I_STARS + 1 < _I_STARS + 5 < _I_STARS_3_COMPLAINT < _I_EXCLAIM < _I_QMARKS < _I_CAPS < _I_HANDLE
    and _I_HANDLE < _I_HASHTAG < _I_LENGTH < _I_NEGATIONS < _I_BUT < _I_NUMBER < _I_TIME < _I_FIRST
    and _I_FIRST < _I_SECOND < _I_PERSIST < _I_HELP < _I_URGENT
)
SHORT = 15  # posts of at most this many tokens (a short sentence) carry no length evidence
_LONG_BASE = math.log1p(SHORT)
_LONG = [max(0.0, math.log1p(n) - _LONG_BASE) / 4.0 for n in range(200)]
_THIRDS = [n / 3.0 for n in range(4)]  # min(3, count) / 3.0, precomputed
_HALVES = [n / 2.0 for n in range(3)]


def squash(x: float) -> float:
    return x / (abs(x) + 2.0)


def extract(
    text: str,
    words: Sequence[str],
    tokens: Sequence[str],
    cap_diff: bool,
    pre: Sequence[float],
    values: Sequence[float],
    spans_before: Mapping[int, tuple[int, str]],
    compound: float,
    complaint_open: bool,
    resolved: bool,
    asked: str | None,
    stars: int | None,
    help_request: bool,
    urgent: bool,
    item_slot: dict[int, int] | None = None,
    nonzero: Sequence[int] | None = None,
    numerals: Iterable[str] | None = None,
    compared: int = 0,
) -> list[tuple[int, float]]:
    """The sparse feature vector of one analysed text.

    `words` are VADER's tokens (case kept), `tokens` the matcher's (lowered), `cap_diff`
    VADER's "some but not all words in capitals". `pre` are the item valences before the
    care logic, `values` after it (both with a trailing rating item when there is one);
    `spans_before` the cue spans (end, kind) before the care logic relabelled any as sarcasm.
    `item_slot`, when given, receives item index -> the feature it fed (for reasons).
    `nonzero`, when given, lists (ascending) every index where `pre` is non-zero; `values`
    must be zero wherever `pre` is (as after the care logic, which never revives a zero).
    `numerals`, when given, are the tokens that start with a digit (repeats allowed).
    `compared`: how many negations the comparison rule spent ("never had a better
    experience", `sentiment._comparative_scope`): like a negated cue's, they are read
    through the compound and are no `negations` evidence of a complaint.
    """
    if nonzero is None:
        nonzero = [k for k, v in enumerate(pre) if v]
    # built in feature-index order, so no dict and no sort are needed
    x: list[tuple[int, float]] = []
    if compound:
        x.append((_I_COMPOUND, compound))
    positive: list[float] = []
    negative: list[float] = []
    for k in nonzero:
        v = values[k]
        if v > 0:
            positive.append(v)
        elif v < 0:
            negative.append(v)
    if positive:
        pos = sum(positive)
        if pos:
            x.append((_I_POS, pos / (pos + 2.0)))
    if negative:
        neg = sum(negative)
        if neg:
            x.append((_I_NEG, neg / (2.0 - neg)))
    n = len(tokens)
    vpos = vneg = 0.0
    negated_cues = 0
    slots = item_slot if item_slot is not None else {}
    get_span = spans_before.get
    families: dict[int, float] = {}  # cue family slot -> summed valence
    for k in nonzero:
        if k >= n:
            continue
        v = pre[k]
        span = get_span(k)
        if span is None:
            if v > 0:
                vpos += v
                slots[k] = _I_VPOS
            else:
                vneg += v
                slots[k] = _I_VNEG
            continue
        kind = span[1]
        if kind == "lexicon" or kind == "comparison":  # rules.yaml phrase; "couldn't be better"
            slot = _I_FAILURE if v < 0 else _I_PRAISE
        else:
            slot = _SLOT_OF_KIND.get(kind, -1)
            if slot < 0:
                if kind.startswith("negated "):
                    negated_cues += 1  # counts through the compound and its parts only
                continue
        slots[k] = slot
        if slot in families:
            families[slot] += v
        else:
            families[slot] = v
    if families:
        for slot in sorted(families) if len(families) > 1 else families:
            family = families[slot]
            if family:
                x.append((slot, family / (abs(family) + 2.0)))
    if vpos:
        x.append((_I_VPOS, vpos / (abs(vpos) + 2.0)))  # squash
    if vneg:
        x.append((_I_VNEG, vneg / (abs(vneg) + 2.0)))
    if complaint_open:
        x.append((_I_OPEN, 1.0))
    if resolved:
        x.append((_I_RESOLVED, 1.0))
    if asked is not None:
        x.append((_I_Q_INFO if asked == "info" else _I_Q_COMPLAINT, 1.0))
    if stars is not None:
        x.append((_I_STARS + stars, 1.0))
        if stars == 3 and negative:  # a middling review: how hard its text complains
            neg = sum(negative)
            x.append((_I_STARS_3_COMPLAINT, neg / (2.0 - neg)))
    if "!" in text:
        x.append((_I_EXCLAIM, _THIRDS[min(3, text.count("!"))]))
    if "?" in text:
        x.append((_I_QMARKS, _THIRDS[min(3, text.count("?"))]))
    if cap_diff:
        caps = 0
        for word in words:
            if len(word) > 2 and word.isupper() and word.isalpha():
                caps += 1
        if caps:
            x.append((_I_CAPS, _THIRDS[min(3, caps)]))
    if "@" in text:
        x.append((_I_HANDLE, 1.0))
    if "#" in text:
        x.append((_I_HASHTAG, 1.0))
    if n > SHORT:
        x.append((_I_LENGTH, _LONG[n] if n < 200 else (math.log1p(n) - _LONG_BASE) / 4.0))
    # distinct words of each group (set intersections run in C); digits only when present
    present = set(tokens)
    # a negation that turned a cue around, or made a comparison ("never had a better"), is already read
    negs = len(present & _NEGATIONS) - negated_cues - compared
    if negs > 0:
        x.append((_I_NEGATIONS, _THIRDS[min(3, negs)]))
    if "but" in present:
        x.append((_I_BUT, 1.0))
    time_expr = not present.isdisjoint(_TIME_WORDS)
    number = not present.isdisjoint(_NUMBER_WORDS)
    if numerals is None:
        numerals = [tok for tok in present if tok[0] in _DIGITS] if _HAS_DIGIT(text) is not None else ()
    for tok in numerals:
        cls = token_class(tok)
        if cls is not None:
            if cls in _TIME_CLASSES:
                time_expr = True
            else:
                number = True
    if number:
        x.append((_I_NUMBER, 1.0))
    if time_expr:
        x.append((_I_TIME, 1.0))
    if not present.isdisjoint(_FIRST):
        x.append((_I_FIRST, _THIRDS[min(3, len(present & _FIRST))]))
    if not present.isdisjoint(_SECOND):
        x.append((_I_SECOND, _THIRDS[min(3, len(present & _SECOND))]))
    if not present.isdisjoint(_PERSIST):
        x.append((_I_PERSIST, _HALVES[min(2, len(present & _PERSIST))]))
    if help_request:
        x.append((_I_HELP, 1.0))
    if urgent:
        x.append((_I_URGENT, 1.0))
    return x


# -- learned words ----------------------------------------------------------------------
# The dense features above say *what kind* of evidence a post holds; these say *which
# words* it uses, so the model can learn the plain wording of complaints that no cue list
# names ("nobody turned up", "left on read", "third email"). Words and adjacent word pairs
# of the matcher's tokens. Anything with a digit is left out, and so is every pair it
# would start or end: numbers, durations and times are read by the dense `number` and
# `time_expr` features, and as learned words "<num>" and "at <num>" turned "opens at 9"
# into a complaint. No reference number or amount is ever learned. Which grams carry weight is decided by `train.py` (grams used
# for at least `MIN_BRANDS` different brands, so brand names and handles never qualify).
def gram_sequence(tokens: Sequence[str]) -> Sequence[str]:
    """The tokens a gram may use: a token with a digit becomes "" (it and the pairs it
    would form are left out). Most posts need no per-token test: one C-level scan says so."""
    if _HAS_DIGIT(" ".join(tokens)) is None:
        return tokens
    return [t if t.isalpha() or _HAS_DIGIT(t) is None else "" for t in tokens]


def gram_parts(seq: Sequence[str]) -> tuple[set[str], set[tuple[str, str]]]:
    """The distinct words and adjacent word pairs of a `gram_sequence`."""
    words = set(seq)
    pairs = set(itertools.pairwise(seq))
    if "" in words:
        words.discard("")
        pairs = {p for p in pairs if p[0] and p[1]}
    return words, pairs


def grams(tokens: Sequence[str]) -> list[str]:
    """The distinct words and adjacent word pairs of a tokenised post (none with a digit),
    as names ("word", "word word"), sorted: what `train.py` learns weights for."""
    words, pairs = gram_parts(gram_sequence(tokens))
    return sorted([*words, *[f"{a} {b}" for a, b in pairs]])
