"""A compressed simulated day per new platform (bench/platform_day.py): the real source,
Collector and pipeline against a fake API on a simulated clock, with restarts and one
throttled window in the platform's own words. Every item is stored once, none missed,
and nothing is sent while throttled."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_platform_day", ROOT / "bench" / "platform_day.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


platform_day = load_bench()


@pytest.mark.parametrize("platform", ["facebook", "youtube", "discourse"])
def test_compressed_day(platform: str) -> None:
    result = platform_day.simulate(platform, hours=4.0, poll_every=300.0, restarts=3)
    assert result["expected"] > 50
    assert result["unique_stored"] == result["expected"]
    assert result["missing"] == 0 and result["duplicates"] == 0 and result["unexpected"] == 0
    assert result["throttle_windows"] == 1 and result["requests_during_throttle"] == 0
    assert result["restarts"] == 3
    if platform in ("facebook", "discourse"):  # nothing read twice: `since`; the walk of post ids
        assert result["reads_per_unique"] == 1.0 and result["reads_per_unique_mention"] == 1.0


def test_compressed_discourse_day_with_the_webhook() -> None:
    """Posts pushed to /hooks/discourse are read once; the two hours of lost deliveries are
    found by the source's hourly checks; nothing is missed or stored twice."""
    result = platform_day.simulate("discourse", hours=6.0, poll_every=300.0, restarts=3, webhook=True)
    assert result["webhook_lost"] > 0 and result["webhook_pushed"] > 100
    assert result["missing"] == 0 and result["duplicates"] == 0 and result["unexpected"] == 0
    assert result["requests_during_throttle"] == 0
    # the checks walk only the ids the hook did not deliver
    assert result["reads_per_unique"] == 1.0 and result["reads_per_unique_mention"] == 1.0, result


def test_compressed_youtube_day_reads_little_more_than_once() -> None:
    """commentThreads has no "since": a read of n new threads returns n + 1 (the one it
    stops at). Reads wait for about `comments_per_read` new threads, pages are sized to
    what is expected above the watermark, and idle probes are answered 304."""
    result = platform_day.simulate("youtube", hours=4.0, poll_every=300.0, restarts=3)
    assert result["not_modified"] > 0
    assert result["reads_per_unique_mention"] < 1.1, result
