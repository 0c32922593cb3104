"""Fixtures for the listener tests: the pipeline rules and feed, filled in for tmp paths."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from socialear.config import RulesConfig, parse_rules_text

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FEED = FIXTURES / "pipeline" / "feed.jsonl"


def pipeline_rules_text(feed: Path, sink: Path) -> str:
    text = (FIXTURES / "rules" / "pipeline.yaml").read_text()
    return text.replace("{feed}", str(feed)).replace("{sink}", str(sink))


@pytest.fixture
def feed() -> Path:
    return FEED


@pytest.fixture
def make_rules() -> Callable[..., RulesConfig]:
    def make(feed: Path = FEED, sink: Path | None = None) -> RulesConfig:
        return parse_rules_text(pipeline_rules_text(feed, sink or Path("unused.jsonl")))

    return make


@pytest.fixture
def rules(tmp_path: Path, make_rules: Callable[..., RulesConfig]) -> RulesConfig:
    return make_rules(FEED, tmp_path / "escalations.jsonl")


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    """The pipeline rules written to a file, for subprocesses and the CLI."""
    path = tmp_path / "rules.yaml"
    path.write_text(pipeline_rules_text(FEED, tmp_path / "escalations.jsonl"))
    return path
