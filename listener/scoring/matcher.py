"""Token normalisation and a multi-word phrase matcher that costs O(tokens) per text.

Why not one big regex alternation: Python's `re` tries every branch at every position,
so a few hundred phrases would cost more than VADER itself. Instead phrases are indexed
by their first token; a text is scanned once over its (already split) tokens and only
the phrases starting with that token are compared. Placeholders let one entry cover a
family of phrases: `<num>` (3, three, several), `<dur>` (2h, 45mins, 3days), `<day>`
(monday, yesterday), `<ord>` (third, 4th), `<time>` (6pm, 07:40); `*` matches any single
token.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

# ASCII punctuation plus the typographic marks people paste from phones.
STRIP_CHARS = string.punctuation + "‘’“”…«»¿¡–—"
_STRIP = STRIP_CHARS

_NUMBER_WORDS = frozenset(
    "two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty "
    "fifty sixty several many multiple countless".split()
)
_DAY_WORDS = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday yesterday mon tue tues wed thu thurs fri sat sun".split()
)
_ORDINALS = frozenset(
    "second third fourth fifth sixth seventh eighth ninth tenth nth umpteenth "
    "2nd 3rd 4th 5th 6th 7th 8th 9th 10th 11th 12th".split()
)
_DURATION_UNITS = frozenset(
    "h hr hrs hour hours m min mins minute minutes d day days wk wks week weeks mo months".split()
)
_CLASS_OF_WORD: dict[str, str] = {
    **{w: "<num>" for w in _NUMBER_WORDS},
    **{w: "<day>" for w in _DAY_WORDS},
    **{w: "<ord>" for w in _ORDINALS},
}
PLACEHOLDERS = frozenset({"<num>", "<dur>", "<day>", "<ord>", "<time>"})


def normalise_token(word: str) -> str:
    """Lower-case, straighten apostrophes, strip surrounding punctuation.

    A token that is nothing but punctuation (an emoticon such as `:(`) is kept whole so
    emoticon entries can match it.
    """
    low = word.lower()
    if "’" in low:
        low = low.replace("’", "'")
    return strip_token(low)


def strip_token(low: str) -> str:
    """`normalise_token` for a word that is already lower-case with straight apostrophes."""
    return low.strip(_STRIP) or low


def token_class(token: str) -> str | None:
    """The placeholder a token satisfies, if any (`<num>`, `<dur>`, `<day>`, `<ord>`)."""
    cls = _CLASS_OF_WORD.get(token)
    if cls is not None:
        return cls
    if token[:1].isdigit():
        if token.isdigit():
            return "<num>"
        i = 1
        while i < len(token) and (token[i].isdigit() or token[i] in ".,"):
            i += 1
        if token[i:] in _DURATION_UNITS:
            return "<dur>"
        if token[i:] in ("am", "pm") or (token[i : i + 1] == ":" and token[i + 1 :].isdigit()):
            return "<time>"
    return None


def phrase_tokens(phrase: str) -> tuple[str, ...]:
    """Tokenise a lexicon/category phrase exactly as text is tokenised."""
    out = []
    for word in phrase.split():
        out.append(word if word in PLACEHOLDERS or word == "*" else normalise_token(word))
    return tuple(out)


class PhraseMatcher(Generic[T]):
    """Finds phrases in a token list; each phrase carries a value of type T.

    A phrase starting with a placeholder is indexed under every word of its class
    ("<num> hours" under "two", "three"...) and, for digits, under the class itself, so
    a scan costs one dict lookup per token; placeholders later in a phrase are checked
    only when an earlier token already matched.
    """

    __slots__ = ("_index", "_digit_index")

    def __init__(self) -> None:
        self._index: dict[str, list[tuple[tuple[str, ...], T]]] = {}
        self._digit_index: dict[str, list[tuple[tuple[str, ...], T]]] = {}

    def add(self, phrase: str, value: T) -> None:
        toks = phrase_tokens(phrase)
        if not toks:
            return
        first = toks[0]
        if first in PLACEHOLDERS:
            keys = [w for w, cls in _CLASS_OF_WORD.items() if cls == first]
            buckets = [self._index.setdefault(w, []) for w in keys]
            buckets.append(self._digit_index.setdefault(first, []))
        else:
            buckets = [self._index.setdefault(first, [])]
        for bucket in buckets:
            bucket.append((toks, value))
            bucket.sort(key=lambda item: -len(item[0]))  # longest first

    def add_all(self, items: Iterable[tuple[str, T]]) -> None:
        for phrase, value in items:
            self.add(phrase, value)

    def _bucket(self, token: str) -> list[tuple[tuple[str, ...], T]] | None:
        """Candidates for a token: its literal bucket, plus its class's if it is a number."""
        bucket = self._index.get(token)
        if self._digit_index and token[:1].isdigit():
            cls = token_class(token)
            extra = self._digit_index.get(cls) if cls is not None else None
            if extra:
                if bucket is None:
                    return extra
                return sorted(bucket + extra, key=lambda item: -len(item[0]))
        return bucket

    @staticmethod
    def _first(
        bucket: list[tuple[tuple[str, ...], T]],
        tokens: Sequence[str],
        i: int,
        every: list[tuple[int, T]] | None = None,
    ) -> tuple[int, T] | None:
        """Longest phrase of `bucket` matching at i as (end, value); with `every`, collect all."""
        n = len(tokens)
        for toks, value in bucket:
            end = i + len(toks)
            if end > n:
                continue
            k = 1
            while k < len(toks):
                want = toks[k]
                tok = tokens[i + k]
                if want != tok and want != "*" and (want not in PLACEHOLDERS or token_class(tok) != want):
                    break
                k += 1
            else:
                if every is None:
                    return end, value
                every.append((end, value))
        return None

    def find(self, tokens: Sequence[str]) -> list[tuple[int, int, T]]:
        """Greedy left-to-right, longest match wins, no overlaps: (start, end, value)."""
        out: list[tuple[int, int, T]] = []
        i, n = 0, len(tokens)
        index = self._index
        digits = bool(self._digit_index)
        first = self._first
        while i < n:
            token = tokens[i]
            if digits and token[:1].isdigit():
                bucket = self._bucket(token)
            else:
                bucket = index.get(token)
            if bucket is not None:
                best = first(bucket, tokens, i)
                if best is not None:
                    out.append((i, best[0], best[1]))
                    i = best[0]
                    continue
            i += 1
        return out

    def find_all(self, tokens: Sequence[str]) -> list[tuple[int, int, T]]:
        """Every phrase that matches anywhere (overlaps allowed)."""
        index = self._index
        digits = bool(self._digit_index)
        starts = [i for i, t in enumerate(tokens) if t in index or (digits and t[:1].isdigit())]
        out: list[tuple[int, int, T]] = []
        found: list[tuple[int, T]] = []
        for i in starts:
            bucket = self._bucket(tokens[i])
            if bucket is not None:
                self._first(bucket, tokens, i, found)
                out.extend((i, end, value) for end, value in found)
                found.clear()
        return out
