"""JsonlSink: one line per key, across instances, surviving a torn last line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from responders.sinks.jsonl import JsonlSink
from socialear.errors import RetryableError


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="ascii").splitlines()


def test_appends_one_line_per_key(tmp_path, make_payload):
    path = tmp_path / "data" / "escalations.jsonl"
    sink = JsonlSink.from_options("file", {"path": str(path)})

    first = sink.deliver(make_payload())
    again = sink.deliver(make_payload())

    assert (first.external_ref, first.created) == ("esc-1-zendesk", True)
    assert (again.external_ref, again.created) == ("esc-1-zendesk", False)
    [line] = lines(path)
    assert json.loads(line)["idempotency_key"] == "esc-1-zendesk"


def test_idempotent_across_instances(tmp_path, make_payload):
    path = tmp_path / "escalations.jsonl"
    a = JsonlSink.from_options("a", {"path": str(path)})
    b = JsonlSink.from_options("b", {"path": str(path)})

    assert a.deliver(make_payload(idempotency_key="k1")).created is True
    assert b.deliver(make_payload(idempotency_key="k1")).created is False  # scans on first use
    assert b.deliver(make_payload(idempotency_key="k2")).created is True
    assert a.deliver(make_payload(idempotency_key="k2")).created is False  # catches up on b's line
    restarted = JsonlSink.from_options("a", {"path": str(path)})
    assert restarted.deliver(make_payload(idempotency_key="k2")).created is False

    assert [json.loads(x)["idempotency_key"] for x in lines(path)] == ["k1", "k2"]


def test_torn_last_line_is_skipped_and_not_glued(tmp_path, make_payload):
    path = tmp_path / "escalations.jsonl"
    JsonlSink.from_options("a", {"path": str(path)}).deliver(make_payload(idempotency_key="k1"))
    with open(path, "ab") as handle:
        handle.write(b'{"event":"escalation.created","idempotency_key":"k-torn"')  # crash mid-write

    sink = JsonlSink.from_options("b", {"path": str(path)})
    assert sink.deliver(make_payload(idempotency_key="k2")).created is True

    raw = lines(path)
    assert len(raw) == 3
    assert json.loads(raw[2])["idempotency_key"] == "k2"
    assert sink.deliver(make_payload(idempotency_key="k1")).created is False


def test_hostile_text_round_trips(tmp_path, make_payload, hostile_text):
    path = tmp_path / "escalations.jsonl"
    JsonlSink.from_options("a", {"path": str(path)}).deliver(make_payload(mention={"text": hostile_text}))
    [line] = lines(path)  # one line: newlines in the text are escaped
    assert json.loads(line)["escalation"]["mention"]["text"] == hostile_text


def test_unwritable_path_is_retryable(tmp_path, make_payload):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    sink = JsonlSink.from_options("a", {"path": str(blocker / "sub" / "e.jsonl")})
    with pytest.raises(RetryableError, match="cannot write"):
        sink.deliver(make_payload())
