"""The stored form of a routing trace (socialear.trace): positional rows that read back
as the objects the console shows and sinks are sent, whichever form a row was stored in."""

from __future__ import annotations

import json

from socialear.trace import compact, expand

TRACE = [
    {"route": "drop-spam", "matched": False, "conditions": [
        {"condition": "text", "expected": "(crypto|giveaway)", "actual": None, "ok": False}]},
    {"route": "complaint", "matched": True, "conditions": [
        {"condition": "brand", "expected": ["own"], "actual": "Nimbus Mobile (own)", "ok": True},
        {"condition": "urgency", "expected": ">= 80", "actual": 91, "ok": True}]},
]


def test_the_stored_rows_read_back_as_the_trace_and_are_smaller() -> None:
    rows = compact(TRACE)
    assert rows[0] == ["drop-spam", False, [["text", "(crypto|giveaway)", None, False]]]
    stored = json.loads(json.dumps(rows))  # as the database hands it back
    assert expand(stored) == TRACE
    assert len(json.dumps(rows)) < 0.6 * len(json.dumps(TRACE))


def test_a_trace_stored_as_objects_reads_unchanged() -> None:
    assert expand(TRACE) == TRACE
    assert expand([TRACE[0], *compact(TRACE[1:])]) == TRACE  # a mix, as a hand-edited row might be


def test_no_trace_or_a_damaged_one_reads_as_what_can_be_read() -> None:
    assert expand(None) == [] and expand({}) == [] and expand("[]") == []
    # a step of the wrong length is left out; a condition of the wrong shape is kept as it is
    assert expand([["only-two", True], ["r", True, [["c", 1]]]]) == [
        {"route": "r", "matched": True, "conditions": [["c", 1]]}]
    assert expand([["r", False, None]]) == [{"route": "r", "matched": False, "conditions": []}]
