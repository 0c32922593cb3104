"""Hostile records through the replay source and the pipeline (finding 2 of issue 14).

A seeded random mix of good records and hostile ones (deep nesting, huge fields, odd
types, invalid Unicode, numbers and dates no database can hold, ids and handles over
their column limits) is collected on SQLite and PostgreSQL. Each hostile record is
either stored, fitted by the documented rule (`storable_id`, clamped counts), or
quarantined alone; every good record is stored, and the source's cursor reaches the end.
Before, a record nested 5,000 deep raised RecursionError out of `fetch` and the source
never advanced; on PostgreSQL an id over 255 characters failed its batch forever.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from listener.collector import Collector
from listener.types import COUNT_LIMIT, ID_LIMIT, storable_id
from responders.publish import PipelineResponders
from socialear.config import RulesConfig
from storage import models as t
from storage.dialect import table

STORED, QUARANTINED = "stored", "quarantined"
Build = Callable[[random.Random, int], tuple[bytes, str, str | None]]


def record(i: int, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": f"r{i}",
        "platform": "x",
        "text": f"@NimbusMobile no signal again, post {i}",
        "created_at": "2026-11-20T08:00:00Z",
        "author": {"handle": f"user{i}", "followers": 10},
    }
    base.update(fields)
    return base


def line(value: Any) -> bytes:
    return json.dumps(value).encode()


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def good(rng: random.Random, i: int) -> tuple[bytes, str, str | None]:
    return line(record(i)), STORED, f"r{i}"


def deep_bad(rng: random.Random, i: int) -> tuple[bytes, str, str | None]:
    depth = rng.choice([32, 40, 999, 5000, 60_000])
    raw = b'{"id": "r%d", "text": "Nimbus", "meta": ' % i + b"[" * depth + b"]" * depth + b"}"
    return raw, QUARANTINED, None


def deep_ok(rng: random.Random, i: int) -> tuple[bytes, str, str | None]:
    return line(record(i, meta=nested(rng.randint(1, 31)))), STORED, f"r{i}"


def long_id(rng: random.Random, i: int) -> tuple[bytes, str, str | None]:
    ident = "id" * rng.randint(128, 4000) + str(i)
    return line(record(i, id=ident)), STORED, storable_id(ident)


def long_people(rng: random.Random, i: int) -> tuple[bytes, str, str | None]:
    author = {
        "handle": f"h{i}" + "h" * rng.randint(256, 3000),
        "name": "N" * rng.randint(256, 50_000),
        "id": "9" * rng.randint(256, 1000),
        "followers": 10 ** rng.randint(10, 40),
    }
    fields = {"author": author, "in_reply_to": "p" * rng.randint(256, 2000), "conversation_id": "c" * 300}
    fields["lang"] = "en-" * rng.randint(6, 100)
    fields["engagement"] = 10 ** rng.randint(10, 30)
    return line(record(i, **fields)), STORED, f"r{i}"


def huge_text(rng: random.Random, i: int) -> tuple[bytes, str, str | None]:
    text = "Nimbus no signal " + "again and " * rng.randint(1_000, 60_000)
    return line(record(i, text=text)), STORED, f"r{i}"


def too_long(rng: random.Random, i: int) -> tuple[bytes, str, str | None]:
    return line(record(i, text="Nimbus " + "x" * (1 << 20))), QUARANTINED, None


def odd_types(rng: random.Random, i: int) -> tuple[bytes, str, str | None]:
    field, value = rng.choice(
        [
            ("text", [1]), ("text", 5), ("text", {"a": 1}), ("text", None), ("text", True), ("text", " "),
            ("id", 1.5), ("id", [1]), ("id", {"x": 1}), ("id", True),
            ("author", [1, 2]), ("author", 5), ("author", True),
            ("created_at", 12345), ("created_at", "yesterday"), ("created_at", "0001-01-01T00:00:00+01:00"),
            ("created_at", "9999-12-31T23:59:59-01:00"), ("rating", "lots"), ("rating", 9),
            ("engagement", {"likes": 1}), ("engagement", -3), ("is_repost", "perhaps"),
            ("platform", "p" * 33), ("platform", ["x"]), ("url", ["http://x"]),
        ]
    )  # fmt: skip
    return line(record(i, **{field: value})), QUARANTINED, None


def bad_author_fields(rng: random.Random, i: int) -> tuple[bytes, str, str | None]:
    author = rng.choice([{"handle": "a", "followers": "lots"}, {"handle": ["a"]}, {"handle": "a", "verified": 2}])
    return line(record(i, author=author)), QUARANTINED, None


def bad_numbers(rng: random.Random, i: int) -> tuple[bytes, str, str | None]:
    body = line(record(i))[:-1]
    extra = rng.choice([b"NaN", b"Infinity", b"-Infinity", b"1e400", b"1" * 5000])
    return body + b', "score": ' + extra + b"}", QUARANTINED, None


def bad_unicode(rng: random.Random, i: int) -> tuple[bytes, str, str | None]:
    body = line(record(i, text="Nimbus no signal PLACEHOLDER"))
    garbage = rng.choice([b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80"])
    return body.replace(b"PLACEHOLDER", garbage), QUARANTINED, None


def repaired_unicode(rng: random.Random, i: int) -> tuple[bytes, str, str | None]:
    escape = rng.choice(["\\ud83d", "\\u0000", "\\udfff\\ud800", "\\ud83d\\ude00"])
    body = line(record(i, text="Nimbus no signal PLACEHOLDER", id=f"r{i}PLACEHOLDER"))
    return body.replace(b"PLACEHOLDER", escape.encode()), STORED, None


def not_an_object(rng: random.Random, i: int) -> tuple[bytes, str, str | None]:
    raw = rng.choice([b"[1, 2]", b"42", b'"text"', b"null", b'{"id": "t', b"{", b"}{"])
    return raw, QUARANTINED, None


KINDS: list[Build] = [
    deep_bad, deep_ok, long_id, long_people, huge_text, too_long, odd_types, bad_author_fields,
    bad_numbers, bad_unicode, repaired_unicode, not_an_object,
]  # fmt: skip


def hostile_feed(path: Path, seed: int, n: int = 90) -> tuple[set[str], int, int]:
    """Write the feed; return the ids that must be stored, how many records must be
    stored in all, and how many must be quarantined."""
    rng = random.Random(seed)
    must_store: set[str] = set()
    stored = quarantined = 0
    lines = []
    for i in range(n):
        build = good if rng.random() < 0.4 else rng.choice(KINDS)
        raw, outcome, ident = build(rng, i)
        lines.append(raw)
        if outcome == STORED:
            stored += 1
            if ident is not None:
                must_store.add(ident)
        else:
            quarantined += 1
    for kind in KINDS:  # every kind at least once, whatever the seed drew
        raw, outcome, ident = kind(rng, n)
        lines.append(raw)
        n += 1
        stored, quarantined = stored + (outcome == STORED), quarantined + (outcome == QUARANTINED)
        if outcome == STORED and ident is not None:
            must_store.add(ident)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return must_store, stored, quarantined


@pytest.mark.parametrize("seed", [14, 2026])
def test_hostile_records_are_quarantined_alone_and_the_source_advances(
    engine: Engine, make_rules: Callable[..., RulesConfig], tmp_path: Path, seed: int
) -> None:
    feed = tmp_path / "hostile.jsonl"
    must_store, n_stored, n_quarantined = hostile_feed(feed, seed)
    rules = make_rules(feed, tmp_path / "sink.jsonl")
    collector = Collector(engine, lambda: rules, instance_id="test", responders=PipelineResponders())
    for _ in range(10):  # a poll drains at most 50 batches of 4
        outcome = collector.poll("feed")
        assert outcome.ok, outcome.error
        if outcome.batches < 50:
            break

    mt, qt, at, st = table(t.Mention), table(t.Quarantine), table(t.Author), table(t.SourceState)
    with engine.connect() as conn:
        ids = set(conn.execute(sa.select(mt.c.external_id)).scalars())
        n_quarantine_rows = conn.execute(sa.select(sa.func.count()).select_from(qt)).scalar()
        cursor = conn.execute(sa.select(st.c.cursor).where(st.c.source == "feed")).scalar()
        longest_handle = conn.execute(sa.select(sa.func.max(sa.func.length(at.c.handle)))).scalar()
        followers = conn.execute(sa.select(sa.func.max(at.c.followers))).scalar()
        engagement = conn.execute(sa.select(sa.func.max(mt.c.engagement))).scalar()
    assert must_store <= ids
    assert len(ids) == n_stored
    assert n_quarantine_rows == n_quarantined
    assert cursor is not None and int(cursor.split(":")[0]) == feed.stat().st_size
    assert all(len(i) <= ID_LIMIT for i in ids) and longest_handle <= ID_LIMIT
    assert followers <= COUNT_LIMIT and engagement <= COUNT_LIMIT


@pytest.mark.parametrize("step", ["prepare", "complete"])  # the history-free half, and the rest
def test_a_mention_the_analysis_raises_on_is_quarantined(
    step: str, engine: Engine, make_rules: Callable[..., RulesConfig], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Defence in depth: whatever the scorer raises on one mention, its batch is stored."""
    from listener.analysis import Analyzer

    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"\n".join(line(record(i)) for i in range(6)) + b"\n")
    real = getattr(Analyzer, step)

    def flaky(self: Analyzer, m: Any, *args: Any, **kw: Any) -> Any:
        if m.external_id == "r3":
            raise RecursionError("maximum recursion depth exceeded")
        return real(self, m, *args, **kw)

    monkeypatch.setattr(Analyzer, step, flaky)
    rules = make_rules(feed, tmp_path / "sink.jsonl")
    outcome = Collector(engine, lambda: rules, instance_id="test", responders=PipelineResponders()).poll("feed")
    assert outcome.ok and outcome.result.stored == 5 and outcome.result.quarantined == 1
    qt = table(t.Quarantine)
    with engine.connect() as conn:
        row = conn.execute(sa.select(qt.c.external_id, qt.c.error, qt.c.payload)).one()
    assert row.external_id == "r3" and "RecursionError" in row.error and "post 3" in row.payload
