"""The `socialear` CLI end to end, as a user runs it: real entry point, real files, a real
SQLite database. A user's mistake must give one line and a non-zero exit, no traceback."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def run(
    *args: str, input: str | None = None, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args],
        capture_output=True,
        text=True,
        input=input,
        cwd=cwd,
        env=full_env,
        timeout=180,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A directory with the pipeline test rules, as `rules.yaml`, and an empty database."""
    text = (FIXTURES / "rules" / "pipeline.yaml").read_text()
    (tmp_path / "rules.yaml").write_text(
        text.replace("{feed}", str(FIXTURES / "pipeline" / "feed.jsonl")).replace("{sink}", str(tmp_path / "out.jsonl"))
    )
    return tmp_path


def db_env(workdir: Path) -> dict[str, str]:
    return {
        "SOCIALEAR_DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite'}",
        "SOCIALEAR_RULES": str(workdir / "rules.yaml"),
    }


def test_score_needs_only_text() -> None:
    records = "\n".join(
        json.dumps(r)
        for r in (
            {"text": "@NimbusMobile no signal since Monday and 2 hours on hold"},
            {"text": "love my new Nimbus plan, great value", "custom": 7},
        )
    )
    res = run("score", "--rules", str(ROOT / "rules.yaml"), input=records)
    assert res.returncode == 0, res.stderr
    out = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(out) == 2
    for rec in out:
        assert rec["sentiment"]["label"] in {"negative", "neutral", "positive"}
        assert isinstance(rec["sentiment"]["compound"], float)
        for key in ("urgency", "urgency_signals", "categories", "brands", "route", "language"):
            assert key in rec
    assert out[0]["sentiment"]["label"] == "negative" and out[0]["route"] == "outage-urgent"
    assert out[0]["brands"] == ["Nimbus Mobile"]
    assert out[1]["custom"] == 7  # the input record comes back untouched


def test_score_survives_half_an_emoji() -> None:
    """A lone surrogate escape (an emoji cut in half) used to crash lingua and the UTF-8
    output; now it reads as U+FFFD and the record is scored like any other."""
    records = '{"text": "Nimbus no signal again \\ud83d still waiting", "note": "\\udc00"}\n{"text": "love Nimbus \\ud83d\\ude00"}\n'
    res = run("score", "--rules", str(ROOT / "rules.yaml"), input=records)
    assert res.returncode == 0, res.stderr
    first, second = (json.loads(line) for line in res.stdout.splitlines())
    assert first["text"] == "Nimbus no signal again \ufffd still waiting" and first["note"] == "\ufffd"
    assert first["sentiment"]["label"] == "negative" and first["language"] == "en"
    assert second["text"] == "love Nimbus \U0001f600"  # a whole pair is the emoji itself


def test_score_csv_file_and_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "author"])
        w.writerow(["Nimbus charged me twice, still no refund", "zed"])
        w.writerow(["", "empty"])
    res = run("score", str(path), "--rules", str(ROOT / "rules.yaml"))
    assert res.returncode == 1  # one record could not be scored
    assert "line 3: text: empty" in res.stderr and "Traceback" not in res.stderr
    out = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(out) == 1 and "billing" in out[0]["categories"]


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("score", "/no/such/file.jsonl"), {}, "file not found: /no/such/file.jsonl"),
        (("sources",), {"SOCIALEAR_DATABASE_URL": "postgresql+psycopg://u:secret@127.0.0.1:5999/db"}, "cannot connect"),
        (("sources",), {"SOCIALEAR_DATABASE_URL": "mysql://nope"}, "mysql"),
        (("collect", "--once", "--rules", "/no/rules.yaml"), {}, "rules file not found"),
        (("export", "tweets"), {}, "can export mentions, escalations or cases"),
    ],
)
def test_user_mistakes_are_one_clear_line(
    args: tuple[str, ...], env: dict[str, str], message: str, tmp_path: Path
) -> None:
    res = run(*args, env={"SOCIALEAR_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", **env})
    assert res.returncode != 0
    assert message in res.stderr
    assert "Traceback" not in res.stderr and "secret" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_collect_import_export_outbox_round_trip(workdir: Path) -> None:
    env = db_env(workdir)
    res = run("collect", "--once", "--source", "feed", env=env, cwd=workdir)
    assert res.returncode == 0, res.stderr
    assert "feed: fetched 11, stored 8" in res.stdout

    # import the same feed under another source name: new mentions, deduped within the file
    res = run("import", str(FIXTURES / "pipeline" / "feed.jsonl"), "--source", "backfill", env=env, cwd=workdir)
    assert res.returncode == 0, res.stderr
    assert "stored 8" in res.stdout and "duplicates 1" in res.stdout and "quarantined 1" in res.stdout
    # importing the same file again reads nothing (it was imported completely)
    res = run("import", str(FIXTURES / "pipeline" / "feed.jsonl"), "--source", "backfill", env=env, cwd=workdir)
    assert res.returncode == 0 and "imported before" in res.stdout

    res = run("export", "mentions", "--format", "jsonl", env=env, cwd=workdir)
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(rows) == 16 and {r["source"] for r in rows} == {"feed", "backfill"}
    res = run("export", "escalations", "--format", "csv", "--since", "7d", env=env, cwd=workdir)
    table = list(csv.DictReader(io.StringIO(res.stdout)))
    assert table and {"route", "queue", "priority", "suggested_reply"} <= set(table[0])
    res = run("export", "cases", "--format", "jsonl", env=env, cwd=workdir)
    assert res.returncode == 0, res.stderr
    case_rows = [json.loads(line) for line in res.stdout.splitlines()]
    # every escalated post is in exactly one case
    assert case_rows and sum(len(r["mention_external_ids"]) for r in case_rows) == len(table)

    res = run("outbox", env=env, cwd=workdir)
    assert res.returncode == 0 and "pending" in res.stdout
    res = run("outbox", "retry", env=env, cwd=workdir)
    assert res.returncode == 1 and "give an outbox ID or --all-dead" in res.stderr

    res = run("sources", env=env, cwd=workdir)
    assert res.returncode == 0 and "feed" in res.stdout and "ok" in res.stdout


def test_collect_reports_missing_credentials(workdir: Path) -> None:
    rules = (
        (workdir / "rules.yaml")
        .read_text()
        .replace("sources:\n", "sources:\n  - name: x-main\n    type: x\n    schedule: {every: 2m}\n", 1)
    )
    (workdir / "rules.yaml").write_text(rules)
    env = {**db_env(workdir), "X_BEARER_TOKEN": ""}
    res = run("collect", "--once", "--source", "x-main", env=env, cwd=workdir)
    assert res.returncode == 1
    assert "x-main: not configured" in res.stderr and "X_BEARER_TOKEN" in res.stderr


def test_db_upgrade(tmp_path: Path) -> None:
    res = run("db", "upgrade", env={"SOCIALEAR_DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}"})
    assert res.returncode == 0, res.stderr
    assert "at revision" in res.stdout
