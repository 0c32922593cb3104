"""`storable_text`: half an emoji or a NUL becomes U+FFFD; everything else is left exactly as it was."""

from __future__ import annotations

import json

import pytest

from listener.types import Author, Mention, Quarantined, storable_json, storable_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain ascii", "plain ascii"),
        ("café 😀 ★", "café 😀 ★"),
        ("cut \ud83d here", "cut \ufffd here"),  # a high surrogate alone
        ("\udc00 low first", "\ufffd low first"),
        ("pair \ud83d\ude00 as code points", "pair 😀 as code points"),
        ("end \ud83d", "end \ufffd"),
        ("nul\x00 byte", "nul\ufffd byte"),  # PostgreSQL refuses NUL in text and JSON
        ("é\x00\ud83d", "é\ufffd\ufffd"),
        ("", ""),
    ],
)
def test_storable_text(raw: str, expected: str) -> None:
    fixed = storable_text(raw)
    assert fixed == expected
    fixed.encode("utf-8")  # always encodable


def test_storable_text_returns_the_same_object_when_nothing_is_wrong() -> None:
    text = "café 😀"
    assert storable_text(text) is text


def test_json_escapes_reach_every_string() -> None:
    value = json.loads('{"a": "\\ud83d", "\\udc00": ["x", {"b": "\\ud83d\\ude00"}], "n": 3, "f": null}')
    assert storable_json(value) == {"a": "\ufffd", "\ufffd": ["x", {"b": "😀"}], "n": 3, "f": None}


def test_clean_json_is_returned_as_is() -> None:
    value = {"a": ["x", ("y", 1)], "b": {"c": "café"}}
    assert storable_json(value) is value
    broken = {"a": ("y", "\ud83d")}
    assert storable_json(broken) == {"a": ("y", "\ufffd")}


def test_the_value_objects_repair_themselves() -> None:
    from datetime import UTC, datetime

    author = Author(platform="x", handle="h\udc00", name="Amy \ud83d")
    mention = Mention(
        source="s",
        platform="x",
        external_id="1",
        text="no signal \ud83d",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        author=author,
        title="t \udc00",
        extra={"k": "\ud83d"},
    )
    assert (mention.text, mention.title, mention.extra) == ("no signal \ufffd", "t \ufffd", {"k": "\ufffd"})
    assert (author.handle, author.name) == ("h\ufffd", "Amy \ufffd")
    q = Quarantined(source="s", payload='{"text": "\ud83d"}', error="bad \udc00", external_id="\ud83d")
    assert (q.payload, q.error, q.external_id) == ('{"text": "\ufffd"}', "bad \ufffd", "\ufffd")
