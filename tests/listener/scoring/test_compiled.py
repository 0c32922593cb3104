"""The mypyc build of the scorer: used only when current, and it scores exactly like the source.

`listener.scoring.compiled` decides at import whether the compiled modules may run; these
tests pin its decisions on a scratch directory, check that a child interpreter told to
(or forced to, by an edit) runs from source really does, and compare every field of the
compiled scorer's output with the source scorer's on all the labelled posts.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from listener.scoring import compiled
from socialear.compiled import MANIFEST, PURE_ENV, check

ROOT = Path(__file__).resolve().parents[3]
LABELLED = ROOT / "tests" / "data" / "labelled"
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def _build(directory: Path, modules: dict[str, str], compiled_too: bool = True) -> None:
    """A fake build: sources, (empty) compiled files, and the manifest setup.py writes."""
    for name, text in modules.items():
        (directory / f"{name}.py").write_text(text, encoding="utf-8")
        if compiled_too:
            (directory / f"{name}{SUFFIX}").write_bytes(b"")
    digests = {name: hashlib.sha256(text.encode()).hexdigest() for name, text in modules.items()}
    (directory / MANIFEST).write_text(json.dumps({"modules": digests}), encoding="utf-8")


def test_a_current_build_is_used(tmp_path: Path) -> None:
    _build(tmp_path, {"a": "x = 1\n", "b": "y = 2\n"})
    assert check(tmp_path, {}) == (True, "mypyc (2 modules: a, b)")


def test_an_edited_source_sends_every_module_to_source(tmp_path: Path) -> None:
    _build(tmp_path, {"a": "x = 1\n", "b": "y = 2\n"})
    (tmp_path / "b.py").write_text("y = 3\n", encoding="utf-8")
    active, why = check(tmp_path, {})
    assert not active
    assert "b.py changed since the build" in why and "make native" in why


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("no-manifest", "no compiled build"),
        ("missing-extension", "no compiled a"),
        ("bad-manifest", f"{MANIFEST} is unreadable"),
        ("pure-env", f"{PURE_ENV} is set"),
        ("deleted-source", "a.py changed since the build"),
    ],
)
def test_anything_short_of_a_current_build_runs_from_source(tmp_path: Path, setup: str, reason: str) -> None:
    _build(tmp_path, {"a": "x = 1\n"}, compiled_too=setup != "missing-extension")
    environ: dict[str, str] = {}
    if setup == "no-manifest":
        (tmp_path / MANIFEST).unlink()
    elif setup == "bad-manifest":
        (tmp_path / MANIFEST).write_text("{not json", encoding="utf-8")
    elif setup == "pure-env":
        environ[PURE_ENV] = "1"
    elif setup == "deleted-source":
        (tmp_path / "a.py").unlink()
    active, why = check(tmp_path, environ)
    assert not active
    assert reason in why


def test_only_the_modules_the_build_recorded_run_compiled(tmp_path: Path) -> None:
    """A compiled copy left over from an earlier build (its module has since left the
    group, so the manifest does not name it) imports from source, as a stale one does."""
    from socialear.compiled import _SourceFirst

    _build(tmp_path, {"a": "x = 1\n"})
    (tmp_path / "b.py").write_text("y = 2\n", encoding="utf-8")
    (tmp_path / f"b{SUFFIX}").write_bytes(b"")
    finder = _SourceFirst("pkg", tmp_path, frozenset({"a"}))
    assert finder.find_spec("pkg.a", None) is None  # the normal import: its compiled copy
    spec = finder.find_spec("pkg.b", None)
    assert spec is not None and spec.origin == str(tmp_path / "b.py")
    assert finder.find_spec("other.b", None) is None


def _child(code: str, pure: bool) -> str:
    env = {**os.environ, PURE_ENV: "1" if pure else "0"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_the_pure_switch_imports_every_scoring_module_from_source() -> None:
    out = _child(
        "import listener.scoring.sentiment as s, listener.scoring.model as m, listener.scoring.compiled as c;"
        "print(s.__file__); print(m.__file__); print(c.STATUS)",
        pure=True,
    )
    sentiment_file, model_file, status = out.splitlines()
    assert sentiment_file.endswith("sentiment.py") and model_file.endswith("model.py")
    assert status == f"source ({PURE_ENV} is set)"


def test_ci_runs_the_compiled_build() -> None:
    """`.ci/run` sets SOCIALEAR_EXPECT_NATIVE=1: there the build must have compiled, so the
    speed that bench/quality.py reports is the one users get. Elsewhere (a developer's
    edited checkout, a machine without a C compiler) this says which build ran."""
    if os.environ.get("SOCIALEAR_EXPECT_NATIVE") == "1":
        assert compiled.ACTIVE, compiled.STATUS
    assert compiled.STATUS.startswith("mypyc (" if compiled.ACTIVE else "source (")


_SCORE_ALL = """
import json, sys
from datetime import UTC, datetime
from listener.scoring import Scorer
from listener.types import Author, Mention
from socialear.config import Brand, RulesConfig
rules = RulesConfig(brands=[Brand(name="Nimbus", query="nimbus", handles={"x": "NimbusMobile"})])
scorer = Scorer(rules)
out = []
for line in sys.stdin:
    r = json.loads(line)
    m = Mention(source="t", platform="t", external_id=r["id"], text=r["text"], rating=r["rating"],
                created_at=datetime(2026, 1, 1, tzinfo=UTC), author=Author(platform="t", handle="u"))
    out.append(scorer.score(m).to_dict())
