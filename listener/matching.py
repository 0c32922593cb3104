"""Which configured brands a mention is about.

Each brand's boolean query is parsed once; a mention's text is tokenised once and tested
against every brand. The primary brand is the first *own* brand that matched (the care
team answers for it), else the first competitor (market intelligence).
"""

from __future__ import annotations

from dataclasses import dataclass

from listener.query import PreparedText, Query, parse_query, tokenize
from socialear.config import RulesConfig


@dataclass(frozen=True, slots=True)
class BrandMatch:
    brands: tuple[str, ...]
    primary: str | None
    competitor: bool


NO_MATCH = BrandMatch((), None, False)


class BrandMatcher:
    def __init__(self, rules: RulesConfig):
        self._brands: list[tuple[str, bool, Query]] = [
            (b.name, b.competitor, parse_query(b.query)) for b in rules.brands
        ]
        self._competitor = {b.name: b.competitor for b in rules.brands}

    def match(
        self, text: str, title: str | None = None, only: list[str] | None = None, implied: str | None = None
    ) -> BrandMatch:
        """Brands whose query matches `text` (and a review's title); `only` limits the brands.

        `implied` is the brand a source is *about* (a review of the brand's own app need not
        name the brand): it counts when the text names no brand at all.
        """
        full = f"{title}\n{text}" if title else text
        doc = PreparedText(tokenize(full), full.lower())  # tokenised once for every brand
        hits = [
            (name, competitor)
            for name, competitor, query in self._brands
            if (only is None or name in only) and query.matches_prepared(doc)
        ]
        if not hits:
            competitor = self._competitor.get(implied or "")
            if implied and competitor is not None and (only is None or implied in only):
                return BrandMatch((implied,), implied, competitor)
            return NO_MATCH
        primary = next((h for h in hits if not h[1]), hits[0])
        return BrandMatch(tuple(n for n, _ in hits), primary[0], primary[1])
