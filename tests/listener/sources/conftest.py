"""Fixtures for the platform source tests: no sleeping between retries.

The shared `tests/conftest.py` already refuses network access (autouse `no_network`).
Tests run with `--import-mode=importlib`, so this directory is put on sys.path for the
plain helper module `source_helpers` (brands, fixture loading).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from listener.sources._common import RetryPolicy

sys.path.insert(0, str(Path(__file__).resolve().parent))


class Sleeps(list[float]):
    """A `sleep` that records instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def fast_retry(sleeps: Sleeps) -> RetryPolicy:
    return RetryPolicy(sleep=sleeps)
