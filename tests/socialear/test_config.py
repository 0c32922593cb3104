"""rules.yaml validation: every problem reported once, as PATH:LINE:COL, and the shipped
example is valid. The CLI tests run the real `socialear` entry point in a subprocess."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from socialear.config import RulesWatcher, load_rules, parse_duration, parse_rules_text
from socialear.errors import ConfigError, UserError

ROOT = Path(__file__).resolve().parents[2]

GOOD = textwrap.dedent(
    """\
    brands:
      - name: Nimbus Mobile
        handles: {x: NimbusMobile}
        query: '"nimbus mobile" OR @NimbusMobile OR nimbus'
      - name: Arcwave
        query: arcwave
        competitor: true
    sources:
      - name: sample
        type: replay
        schedule: {every: 10s}
        options: {path: samples/mentions.jsonl}
    categories:
      - name: outage
        severity: 5
        phrases: [no signal]
        patterns: ['\\bdown\\b']
    queues: [care]
    routes:
      - name: outage
        when: {brand: own, sentiment: negative, categories: [outage]}
        escalate: {queue: care, priority: urgent}
        reply: sorry
    replies:
      sorry: {en: "Hi {{ author }}, sorry! DM {{ brand_handle }}"}
    sinks:
      - name: local
        type: jsonl
        options: {path: data/x.jsonl}
    """
)


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_rules_text(text, "r.yaml")
    return exc.value.errors


def test_good_rules_load() -> None:
    cfg = parse_rules_text(GOOD)
    assert [b.name for b in cfg.brands] == ["Nimbus Mobile", "Arcwave"]
    assert cfg.routes[0].escalate is not None and cfg.routes[0].escalate.priority == "urgent"
    assert cfg.sla.due_after("urgent").total_seconds() == 1800


def test_shipped_rules_are_valid() -> None:
    cfg = load_rules(ROOT / "rules.yaml")
    assert any(b.competitor for b in cfg.brands) and any(not b.competitor for b in cfg.brands)
    assert cfg.sources[0].type == "replay"


def test_unknown_key_points_at_the_key() -> None:
    bad = GOOD.replace("    escalate: {queue: care", "    escalte: {queue: care")
    errs = errors_of(bad)
    assert len(errs) == 1
    assert errs[0].startswith("r.yaml:22:5: ")
    assert "unknown key 'escalte'" in errs[0]


def test_wrong_type_reports_line_and_path() -> None:
    errs = errors_of(GOOD.replace("severity: 5", "severity: high"))
    assert len(errs) == 1
    assert errs[0].startswith("r.yaml:15:15: ")
    assert "categories[0].severity" in errs[0]


def test_unknown_references_are_each_reported() -> None:
    bad = GOOD.replace("queue: care, priority", "queue: nowhere, priority").replace("reply: sorry", "reply: missing")
    bad = bad.replace("categories: [outage]}", "categories: [outages]}")
    errs = errors_of(bad)
    text = "\n".join(errs)
    assert "unknown queue 'nowhere'" in text
    assert "unknown reply template 'missing'" in text
    assert "unknown category 'outages'" in text
    assert all(e.startswith("r.yaml:") and e.split(":")[1].isdigit() for e in errs)


def test_invalid_query_column_is_inside_the_query() -> None:
    errs = errors_of(GOOD.replace("query: arcwave", "query: arcwave AND"))
    assert len(errs) == 1
    line, col = errs[0].split(":")[1:3]
    assert line == "6"
    # the value starts at column 12; the parse error is after "arcwave AND"
    assert int(col) > 12
    assert "invalid query" in errs[0]


def test_invalid_regex_and_template_variable() -> None:
    bad = GOOD.replace("'\\bdown\\b'", "'(down'").replace("{{ author }}", "{{ customer }}")
    text = "\n".join(errors_of(bad))
    assert "invalid regex" in text
    assert "unknown variable 'customer'" in text


def test_unknown_source_type_and_bad_options() -> None:
    text = "\n".join(errors_of(GOOD.replace("type: replay", "type: myspace")))
    assert "unknown type 'myspace'" in text
    text = "\n".join(
        errors_of(GOOD.replace("options: {path: data/x.jsonl}", "options: {path: data/x.jsonl, colour: red}"))
    )
    assert "sinks[0].options" in text and "colour" in text


def test_yaml_syntax_error_has_position() -> None:
    errs = errors_of("brands:\n  - name: [unclosed\n")
    assert errs[0].startswith("r.yaml:") and "YAML syntax error" in errs[0]


def test_durations() -> None:
    assert parse_duration("1h30m").total_seconds() == 5400
    assert parse_duration("7d").days == 7
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")
    assert "not a duration" in "\n".join(errors_of(GOOD.replace("every: 10s", "every: soon")))


def test_watcher_keeps_last_good_rules(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD)
    watcher = RulesWatcher(path)
    good = watcher.rules
    path.write_text(GOOD.replace("severity: 5", "severity: 9"))
    import os

    os.utime(path, (1, 1))
    assert watcher.refresh() is False
    assert watcher.rules is good
    assert watcher.last_error and "severity" in watcher.last_error
    path.write_text(GOOD.replace("queues: [care]", "queues: [care, vip]"))
    os.utime(path, (2, 2))
    assert watcher.refresh() is True
    assert watcher.rules.queues == ["care", "vip"]


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="rules file not found"):
        load_rules(tmp_path / "nope.yaml")


def _cli(*args: str, input: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args], capture_output=True, text=True, input=input, cwd=cwd, timeout=120
    )


def test_cli_rules_check_exit_codes(tmp_path: Path) -> None:
    ok = _cli("rules", "check", str(ROOT / "rules.yaml"))
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        GOOD.replace("queue: care, priority", "queue: nowhere, priority").replace("severity: 5", "severity: high")
    )
    res = _cli("rules", "check", str(bad))
    assert res.returncode == 1
    lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1 or len(lines) == 2
    for ln in lines:
        path, line, col, _ = ln.split(":", 3)
        assert path == str(bad) and line.isdigit() and col.isdigit()
    assert "Traceback" not in res.stderr


def test_cli_rules_schema_is_json() -> None:
    import json

    res = _cli("rules", "schema")
    assert res.returncode == 0
    schema = json.loads(res.stdout)
    assert "brands" in schema["properties"] and "routes" in schema["properties"]
