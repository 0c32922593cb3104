"""ReplaySource: JSONL/CSV reading, cursors, quarantine, loop, pace and the bundled sample."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import tracemalloc
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from listener.sources import replay as replay_module
from listener.sources.replay import ReplaySource
from listener.types import Batch, Source
from socialear.errors import NotConfigured, PermanentError

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "replay"
SAMPLE = ROOT / "samples" / "mentions.jsonl"


def drain(source: ReplaySource, cursor: str | None = None, limit: int = 10_000) -> list[Batch]:
    """Fetch until the source says it is exhausted."""
    batches = []
    for _ in range(limit):
        batch = source.fetch(cursor)
        batches.append(batch)
        cursor = batch.next_cursor
        if batch.exhausted:
            return batches
    raise AssertionError("source never reported exhausted")


def cursor_of(batch: Batch) -> str:
    if batch.next_cursor is None:
        raise AssertionError("a replay batch always carries a cursor")
    return batch.next_cursor


def ids(batches: list[Batch]) -> list[str]:
    return [m.external_id for b in batches for m in b.mentions]


# ------------------------------------------------------------------ reading


def test_is_a_source_and_describes_itself() -> None:
    source = ReplaySource("demo", FIXTURES / "small.jsonl")
    assert isinstance(source, Source)
    assert (ReplaySource.type, ReplaySource.needs) == ("replay", ())
    assert ReplaySource.description
    assert source.platform == "replay"


def test_jsonl_records_become_mentions() -> None:
    batch = ReplaySource("demo", FIXTURES / "small.jsonl").fetch(None)
    assert batch.quarantined == []
    assert batch.exhausted is True
    assert batch.stats == {}  # fetched/quarantined are counted by the pipeline, not here
    by_id = {m.external_id: m for m in batch.mentions}
    assert list(by_id) == ["x-1", "x-2", "appstore-3", "4", "x-5", "reddit-t3_6", "tp-7"]

    first = by_id["x-1"]
    assert first.source == "demo"
    assert first.platform == "x"  # the record's platform beats the source's
    assert first.created_at == datetime(2026, 11, 18, 8, 15, tzinfo=UTC)
    assert (first.author.handle, first.author.name, first.author.external_id) == (
        "jen_k",
        "Jen K",
        "u123",
    )
    assert (first.author.platform, first.author.followers, first.author.verified) == (
        "x",
        120,
        False,
    )
    assert (first.url, first.lang, first.engagement, first.conversation_id) == (
        "https://x.com/jen_k/status/1",
        "en",
        3,
        "x-1",
    )

    reply = by_id["x-2"]
    assert (reply.in_reply_to, reply.in_reply_to_user) == ("x-1", "jen_k")

    review = by_id["appstore-3"]
    assert review.text == "Logs me out every time <script>alert(1)</script>"  # verbatim
    assert (review.rating, review.title, review.author.handle) == (1.0, "Logs me out", "reviewer9")
    assert review.created_at == datetime(2026, 11, 18, 8, 0, tzinfo=UTC)  # +01:00 → UTC

    bare = by_id["4"]
    assert bare.platform == "replay"  # no platform in the record: the source's
    assert bare.author.handle == "unknown"
    assert bare.created_at.tzinfo is not None  # naive times are taken as UTC
    assert bare.extra["campaign"] == "demo"  # unknown keys are kept, not dropped
    assert bare.extra["replay"] == {"line": 4, "pass": 1}

    repost = by_id["x-5"]
    assert repost.is_repost is True
    assert (repost.author.followers, repost.author.verified) == (15, True)


def test_csv_records_become_mentions() -> None:
    batch = ReplaySource("csv", FIXTURES / "mentions.csv").fetch(None)
    assert [m.external_id for m in batch.mentions][:2] == ["csv-1", "csv-2"]
    first, second, third = batch.mentions
    assert first.text == "No signal in Leeds, 3 hours on hold @NimbusMobile"
    assert (first.platform, first.author.handle, first.author.name) == ("x", "jen_k", "Jen K")
    assert (first.author.followers, first.author.verified, first.rating) == (120, False, None)
    assert first.extra["campaign"] == "demo"
    # a quoted field spanning two lines, with doubled quotes inside
    assert second.text == 'Charged twice.\nRefund took "three" weeks.'
    assert (second.rating, second.title, second.author.followers) == (2.0, "Slow refund", 0)
    # no id: a stable one from line number + content; the record starts on physical line 5
    assert third.external_id.startswith("csv-L5-")
    assert (third.author.followers, third.author.verified, third.rating) == (7, True, 4.0)
    assert [q.error for q in batch.quarantined] == ["line 6: author.followers: not a whole number: 'lots'"]


def test_csv_with_only_a_text_column_gets_stable_ids() -> None:
    first = ReplaySource("t", FIXTURES / "text_only.csv").fetch(None)
    again = ReplaySource("t", FIXTURES / "text_only.csv").fetch(None)
    assert [m.text for m in first.mentions] == [
        "Nimbus Mobile, please sort the signal in Otley",
        "Arcwave price rise again",
        "Telvio app is great",
    ]
    assert [m.external_id for m in first.mentions] == [m.external_id for m in again.mentions]
    assert [m.external_id.split("-")[1] for m in first.mentions] == ["L2", "L3", "L5"]
    assert len({m.external_id for m in first.mentions}) == 3
    assert all(m.author.handle == "unknown" and m.platform == "replay" for m in first.mentions)


def test_csv_without_text_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("id,body\n1,hello\n", encoding="utf-8")
    with pytest.raises(PermanentError, match="no 'text' column"):
        ReplaySource("bad", path).fetch(None)


def test_format_is_detected_from_content_when_the_extension_says_nothing(tmp_path: Path) -> None:
    jsonl = tmp_path / "feed.txt"
    jsonl.write_text('{"id": "a", "text": "Nimbus"}\n', encoding="utf-8")
    csv_file = tmp_path / "feed.dat"
    csv_file.write_text("text\nNimbus\n", encoding="utf-8")
    assert ids([ReplaySource("j", jsonl).fetch(None)]) == ["a"]
    assert [m.text for m in ReplaySource("c", csv_file).fetch(None).mentions] == ["Nimbus"]


# ------------------------------------------------------------------- cursor


def test_cursor_resumes_in_a_new_instance_without_repeats() -> None:
    path = FIXTURES / "small.jsonl"
    first = ReplaySource("demo", path, batch_size=2)
    batches = []
    cursor = None
    for _ in range(3):
        batch = first.fetch(cursor)
        batches.append(batch)
        cursor = batch.next_cursor
        assert batch.exhausted is False
    assert ids(batches) == ["x-1", "x-2", "appstore-3", "4", "x-5", "reddit-t3_6"]

    restarted = ReplaySource("demo", path, batch_size=2)  # e.g. after a crash
    rest = restarted.fetch(cursor)
    assert ids([rest]) == ["tp-7"]
    assert rest.exhausted is True
    # nothing new: same cursor, nothing twice
    after = restarted.fetch(rest.next_cursor)
    assert (after.mentions, after.next_cursor, after.exhausted) == ([], rest.next_cursor, True)


def test_cursor_is_byte_offset_and_line_count() -> None:
    path = FIXTURES / "small.jsonl"
    batch = ReplaySource("demo", path, batch_size=2).fetch(None)
    offset, lines = (int(p) for p in cursor_of(batch).split(":"))
    assert lines == 2
    assert offset == sum(len(line) for line in path.read_bytes().splitlines(keepends=True)[:2])


def test_a_bare_line_count_cursor_is_accepted() -> None:
    batch = ReplaySource("demo", FIXTURES / "small.jsonl", batch_size=2).fetch("5")
    assert ids([batch]) == ["reddit-t3_6", "tp-7"]


def test_an_offset_that_is_no_longer_a_line_start_falls_back_to_the_line_count() -> None:
    # the file was replaced: byte 7 is mid-line, so the 5 lines consumed are what counts
    batch = ReplaySource("demo", FIXTURES / "small.jsonl").fetch("7:5")
    assert ids([batch]) == ["reddit-t3_6", "tp-7"]


def test_an_unreadable_cursor_is_a_permanent_error() -> None:
    with pytest.raises(PermanentError, match="cannot read cursor 'abc'"):
        ReplaySource("demo", FIXTURES / "small.jsonl").fetch("abc")


def test_csv_cursor_resumes_after_the_header() -> None:
    source = ReplaySource("t", FIXTURES / "text_only.csv", batch_size=1)
    batches = drain(source)
    texts = [m.text for b in batches for m in b.mentions]
    assert texts == [
        "Nimbus Mobile, please sort the signal in Otley",
        "Arcwave price rise again",
        "Telvio app is great",
    ]


# --------------------------------------------------------------- quarantine


def test_malformed_lines_are_quarantined_with_line_numbers_and_the_rest_kept() -> None:
    batch = ReplaySource("bad", FIXTURES / "malformed.jsonl").fetch(None)
    assert ids([batch]) == ["m-1", "m-6", "m-9"]
    errors = [q.error for q in batch.quarantined]
    assert errors == [
        "line 2: not valid JSON: Expecting ',' delimiter (column 38)",
        "line 3: text: missing",
        "line 5: author.followers: not a whole number: 'lots'",
        "line 6: created_at: not an ISO 8601 time: 'yesterday'",
        "line 7: expected a JSON object, got a list",
        "line 9: rating: must be between 1 and 5: 7",
        "line 10: id: missing",
        "line 11: is_repost: not true/false: 'maybe'",
    ]
    lines = (FIXTURES / "malformed.jsonl").read_text(encoding="utf-8").splitlines()
    for item in batch.quarantined:
        line_no = int(item.error.split(":")[0].removeprefix("line "))
        assert item.payload == lines[line_no - 1]  # kept verbatim for a human to fix
        assert item.source == "bad"
    assert [q.external_id for q in batch.quarantined][:3] == [None, "m-3", "m-4"]


def test_quarantined_items_count_towards_the_batch_and_the_cursor_moves_past_them() -> None:
    source = ReplaySource("bad", FIXTURES / "malformed.jsonl", batch_size=4)
    batches = drain(source)
    assert ids(batches) == ["m-1", "m-6", "m-9"]
    assert sum(len(b.quarantined) for b in batches) == 8


def test_invalid_utf8_and_overlong_lines_are_quarantined(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replay_module, "MAX_LINE_BYTES", 100)
    path = tmp_path / "odd.jsonl"
    path.write_bytes(
        b'{"id": "a", "text": "fine"}\n'
        b'{"id": "b", "text": "caf\xe9"}\n'
        b'{"id": "c", "text": "' + b"x" * 300 + b'"}\n'
        b'{"id": "d", "text": "fine too"}\n'
    )
    batch = ReplaySource("odd", path).fetch(None)
    assert ids([batch]) == ["a", "d"]
    assert [q.error for q in batch.quarantined] == [
        "line 2: not valid UTF-8 at byte 25",
        "line 3: line longer than 100 bytes",
    ]


# ------------------------------------------------------------ loop and pace


def test_loop_restarts_with_suffixed_ids() -> None:
    source = ReplaySource("demo", FIXTURES / "small.jsonl", batch_size=5, loop=True)
    first, second, third = source.fetch(None), None, None
    assert first.exhausted is False
    second = source.fetch(first.next_cursor)
    assert ids([second]) == ["reddit-t3_6", "tp-7"]
    assert second.exhausted is True  # a pass ends a poll burst; no tight loop
    assert second.stats == {"replay/restarted": 1}
    third = source.fetch(second.next_cursor)
    assert ids([third]) == [
        "x-1#loop2",
        "x-2#loop2",
        "appstore-3#loop2",
        "4#loop2",
        "x-5#loop2",
    ]
    reply = third.mentions[1]
    assert (reply.in_reply_to, reply.conversation_id) == ("x-1#loop2", "x-1#loop2")
    assert reply.extra["replay"] == {"line": 2, "pass": 2}
    assert cursor_of(third).endswith(":2")
    # a new instance carries on in pass 2 from the stored cursor
    fourth = ReplaySource("demo", FIXTURES / "small.jsonl", batch_size=5, loop=True).fetch(third.next_cursor)
    assert ids([fourth]) == ["reddit-t3_6#loop2", "tp-7#loop2"]


def test_loop_over_an_empty_file_does_not_spin(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    batch = ReplaySource("e", path, loop=True).fetch(None)
    assert (batch.mentions, batch.exhausted) == ([], True)


def test_pace_releases_records_as_their_slots_come_due() -> None:
    now = [1000.0]
    source = ReplaySource("live", FIXTURES / "small.jsonl", batch_size=3, pace=10.0, clock=lambda: now[0])
    first = source.fetch(None)
    assert (ids([first]), first.exhausted) == (["x-1"], True)  # at least one, then wait
    now[0] += 5
    second = source.fetch(first.next_cursor)
    assert ids([second]) == ["x-2"]  # not due yet, but a fetch always releases one
    now[0] += 60  # slots for records 3..7 have elapsed; batch_size caps the release
    third = source.fetch(second.next_cursor)
    assert ids([third]) == ["appstore-3", "4", "x-5"]
    assert third.exhausted is False  # more are already due: poll again soon


# ----------------------------------------------------------------- config and errors


def test_missing_file_is_a_permanent_error_naming_the_path(tmp_path: Path) -> None:
    source = ReplaySource("gone", tmp_path / "nope.jsonl")  # constructing never fails
    with pytest.raises(PermanentError, match=r"replay source 'gone': file not found: .*nope\.jsonl"):
        source.fetch(None)


def test_a_directory_is_a_permanent_error(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="is a directory"):
        ReplaySource("dir", tmp_path, format="jsonl").fetch(None)


def test_from_options_validates_and_builds() -> None:
    source = ReplaySource.from_options(
        "sample",
        {"path": str(FIXTURES / "small.jsonl"), "batch_size": 3, "loop": True, "platform": "demo"},
    )
    assert (source.name, source.batch_size, source.loop, source.platform) == (
        "sample",
        3,
        True,
        "demo",
    )
    assert ids([source.fetch(None)]) == ["x-1", "x-2", "appstore-3"]


def test_from_options_refuses_unknown_and_invalid_keys() -> None:
    with pytest.raises(NotConfigured) as err:
        ReplaySource.from_options("s", {"path": "x.jsonl", "batchsize": 3, "pace": -1})
    message = str(err.value)
    assert message.startswith("replay source 's': invalid options: ")
    assert "batchsize: Extra inputs are not permitted" in message
    assert "pace: Input should be greater than or equal to 0" in message
    with pytest.raises(NotConfigured, match="path: Field required"):
        ReplaySource.from_options("s", {})


# ----------------------------------------------------------------- big files


def test_memory_stays_flat_on_a_large_file(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    line = json.dumps({"id": "{}", "text": "Nimbus " + "x" * 150})
    with path.open("w", encoding="utf-8") as fh:
        for n in range(60_000):  # ~10 MB
            fh.write(line.replace('"{}"', f'"b-{n}"') + "\n")
    size = path.stat().st_size
    source = ReplaySource("big", path, batch_size=50)
    tracemalloc.start()
    try:
        first = source.fetch(None)
        offset = int(cursor_of(first).split(":")[0])
        near_end = f"{size - (size // 60_000) * 3}:{60_000 - 3}"
        last = source.fetch(near_end)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert offset < 20_000
    assert ids([last]) == ["b-59997", "b-59998", "b-59999"]
    assert peak < 1_000_000  # a 10 MB file is never held in memory


# ----------------------------------------------------------- bundled sample


def test_bundled_sample_feed_parses_cleanly_and_covers_the_demo() -> None:
    batches = drain(ReplaySource("sample", SAMPLE, batch_size=100))
    mentions = [m for b in batches for m in b.mentions]
    assert sum(len(b.quarantined) for b in batches) == 0
    assert len(mentions) >= 500
    assert {m.platform for m in mentions} == {
        "x",
        "reddit",
        "appstore",
        "googleplay",
        "trustpilot",
        "rss",
    }
    counts = Counter(m.external_id for m in mentions)
    assert sum(n - 1 for n in counts.values()) >= 5  # re-delivered records for dedupe
    assert len({m.lang for m in mentions} - {"en"}) >= 5  # es, fr, de, pl, cy
    assert sum(m.lang != "en" for m in mentions) >= 25
    assert sum(m.is_repost and m.text.startswith("RT @") for m in mentions) >= 10
    reviews = [m for m in mentions if m.platform in ("appstore", "googleplay", "trustpilot")]
    assert all(m.rating in (1, 2, 3, 4, 5) and m.title for m in reviews)
    threads = Counter(m.conversation_id for m in mentions if m.in_reply_to)
    assert max(threads.values()) >= 10  # the outage pile-on
    dates = {m.created_at.date().isoformat() for m in mentions}
    assert min(dates) >= "2026-10-25" and max(dates) <= "2026-11-21"  # 3 background weeks + 1
    start = datetime(2026, 10, 25, tzinfo=UTC)
    weeks = Counter((m.created_at - start).days // 7 for m in mentions if "arcwave" in m.text.lower())
    assert len(weeks) >= 4 and min(weeks.values()) >= 20  # competitors every week, not one burst
    outage_day = [m for m in mentions if m.created_at.date().isoformat() == "2026-11-19"
                  and "arcwave" in m.text.lower() and 7 <= m.created_at.hour < 13]
    assert len(outage_day) >= 25  # Arcwave's outage: the competitor spike the report shows
    brands = Counter("nimbus" if "nimbus" in m.text.lower() else "competitor" for m in mentions)
    assert brands["nimbus"] > brands["competitor"]


def test_bundled_sample_is_byte_for_byte_what_the_build_script_makes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = ROOT / "samples" / "build_samples.py"
    spec = importlib.util.spec_from_file_location("build_samples", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "build_samples", module)  # dataclasses look it up
    spec.loader.exec_module(module)
    records, _ = module.build()
    built = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    assert built == SAMPLE.read_text(encoding="utf-8")


def test_sample_can_be_copied_and_replayed_from_any_path(tmp_path: Path) -> None:
    copy = tmp_path / "feed"  # no extension: detected as JSONL from the content
    shutil.copy(SAMPLE, copy)
    batch = ReplaySource("copy", copy, batch_size=10).fetch(None)
    assert len(batch.mentions) == 10 and batch.exhausted is False


# ----------------------------------------------------------- shift to now


def test_shift_to_now_dates_the_newest_record_now_and_keeps_the_gaps() -> None:
    now = datetime(2030, 1, 2, 12, 0, tzinfo=UTC)
    plain = [m for b in drain(ReplaySource("s", SAMPLE, batch_size=500)) for m in b.mentions]
    shifted_src = ReplaySource("s", SAMPLE, batch_size=500, shift_to_now=True, wall_clock=lambda: now)
    batches = drain(shifted_src)
    shifted = [m for b in batches for m in b.mentions]
    assert max(m.created_at for m in shifted) == now
    gaps = {(b.created_at - a.created_at) for a, b in zip(plain, shifted, strict=True)}
    assert len(gaps) == 1  # one fixed shift: every rhythm and spike stays as recorded
    assert all(cursor_of(b).endswith(f"@{int(gaps.pop().total_seconds())}") for b in batches[:1])


def test_shift_is_chosen_once_and_carried_by_the_cursor_across_restarts() -> None:
    clock = [datetime(2030, 1, 2, 12, 0, tzinfo=UTC)]
    first = ReplaySource("s", SAMPLE, batch_size=100, shift_to_now=True, wall_clock=lambda: clock[0])
    batch = first.fetch(None)
    cursor = cursor_of(batch)
    clock[0] = datetime(2030, 3, 1, tzinfo=UTC)  # a restart two months later
    restarted = ReplaySource("s", SAMPLE, batch_size=100, shift_to_now=True, wall_clock=lambda: clock[0])
    rest = [m for b in drain(restarted, cursor) for m in b.mentions]
    assert max(m.created_at for m in rest) == datetime(2030, 1, 2, 12, 0, tzinfo=UTC)
    assert ReplaySource.offset_of(cursor) > 0


def test_without_the_option_times_are_as_recorded_and_cursors_unchanged() -> None:
    batch = ReplaySource("s", SAMPLE, batch_size=10).fetch(None)
    assert "@" not in cursor_of(batch)
    assert min(m.created_at for m in batch.mentions).year == 2026


def test_shift_to_now_is_a_rules_option(tmp_path: Path) -> None:
    source = ReplaySource.from_options("s", {"path": str(SAMPLE), "shift_to_now": True})
    assert source.shift_to_now is True
