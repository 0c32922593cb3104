"""User regular expressions run under RE2 (finding 3 of issue 14).

A route `when.text: '^(\\w+\\s?)+$'` passed `rules check`, then one 38-character mention
took exponential time in Python's backtracking `re` and froze the process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from socialear.config import parse_rules_text
from socialear.errors import ConfigError
from socialear.patterns import PatternError, compile_pattern, pattern_error

ROOT = Path(__file__).resolve().parents[2]
EVIL = r"^(\w+\s?)+$"
MENTION = "nimbus " + "a" * 30 + "!"  # 38 characters; Python's re needs ~2^30 steps

RULES = textwrap.dedent(
    """\
    brands:
      - name: Nimbus Mobile
        handles: {x: NimbusMobile}
        query: nimbus
    categories:
      - name: words
        severity: 1
        patterns: ['PATTERN']
    queues: [care]
    routes:
      - name: words-only
        when: {text: 'PATTERN'}
        escalate: {queue: care, priority: normal}
    """
)


def test_the_redos_route_and_category_answer_at_once(tmp_path: Path) -> None:
    assert len(MENTION) == 38
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.replace("PATTERN", EVIL))
    started = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-m", "console.cli", "score", "--rules", str(rules)],
        input=json.dumps({"text": MENTION}) + "\n" + json.dumps({"text": "nimbus is down"}) + "\n",
        capture_output=True, text=True, cwd=ROOT, env=os.environ, timeout=60,
    )
    elapsed = time.monotonic() - started
    assert res.returncode == 0, res.stderr
    first, second = (json.loads(line) for line in res.stdout.splitlines())
    assert first["route"] is None and first["categories"] == []  # "!" is not \w: no match
    assert second["route"] == "words-only" and second["categories"] == ["words"]
    assert elapsed < 30  # start-up included; the match itself is microseconds


def test_the_pattern_alone_is_linear() -> None:
    search = compile_pattern(EVIL).search
    started = time.perf_counter()
    for n in (30, 1_000, 100_000):
        assert search("a" * n + "!") is None
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"(a)\1", "backreferences are not supported"),
        (r"(?<=refund)ed", "lookbehind is not supported"),
        (r"outage(?!s)", "lookahead is not supported"),
        ("(down", "missing )"),
        ("a{5000}", "invalid repetition size"),
    ],
)
def test_rules_check_refuses_what_re2_cannot_run_at_path_line_col(pattern: str, why: str) -> None:
    text = RULES.replace("PATTERN", pattern.replace("'", "''"))
    with pytest.raises(ConfigError) as info:
        parse_rules_text(text, "r.yaml")
    errors = list(info.value.errors)
    assert len(errors) == 2, errors  # the category's pattern and the route's
    category = next(e for e in errors if "patterns[0]" in e)
    route = next(e for e in errors if "when.text" in e)
    assert category.startswith("r.yaml:8:") and route.startswith("r.yaml:12:")
    assert all("invalid regex (RE2)" in e and why in e for e in errors), errors
    assert pattern_error(pattern) is not None
    with pytest.raises(PatternError):
        compile_pattern(pattern)


def test_patterns_stay_case_insensitive() -> None:
    assert compile_pattern(r"\bnetwork (is )?down\b").search("NETWORK IS DOWN again") is not None
    assert compile_pattern("réseau").search("RÉSEAU en panne") is not None


def test_rules_check_cli_names_the_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.replace("PATTERN", r"(?<=a)b"))
    res = subprocess.run(
        [sys.executable, "-m", "console.cli", "rules", "check", str(rules)],
        capture_output=True, text=True, cwd=ROOT, env=os.environ, timeout=60,
    )
    assert res.returncode != 0
    assert f"{rules}:12:" in res.stdout and "lookbehind is not supported" in res.stdout


@pytest.mark.parametrize("pattern", ["refund", "no (signal|service)", r"\bdown\b", "^nimbus", "a*", "$", "é+",
                                     r"\pL+ 😡", "(crypto|giveaway|free followers)"])
def test_found_in_is_search_found(pattern: str) -> None:
    """socialear.patterns.found_in answers what `search(text) is not None` does."""
    from socialear.patterns import found_in

    compiled = compile_pattern(pattern)
    found = found_in(compiled)
    for text in ["", "Nimbus is DOWN again", "no Signal", "éé café 😡", "x" * 50 + "refund", "GIVEAWAY",
                 "\u00e9t\u00e9 nimbus", "down-town", "😡"]:
        assert found(text) == (compiled.search(text) is not None), (pattern, text)


def test_found_in_falls_back_to_search() -> None:
    """Without the re2 internals it expects (or with ones that answer otherwise), found_in
    asks the documented `search`."""
    from socialear.patterns import found_in

    class Plain:
        def search(self, text: str) -> object:
            return "hit" if "down" in text else None

    class Odd(Plain):
        class _regexp:  # noqa: N801 - the shape of re2's private attribute
            @staticmethod
            def Match(*_args: object) -> tuple[tuple[int, int], ...]:  # noqa: N802
                return ((0, 0),)  # "always found": not what search says

    for compiled in (Plain(), Odd()):
        found = found_in(compiled)
        assert found("network down") and not found("all good")
