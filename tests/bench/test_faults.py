"""`bench/faults.py` end to end with K=2: real `socialear import` and `socialear run`
processes SIGKILLed, a sink outage against a real loopback receiver, and the JSON it
prints: every key present, every count zero, restarts within a minute."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"trials", "kills", "mentions_lost", "mentions_duplicated", "escalations_lost", "tickets_duplicated",
        "dead_after_outage", "retry_after_violations", "stop_hangs", "max_restart_gap_s"}
ZERO = KEYS - {"trials", "kills", "max_restart_gap_s"}


@pytest.mark.slow
def test_faults_with_two_trials_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SOCIALEAR_DATABASE_URL"}  # SQLite
    res = subprocess.run([sys.executable, str(ROOT / "bench" / "faults.py"), "--trials", "2", "--keep", str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    result = json.loads(res.stdout.strip().splitlines()[-1])
    assert set(result) >= KEYS
    assert result["trials"] == 2 and result["kills"] >= 1
    assert {k: result[k] for k in ZERO} == dict.fromkeys(ZERO, 0), (tmp_path / "processes.log").read_text()[-3000:]
    assert 0 < result["max_restart_gap_s"] <= 60
