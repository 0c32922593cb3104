"""Shared fixtures for the platform source tests: no network, no sleeping."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from source_helpers import Sleeps

from listener.sources._common import RetryPolicy


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any real connection attempt fails the test loudly."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"network access attempted in a test: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def fast_retry(sleeps: Sleeps) -> RetryPolicy:
    return RetryPolicy(sleep=sleeps)
