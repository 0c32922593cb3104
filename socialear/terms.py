"""Terms of a post: the words and two-word phrases the distinctive-terms method counts.

Why in the shared base: the terms of each stored negative post are computed once, at
ingest (storage.rollups keeps them in `mention_terms`, in the transaction that stores the
post), and the report engine (reports/) tokenises spike samples with the same function.
A change here changes what is stored: it needs a migration that rebuilds `mention_terms`
(`storage.rollups.rebuild(conn, only=("mention_terms",))`), or the stored terms and the
report's own would disagree.
"""

from __future__ import annotations

import re
import unicodedata

MAX_TERMS_PER_MENTION = 40
TERM_MAX_LEN = 64

_URL = re.compile(r"https?://\S+|www\.\S+")
_HANDLE = re.compile(r"[@#]\w+")  # handles are people/brands, not complaints; hashtags too
_WORD = re.compile(r"[^\W\d_][\w'’-]*[^\W_]|[^\W\d_]", re.UNICODE)
# the same on ASCII text, where `\w`, `\W` and `\d` mean what they mean with re.ASCII: a
# table look-up per character instead of a Unicode database query (a third faster)
_ASCII_WORD = re.compile(_WORD.pattern, re.ASCII)
# Words that carry no complaint on their own. The log-odds weighting already discounts
# frequent words; dropping these keeps bigrams such as "the app" out of the counts.
STOP_WORDS = frozenset(
    """a an the and or but if then so of to in on at by for with from as is are was were be
    been being am it its it's this that these those there here i me my we our you your he
    she they them their his her him us not no do does did done have has had having will
    would can could should may might just also than too very about into over after before
    up down out off again once all any some more most other such only own same what which
    who whom when where why how rt amp via im i'm you're don't can't won't""".split()
)


def _fold(text: str) -> str:
    if not unicodedata.is_normalized("NFKC", text):  # the check is much cheaper than normalising
        text = unicodedata.normalize("NFKC", text)
    return text.casefold().replace("’", "'")


def mention_terms(text: str) -> set[str]:
    """The words (2+ letters, not stop words) and two-word phrases of a post.

    A set: a term counts once per mention (document frequency), so one ranting post
    cannot make a word "distinctive". Phrases join adjacent words when neither is a stop
    word ("no signal" is kept through the "no" exception below, "the app" is not).
    Capped at MAX_TERMS_PER_MENTION, so one long post costs no more than a short one.
    """
    if not text:
        return set()
    clean = _fold(text)
    if "http" in clean or "www." in clean:  # neither pattern can match otherwise: skip the scans
        clean = _URL.sub(" ", clean)
    if "@" in clean or "#" in clean:
        clean = _HANDLE.sub(" ", clean)
    out: list[str] = []
    prev: str | None = None  # the word a phrase may start from: a kept word or a negator
    for w in (_ASCII_WORD if clean.isascii() else _WORD).findall(clean):
        w = w.strip("'-")
        if len(w) > _MAX_WORD:
            prev = None
        elif len(w) >= 2 and w not in STOP_WORDS:
            out.append(w)
            if prev is not None:
                out.append(f"{prev} {w}")
            prev = w
        else:  # "no signal", "not working": a negator starts a phrase; other stop words break one
            prev = w if w in _NEGATORS else None
    if len(out) <= MAX_TERMS_PER_MENTION:
        return set(out)
    return set(list(dict.fromkeys(out))[:MAX_TERMS_PER_MENTION])  # the first distinct ones


_MAX_WORD = TERM_MAX_LEN // 2 - 1  # a longer "word" is noise (a hash, a run of letters)
_NEGATORS = frozenset({"no", "not", "never", "cannot", "can't", "won't", "don't"})


def stored_terms(text: str) -> str:
    """`mention_terms(text)` as stored in `mention_terms.terms`: sorted, tab-separated (a
    term never holds a tab: words are letters, digits, apostrophes and hyphens, a phrase
    two words and a space). '' when there is none."""
    return "\t".join(sorted(mention_terms(text)))


__all__ = ["STOP_WORDS", "mention_terms", "stored_terms"]
