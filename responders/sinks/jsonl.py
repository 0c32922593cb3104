"""JsonlSink: appends one JSON line per escalation to a local file; the no-keys default sink.

Idempotent by key, across instances and processes on one machine: every append happens under
an exclusive `flock`, after reading whatever other writers appended since this instance last
looked (an index of keys plus the byte offset it has scanned up to). The first use scans the
whole file. Each line is fsynced before `deliver` returns, so "delivered" means on disk.

A crash mid-write leaves a partial last line; the next writer starts a fresh line and the
scanner skips the broken one with a warning. Lines are ASCII JSON in the webhook's envelope
format (`_envelope`), so one parser serves both.

Errors:

    OSError (disk full, permission) ─► RetryableError  (an operator can free space; the row waits)
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict

from responders.sinks import _envelope
from responders.types import DeliveryResult, EscalationPayload
from socialear.errors import RetryableError

log = logging.getLogger(__name__)


class JsonlSink:
    """Appends escalations to a JSON Lines file, one line per idempotency key."""

    type: ClassVar[str] = "jsonl"
    description: ClassVar[str] = "Appends each escalation as one JSON line to a local file (default data/escalations.jsonl)."
    needs: ClassVar[tuple[str, ...]] = ()

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        path: str = "data/escalations.jsonl"
        fsync: bool = True

    def __init__(self, name: str, options: Options, clock: Callable[[], float] = time.time):
        self.name = name
        self.options = options
        self.path = Path(options.path)
        self._clock = clock
        self._keys: set[str] = set()
        self._offset = 0

    @classmethod
    def from_options(
        cls,
        name: str,
        options: Mapping[str, Any],
        *,
        env: Mapping[str, str] | None = None,
        client: httpx.Client | None = None,
    ) -> JsonlSink:
        return cls(name, cls.Options.model_validate(options))

    def deliver(self, payload: EscalationPayload, *, attempt: int = 1) -> DeliveryResult:
        """Append the escalation unless a line with its key is already in the file."""
        key = payload.idempotency_key
        try:
            return self._append_once(payload, key)
        except OSError as exc:
            raise RetryableError(f"jsonl sink {self.name!r}: cannot write {self.path}: {exc}") from exc

    def _append_once(self, payload: EscalationPayload, key: str) -> DeliveryResult:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                ends_cleanly = self._catch_up(handle)
                if key in self._keys:
                    return DeliveryResult(external_ref=key, created=False)
                line = _envelope.encode(_envelope.envelope(payload, self._clock()))
                handle.write((b"" if ends_cleanly else b"\n") + line.encode("ascii") + b"\n")
                handle.flush()
                if self.options.fsync:
                    os.fsync(handle.fileno())
                self._offset = handle.tell()
                self._keys.add(key)
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return DeliveryResult(external_ref=key, created=True)

    def _catch_up(self, handle: IO[bytes]) -> bool:
        """Index lines appended since the last look; False if the file ends mid-line."""
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        if size < self._offset:  # truncated or replaced: start over
            self._keys.clear()
            self._offset = 0
        handle.seek(self._offset)
        data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]
        for raw in complete.splitlines():
            self._index_line(raw)
        self._offset += len(complete)
        return len(complete) == len(data)

    def _index_line(self, raw: bytes) -> None:
        if not raw.strip():
            return
        try:
            key = json.loads(raw).get("idempotency_key")
        except (ValueError, AttributeError):
            log.warning("jsonl sink %r: skipping a malformed line in %s", self.name, self.path)
            return
        if isinstance(key, str):
            self._keys.add(key)