print(json.dumps(out, sort_keys=True))
"""


def _both_builds(lines: list[str]) -> dict[bool, list[dict[str, object]]]:
    """Each build's `Score.to_dict()` for each JSONL record, from a child interpreter."""
    feed = "\n".join(lines) + "\n"
    results = {}
    for pure in (False, True):
        env = {**os.environ, PURE_ENV: "1" if pure else "0"}
        run = subprocess.run(
            [sys.executable, "-c", _SCORE_ALL], input=feed, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600
        )
        assert run.returncode == 0, run.stderr
        results[pure] = json.loads(run.stdout)
    return results


def test_compiled_and_source_score_every_labelled_post_identically() -> None:
    """Run both builds on all 3,988 labelled posts and compare every field (labels,
    compounds, reasons, urgency, language...). When this process runs from source too, the
    comparison is source against source and still has to hold."""
    lines = []
    for path in sorted(LABELLED.glob("*.jsonl")):
        lines += [line for line in path.read_text(encoding="utf-8").splitlines() if line]
    results = _both_builds(lines)
    assert len(results[True]) == len(lines) >= 3988
    mismatches = [(i, a, b) for i, (a, b) in enumerate(zip(results[False], results[True], strict=True)) if a != b]
    assert not mismatches, mismatches[:3]


_PIECES = (
    "no signal since Monday !!! 😡 🙂 ★ ☆ @NimbusMobile #fail http://x.y/z £32.50 3rd 24/7 not working "
    "CANCELLED but great thanks for nothing ? ¿ Qué ß é \u200d \ufe0f \t l'app don't x² ٣ ½ the a I 😂😂 "
    ":) :-( <3 lol on hold for 3 hours refund charged twice \u202e ǅ ﬁ \ud83d"
).split(" ")


def test_both_builds_agree_on_random_text() -> None:
    """600 seeded random posts (cue words, emoji, control and bidi characters, digits of
    other scripts, half emoji, random code points, a few very long ones, every rating):
    nothing raises in either build and every field agrees."""
    rng = random.Random(20261122)
    lines = []
    for i in range(600):
        if rng.random() < 0.8:
            text = " ".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 40)))
        else:
            text = "".join(chr(rng.randint(1, 0x2FFFF)) for _ in range(rng.randint(0, 60)))
        if i % 100 == 7:
            text *= 300
        rating = rng.choice([None, 1, 2, 3, 4, 5, 0.5, 4.5])
        lines.append(json.dumps({"id": str(i), "text": text, "rating": rating}))
    results = _both_builds(lines)
    assert len(results[False]) == 600
    assert results[False] == results[True]

