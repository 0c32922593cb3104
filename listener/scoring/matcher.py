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

# (phrase tokens, value, length, tokens after the first, has a placeholder or "*")
_Entry = tuple[tuple[str, ...], T, int, list[str], bool]

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
    **dict.fromkeys(_NUMBER_WORDS, "<num>"),
    **dict.fromkeys(_DAY_WORDS, "<day>"),
    **dict.fromkeys(_ORDINALS, "<ord>"),
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

    A bucket entry is `(phrase tokens, value, length, the tokens after the first as a
    list, whether those contain a placeholder or "*")`: a literal phrase is then compared
    with one list-slice comparison (in C) instead of a Python loop over its tokens.
    """

    __slots__ = ("_by_next", "_digit_index", "_index")

    def __init__(self) -> None:
        self._index: dict[str, list[_Entry[T]]] = {}
        self._digit_index: dict[str, list[_Entry[T]]] = {}
        # first token -> (second token -> the bucket's entries that can match with that
        # second token, the entries that can match with any other one); built on first use
        self._by_next: dict[str, tuple[dict[str, list[_Entry[T]]], list[_Entry[T]]]] | None = None

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
        rest = list(toks[1:])
        wild = any(t == "*" or t in PLACEHOLDERS for t in rest)
        entry: _Entry[T] = (toks, value, len(toks), rest, wild)
        for bucket in buckets:
            bucket.append(entry)
            bucket.sort(key=_minus_length)  # longest first (stable: earlier phrases first)
        self._by_next = None

    def _build_by_next(self) -> dict[str, tuple[dict[str, list[_Entry[T]]], list[_Entry[T]]]]:
        """Split each literal bucket by the phrases' second token. A scan then tries only
        the entries whose second token is the text's next token, plus those that match
        any next token (one-token phrases, a placeholder or "*" second): the same
        entries that could match, in the same order, so the same first (longest) match."""
        by_next: dict[str, tuple[dict[str, list[_Entry[T]]], list[_Entry[T]]]] = {}
        digits = bool(self._digit_index)
        for first, bucket in self._index.items():
            if digits and first[:1].isdigit():
                continue  # left out: `find` looks numbers up with `_bucket`
            # per entry: its literal second token, or None when any next token may match
            seconds = [None if e[2] == 1 or e[3][0] == "*" or e[3][0] in PLACEHOLDERS else e[3][0] for e in bucket]
            anything = [e for e, second in zip(bucket, seconds, strict=True) if second is None]
            following = {
                nxt: [e for e, second in zip(bucket, seconds, strict=True) if second is None or second == nxt]
                for nxt in {second for second in seconds if second is not None}
            }
            by_next[first] = (following, anything)
        self._by_next = by_next
        return by_next

    def add_all(self, items: Iterable[tuple[str, T]]) -> None:
        for phrase, value in items:
            self.add(phrase, value)

    def _bucket(self, token: str) -> list[_Entry[T]] | None:
        """Candidates for a token: its literal bucket, plus its class's if it is a number."""
        bucket = self._index.get(token)
        if self._digit_index and token[:1].isdigit():
            cls = token_class(token)
            extra = self._digit_index.get(cls) if cls is not None else None
            if extra:
                if bucket is None:
                    return extra
                return sorted(bucket + extra, key=_minus_length)
        return bucket

    @staticmethod
    def _first(
        bucket: list[_Entry[T]],
        tokens: list[str],
        i: int,
        every: list[tuple[int, T]] | None = None,
    ) -> tuple[int, T] | None:
        """Longest phrase of `bucket` matching at i as (end, value); with `every`, collect all."""
        n = len(tokens)
        for _toks, value, size, rest, wild in bucket:
            end = i + size
            if end > n:
                continue
            if size == 1 or (tokens[i + 1 : end] == rest if not wild else _wild_match(rest, tokens, i + 1)):
                if every is None:
                    return end, value
                every.append((end, value))
        return None

    def may_start(self, token: str) -> bool:
        """Whether a phrase may start at this token (`find`'s `starts` are these tokens)."""
        return token in self._index or (bool(self._digit_index) and token[:1].isdigit())

    def find(self, tokens: Sequence[str], starts: Sequence[int] | None = None) -> list[tuple[int, int, T]]:
        """Greedy left-to-right, longest match wins, no overlaps: (start, end, value).

        `starts`: the indices of the tokens for which `may_start` holds, ascending, when
        the caller already knows them (the sentiment engine collects them as it tokenises)."""
        if not isinstance(tokens, list):
            tokens = list(tokens)
        index = self._index
        if starts is None:
            if self._digit_index:
                starts = [i for i, t in enumerate(tokens) if t in index or t[:1].isdigit()]
            else:
                starts = [i for i, t in enumerate(tokens) if t in index]
        out: list[tuple[int, int, T]] = []
        if not starts:
            return out
        by_next = self._by_next if self._by_next is not None else self._build_by_next()
        n = len(tokens)
        last = n - 1
        pos = 0
        for i in starts:
            if i < pos:
                continue  # inside the previous match
            token = tokens[i]
            split = by_next.get(token)
            if split is None:  # a number: its literal and class buckets (`_build_by_next`)
                bucket = self._bucket(token)
                if bucket is None:
                    continue
            else:
                following, anything = split
                bucket = following.get(tokens[i + 1], anything) if i < last else anything
            for _toks, value, size, rest, wild in bucket:
                end = i + size
                if end > n:
                    continue
                if size == 1 or (tokens[i + 1 : end] == rest if not wild else _wild_match(rest, tokens, i + 1)):
                    out.append((i, end, value))
                    pos = end
                    break
        return out

    def find_all(self, tokens: Sequence[str]) -> list[tuple[int, int, T]]:
        """Every phrase that matches anywhere (overlaps allowed)."""
        if not isinstance(tokens, list):
            tokens = list(tokens)
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


def _minus_length(entry: _Entry[T]) -> int:
    return -entry[2]


def _wild_match(rest: list[str], tokens: list[str], i: int) -> bool:
    """`rest` (with placeholders or "*") matches tokens[i:] token by token."""
    for want in rest:
        tok = tokens[i]
        if want != tok and want != "*" and (want not in PLACEHOLDERS or token_class(tok) != want):
            return False
        i += 1
    return True
