"""Helpers for the platform source tests (imported as a plain module: tests are not a package)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@dataclass
class Brand:
    """Stands in for the config's brand (anything with .name, .query, .handles)."""

    name: str
    query: str
    handles: dict[str, str] = field(default_factory=dict)


NIMBUS = Brand("Nimbus", '(nimbus OR "nimbus broadband") -careers', {"x": "NimbusHelp"})
SKYLINE = Brand("Skyline", "skyline", {"x": "SkylineCares"})


def fixture_text(platform: str, name: str) -> str:
    return (FIXTURES / platform / name).read_text(encoding="utf-8")


def fixture_json(platform: str, name: str) -> Any:
    if "." not in name:
        name += ".json"
    return json.loads(fixture_text(platform, name))


class Sleeps(list[float]):
    """A `sleep` that records instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
