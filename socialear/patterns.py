"""Regular expressions written by users (rules.yaml, the console's what-if page), compiled
with RE2, the linear-time engine GitHub and Cloudflare use for user patterns.

Why not Python's `re`: it backtracks, so one pattern such as `^(\\w+\\s?)+$` and one
38-character mention took exponential time, held the GIL and froze the whole process
(health checks timed out, SIGTERM went unanswered). RE2 matches in time linear in the
text, whatever the pattern; the price is that it refuses what needs backtracking
(backreferences `\\1`, lookahead `(?=`, lookbehind `(?<=`) and that `\\w`, `\\d`, `\\b` are
ASCII-only (use `\\pL` for any letter). `rules check` reports a refused pattern at its
PATH:LINE:COL, so a pattern that passes the check is one the service can run.

Every user pattern is compiled here, case-insensitively, as routing and categories
always matched; nothing else in socialear should compile a user's pattern itself.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import re2

MAX_MEM = 8 << 20  # bytes RE2 may use for one compiled pattern; a bigger one is refused


def _options() -> Any:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # the error comes back as an exception, with its reason
    options.max_mem = MAX_MEM
    return options


class PatternError(ValueError):
    """A user pattern RE2 cannot run; the message says why."""


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> Any:
    """The compiled pattern (with `search`, returning a match with `group(0)`), or
    PatternError. Cached: routes and categories are rebuilt on every rules reload."""
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        raise PatternError(_reason(exc)) from None
    except (TypeError, ValueError) as exc:
        raise PatternError(str(exc)) from None


def found_in(compiled: Any) -> Callable[[str], bool]:
    """`lambda text: compiled.search(text) is not None`, for a pattern from
    `compile_pattern`, without the match: the re2 module's `search` is written in Python
    and maps every offset back from UTF-8 to characters, about half of its cost for a
    route condition that only asks whether the pattern occurs (every mention is tested).
    Falls back to `search` if the re2 module's internals are not what this expects."""
    regexp = getattr(compiled, "_regexp", None)
    anchor = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)
    null = getattr(re2, "_NULL_SPAN", None)
    if regexp is None or anchor is None or null is None or not hasattr(regexp, "Match"):
        search = compiled.search
        return lambda text: search(text) is not None
    match = regexp.Match
    search = compiled.search

    def found(text: str) -> bool:
        encoded = text.encode("utf-8")  # as re2's own `search` encodes it
        return bool(match(anchor, encoded, 0, len(encoded))[0] != null)

    try:  # a re2 release whose internals changed meaning falls back too
        same = all(found(probe) == (search(probe) is not None) for probe in _PROBES)
    except Exception:  # noqa: BLE001 - any surprise: the documented API
        same = False
    return found if same else (lambda text: search(text) is not None)


_PROBES = ("", "a", "Nimbus é 😡 down", "@x #y http://z.example 123")


def pattern_error(pattern: str) -> str | None:
    """Why RE2 cannot run `pattern`, or None if it can."""
    try:
        compile_pattern(pattern)
    except PatternError as exc:
        return str(exc)
    return None


def _reason(exc: Exception) -> str:
    raw = exc.args[0] if exc.args else str(exc)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    hints = {
        "invalid perl operator: (?=": " (lookahead is not supported: RE2 runs in linear time)",
        "invalid perl operator: (?!": " (lookahead is not supported: RE2 runs in linear time)",
        "invalid perl operator: (?<": " (lookbehind is not supported: RE2 runs in linear time)",
        "invalid escape sequence: \\": "",
    }
    for start, hint in hints.items():
        if text.startswith(start):
            if start.endswith("\\") and text[len(start) : len(start) + 1].isdigit():
                hint = " (backreferences are not supported: RE2 runs in linear time)"
            return text + hint
    return text
