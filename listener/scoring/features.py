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
  `lexicon` phrases count as failure (valence < 0) or praise (> 0); rules.yaml single
  words go into VADER's lexicon and so into `vader_pos` / `vader_neg` and the compound;
- plain VADER words (positive and negative sums). Negated cues ("wasn't delayed") count
  only through the compound and its parts: as separate features they had too few dev
  examples to learn a sign;
- the care logic's flags (open complaint, resolved), the question kind;
- the star rating (one-hot), punctuation, caps, @handle, #hashtag, length;
- generic complaint markers that do not depend on a phrase list (distinct words, capped):
  negations (those not already spent on turning a cue around, as in "wasn't delayed"), numbers,
  durations and days, first and second person, "still/again/yet/since", help and
  urgency requests.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

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
    *(f"cue_{f}" for f in FAMILIES),
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
_LOG_LENGTH = [math.log1p(n) / 4.0 for n in range(200)]


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
) -> list[tuple[int, float]]:
    """The sparse feature vector of one analysed text.

    `words` are VADER's tokens (case kept), `tokens` the matcher's (lowered), `cap_diff`
    VADER's "some but not all words in capitals". `pre` are the item valences before the
    care logic, `values` after it (both with a trailing rating item when there is one);
    `spans_before` the cue spans (end, kind) before the care logic relabelled any as sarcasm.
    `item_slot`, when given, receives item index -> the feature it fed (for reasons).
    """
    dense: dict[int, float] = {}
    if compound:
        dense[_I_COMPOUND] = compound
    pos = sum([v for v in values if v > 0])
    neg = sum([v for v in values if v < 0])
    if pos:
        dense[_I_POS] = pos / (pos + 2.0)
    if neg:
        dense[_I_NEG] = neg / (2.0 - neg)
    n = len(tokens)
    vpos = vneg = 0.0
    negated_cues = 0
    slots = item_slot if item_slot is not None else {}
    get_span = spans_before.get
    for k, v in enumerate(pre):
        if not v or k >= n:
            continue
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
        if kind == "lexicon":
            slot = _I_FAILURE if v < 0 else _I_PRAISE
        else:
            slot = _SLOT_OF_KIND.get(kind, -1)
            if slot < 0:
                if kind.startswith("negated "):
                    negated_cues += 1  # counts through the compound and its parts only
                continue
        slots[k] = slot
        dense[slot] = dense.get(slot, 0.0) + v
    for slot in _FAMILY_SLOTS:
        family = dense.get(slot)
        if family is not None:
            if family:
                dense[slot] = family / (abs(family) + 2.0)
            else:
                del dense[slot]
    if vpos:
        dense[_I_VPOS] = squash(vpos)
    if vneg:
        dense[_I_VNEG] = squash(vneg)
    if complaint_open:
        dense[_I_OPEN] = 1.0
    if resolved:
        dense[_I_RESOLVED] = 1.0
    if asked is not None:
        dense[_I_Q_INFO if asked == "info" else _I_Q_COMPLAINT] = 1.0
    if stars is not None:
        dense[_I_STARS + stars] = 1.0
    bangs = text.count("!")
    if bangs:
        dense[_I_EXCLAIM] = min(3, bangs) / 3.0
    qmarks = text.count("?")
    if qmarks:
        dense[_I_QMARKS] = min(3, qmarks) / 3.0
    if "@" in text:
        dense[_I_HANDLE] = 1.0
    if "#" in text:
        dense[_I_HASHTAG] = 1.0
    dense[_I_LENGTH] = _LOG_LENGTH[n] if n < 200 else math.log1p(n) / 4.0
    # distinct words of each group (set intersections run in C); digits only when present
    present = set(tokens)
    negs = len(present & _NEGATIONS)
    first = len(present & _FIRST)
    second = len(present & _SECOND)
    persist = len(present & _PERSIST)
    time_expr = not present.isdisjoint(_TIME_WORDS)
    number = not present.isdisjoint(_NUMBER_WORDS)
    if _HAS_DIGIT(text) is not None:
        for tok in present:
            if tok[0] in _DIGITS:
                cls = token_class(tok)
                if cls is not None:
                    if cls in _TIME_CLASSES:
                        time_expr = True
                    else:
                        number = True
    if cap_diff:
        caps = 0
        for word in words:
            if len(word) > 2 and word.isupper() and word.isalpha():
                caps += 1
        if caps:
            dense[_I_CAPS] = min(3, caps) / 3.0
    negs -= negated_cues  # a negation that turned a cue around is already read
    if negs > 0:
        dense[_I_NEGATIONS] = min(3, negs) / 3.0
    if first:
        dense[_I_FIRST] = min(3, first) / 3.0
    if second:
        dense[_I_SECOND] = min(3, second) / 3.0
    if persist:
        dense[_I_PERSIST] = min(2, persist) / 2.0
    if number:
        dense[_I_NUMBER] = 1.0
    if time_expr:
        dense[_I_TIME] = 1.0
    if "but" in tokens:
        dense[_I_BUT] = 1.0
    if help_request:
        dense[_I_HELP] = 1.0
    if urgent:
        dense[_I_URGENT] = 1.0
    return sorted(dense.items())
