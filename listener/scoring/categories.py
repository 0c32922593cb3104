"""Categories from rules.yaml: whole-word phrases (case-insensitive) and regex patterns.

Phrases go through the same token matcher as the complaint lexicon (one dict lookup per
token, whatever the number of phrases); each category's patterns are joined into one
compiled regex, so a text costs one `search` per category that has patterns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from listener.scoring.matcher import PhraseMatcher
from socialear.config import Category
from socialear.patterns import compile_pattern, found_in


class Categoriser:
    """Built once from the rules; `match` returns category -> matched phrases."""

    def __init__(self, categories: Sequence[Category]) -> None:
        self._matcher: PhraseMatcher[str] = PhraseMatcher()
        self._patterns: list[tuple[str, Any, Callable[[str], bool]]] = []
        self._severity = {c.name: c.severity for c in categories}
        self._order = {c.name: i for i, c in enumerate(categories)}
        for cat in categories:
            for phrase in cat.phrases:
                self._matcher.add(phrase, cat.name)
            if cat.patterns:
                joined = "|".join(f"(?:{p})" for p in cat.patterns)
                compiled = compile_pattern(joined)  # RE2: linear time
                self._patterns.append((cat.name, compiled, found_in(compiled)))
        self._empty = not self._patterns and not any(cat.phrases for cat in categories)

    def match(self, text: str, tokens: Sequence[str]) -> dict[str, list[str]]:
        hits: dict[str, list[str]] = {}
        if self._empty:
            return hits
        for start, end, name in self._matcher.find_all(tokens):
            phrase = " ".join(tokens[start:end])
            found = hits.setdefault(name, [])
            if phrase not in found:
                found.append(phrase)
        for name, pattern, occurs in self._patterns:
            if not occurs(text):  # most texts match no category's pattern: no match object then
                continue
            m = pattern.search(text)
            if m is not None:
                found = hits.setdefault(name, [])
                if m.group(0) not in found:
                    found.append(m.group(0))
        if len(hits) > 1:  # rules.yaml order, so output is stable
            hits = dict(sorted(hits.items(), key=lambda kv: self._order[kv[0]]))
        return hits

    def max_severity(self, names: Sequence[str]) -> int:
        return max((self._severity[n] for n in names), default=0)
