"""Shared fixtures: one Scorer per module (building it loads VADER and lingua once)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from listener.scoring import Scorer
from listener.types import Author, Mention
from socialear.config import Brand, Category, RulesConfig


def _scoring_rules(**overrides: Any) -> RulesConfig:
    data: dict[str, Any] = {
        "brands": [
            Brand(name="Nimbus", query="nimbus", handles={"x": "NimbusMobile"}),
            Brand(name="Orbit", query="orbit", handles={"x": "OrbitTel"}, competitor=True),
        ],
        "lexicon": {"dropped calls": -2.5, "nimbusfail": -2.0},
        "categories": [
            Category(
                name="billing",
                severity=3,
                phrases=["charged twice", "bill", "direct debit"],
                patterns=[r"\brefund(ed|s)?\b"],
            ),
            Category(name="outage", severity=5, phrases=["no signal", "outage", "down"]),
            Category(name="praise", severity=1, phrases=["thank you", "love"]),
        ],
    }
    data.update(overrides)
    return RulesConfig(**data)


@pytest.fixture(scope="session")
def scoring_rules() -> Callable[..., RulesConfig]:
    """Factory: the scoring test rules, with top-level keys overridden."""
    return _scoring_rules


@pytest.fixture(scope="session")
def scorer() -> Scorer:
    return Scorer(_scoring_rules())


@pytest.fixture(scope="session")
def mention() -> Callable[..., Mention]:
    def build(text: str, **kw: Any) -> Mention:
        author = Author(
            platform="x",
            handle=kw.pop("handle", "someone"),
            followers=kw.pop("followers", 0),
            verified=kw.pop("verified", False),
        )
        return Mention(
            source="x-main",
            platform="x",
            external_id=kw.pop("external_id", "1"),
            text=text,
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
            author=author,
            **kw,
        )

    return build
