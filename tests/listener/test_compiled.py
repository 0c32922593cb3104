"""The mypyc build of the prescoring worker's modules besides the scorer (setup.py's
GROUPS: `listener`'s matching and routing, `socialear`'s terms) gives exactly what the
source gives.

Each group decides at import whether its compiled modules may run (socialear.compiled,
whose decisions tests/listener/scoring/test_compiled.py pins); here a child interpreter
per build analyses the same mentions the way the worker and the pipeline do (staged
batch, pickled across, completed with history, the stored JSON, the explained route,
the trace text, the terms) and every piece is compared.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import listener.compiled
import socialear.compiled
from socialear.compiled import PURE_ENV, check

ROOT = Path(__file__).resolve().parents[2]

_ANALYSE_ALL = """
import json, pickle, sys
from pathlib import Path
sys.path.insert(0, "bench")
import pipeline as bench
import listener.compiled, socialear.compiled
from listener.analysis import Analyzer, Prepared, fresh_mentions
from listener.encoding import decision_text, score_text, scoring_text
from listener.routing import route, trace_text
from listener.scoring import ScoringContext
from listener.types import Author, Mention
from socialear.config import load_rules
from socialear.jsontext import dumps, scalar
from socialear.terms import stored_terms

rules = load_rules(Path("rules.yaml"))
analyzer = Analyzer(rules)
contexts = [ScoringContext(), ScoringContext(2, 9, {"outage": 20}), ScoringContext(5, 40, {"outage": 60, "billing": 60})]
extra = [json.loads(line)["text"] for line in sys.stdin]
batches = list(bench.mentions(int(sys.argv[1]), 250))
batches.append([Mention(source="bench", platform="x", external_id=f"r{i}", text=text, created_at=batches[0][0].created_at,
                        author=Author(platform="x", handle=f"r{i % 7}", followers=i * 37)) for i, text in enumerate(extra)])
out = [listener.compiled.STATUS, socialear.compiled.STATUS]
for batch in batches:
    mentions = fresh_mentions(batch)
    for i, (m, p) in enumerate(zip(mentions, analyzer.prepare_all(mentions, None, speculate=True, trace=False))):
        p = pickle.loads(pickle.dumps(p))  # as the worker hands it back
        row = [repr(p), stored_terms(m.text), dumps({"t": m.text, "f": [m.author.followers, 0.1 * i, None]}),
               scalar(m.text)]
        if isinstance(p, Prepared) and p.primary is not None:
            s = analyzer.complete(m, p, lambda _b, c=contexts[i % 3]: c)
            facts = analyzer.facts(m, s.brand, s.competitor, s.score)
            row += [repr(s.decision), s.reply, repr(s.shown), json.dumps(s.score.to_dict()),
                    json.dumps(route(facts, rules, explain=True).to_dict()), trace_text(facts, rules, cut="urgency")]
            if s.encoded is not None:
                text = score_text(s.encoded, s.score.urgency, s.score.urgency_signals)
                row += [text, scoring_text(text, s.decision), decision_text(s.encoded, s.shown, i % 2 == 0)]
        out.append(row)
print(json.dumps(out))
"""

_PIECES = (
    "Nimbus @NimbusMobile #NimbusDown Arcwave Telvio no signal since Monday !!! 😡 🙂 ★ @x #fail "
    "http://x.y/z £32.50 24/7 not working CANCELLED refund charged twice urgent outage down ? Qué ß é "
    "\u200d \t l'app don't ٣ ½ the a I 😂 :( <3 on hold for 3 hours \u202e ﬁ \ud83d \x00urgency"
).split(" ")


def _both_builds(n: int, extra: list[str]) -> dict[bool, list[object]]:
    feed = "".join(json.dumps({"text": t}) + "\n" for t in extra)
    results = {}
    for pure in (False, True):
        env = {**os.environ, PURE_ENV: "1" if pure else "0"}
        run = subprocess.run([sys.executable, "-c", _ANALYSE_ALL, str(n)], input=feed, capture_output=True,
                             text=True, env=env, cwd=ROOT, timeout=600)
        assert run.returncode == 0, run.stderr
        results[pure] = json.loads(run.stdout)
    return results


def test_compiled_and_source_prepare_route_and_encode_identically() -> None:
    """3,000 bench mentions and 400 seeded random posts naming the brands (emoji, control
    and bidi characters, half emoji, the encoder's urgency mark, a few very long ones),
    through the worker's and the pipeline's steps in each build: every piece agrees.
    When this process runs from source, the comparison is source against source and
    still has to hold."""
    rng = random.Random(20261207)
    extra = []
    for i in range(400):
        text = " ".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 40)))
        extra.append(text * 200 if i % 100 == 7 else text)
    results = _both_builds(3000, extra)
    compiled, source = results[False], results[True]
    assert source[:2] == [f"source ({PURE_ENV} is set)"] * 2
    # the build each group's guard chooses without the switch (this process may run with it)
    assert compiled[:2] == [check(Path(group.__file__).parent, {})[1] for group in (listener.compiled, socialear.compiled)]
    assert len(compiled) == len(source) > 3000
    assert sum(len(row) > 4 for row in source) > 1000  # most name a brand: routed and encoded
    mismatches = [(a, b) for a, b in zip(compiled[2:], source[2:], strict=True) if a != b]
    assert not mismatches, mismatches[:2]


def test_ci_runs_the_compiled_build() -> None:
    """As for the scorer (tests/listener/scoring/test_compiled.py): `.ci/run` sets
    SOCIALEAR_EXPECT_NATIVE=1, and there both groups must have compiled."""
    for group in (listener.compiled, socialear.compiled):
        if os.environ.get("SOCIALEAR_EXPECT_NATIVE") == "1":
            assert group.ACTIVE, group.STATUS
        assert group.STATUS.startswith("mypyc (" if group.ACTIVE else "source (")


def test_the_pure_switch_imports_every_group_from_source() -> None:
    code = ("import listener.routing as r, listener.matching as m, socialear.terms as t;"
            "print(r.__file__, m.__file__, t.__file__)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, PURE_ENV: "1"}, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    assert all(path.endswith(".py") for path in run.stdout.split())
