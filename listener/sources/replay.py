"""ReplaySource: replays a JSONL or CSV file of recorded mentions as if it were a platform.

It powers the bundled sample feed (`samples/mentions.jsonl`), demos with no API keys, and
`rules replay` style experiments over an export. It does file I/O and normalisation only.

Input formats
-------------
* JSONL: one JSON object per line with the keys `id`, `platform`, `text`, `created_at`,
  `author` ({handle, name, id, followers, verified} or just a handle string), `url`, `lang`,
  `rating`, `title`, `in_reply_to`, `in_reply_to_user`, `conversation_id`, `engagement`,
  `is_repost`. Only `id` and `text` are required. Unknown keys are kept in `Mention.extra`.
* CSV: a header row, then one mention per record. Only a `text` column is required. The
  same names as JSONL are used, flattened for the author: `author` or `author_handle`,
  `author_name`, `author_id`, `followers` or `author_followers`, `verified` or
  `author_verified`. A record without an `id` gets a stable one derived from its line
  number and content (`csv-L<line>-<sha256[:12]>`), so re-reading the file gives the same ids.

A record's own `platform` overrides the source's `platform`, which is how one sample file
shows X, Reddit and review-site mentions side by side.

Cursor
------
Opaque to the pipeline, but readable: `"<byte offset>:<lines consumed>"`, plus
`":<pass>"` from the second pass of a looping source (e.g. `"18244:57"`, `"0:0:3"`).
The byte offset lets a fetch seek straight to where the last one stopped, so memory and
time per fetch stay flat however large the file is; the line count keeps error messages
and derived CSV ids exact. A bare integer cursor (`"57"`) is accepted as "57 lines
consumed" and resolved by streaming past them once. If the file was replaced and the
offset no longer sits at a line start, the line count is used instead.

Pace (`pace` seconds between records)
-------------------------------------
`pace=0` (default) releases up to `batch_size` records per fetch, and `exhausted` is False
while the file has more. `pace>0` makes a demo look live: record *n* (counting from the
first fetch of this instance) is due `n * pace` seconds after that first fetch; a fetch
releases the due records (at least 1, at most `batch_size`) and says `exhausted=False`
only if more are already due, so the scheduler's normal interval sets the rhythm.

Loop
----
`loop=True` starts again at the top when the end is reached. Records of pass *n* >= 2 get
`#loop<n>` appended to `external_id` (and to `in_reply_to`/`conversation_id`, so threads
stay linked within a pass): they are new mentions to the pipeline, not duplicates. A batch
stops at the end of a pass and reports `exhausted=True`, so a looping file is replayed
once per poll burst rather than in a tight loop.

Shift to now
------------
`shift_to_now=True` moves every record's `created_at` by one fixed amount so the newest
record in the file is dated at the first fetch: a recorded feed then looks current (the
dashboard's "today", `export --since 7d` and a report's last weeks have data) while the
gaps between posts, and so every rhythm and spike, stay exactly as recorded. The shift is
chosen once, on the first fetch whose cursor carries none, and carried in the cursor as
`@<seconds>` (e.g. `"18244:57@1732000000"`), so a restarted service or another replica
keeps the same timeline instead of re-dating the rest of the file. Records without a
`created_at` are dated "now" as always.

Errors
------
A line that cannot be normalised (bad JSON, missing `text`, `followers: "lots"`, a
`created_at` that is not ISO 8601, invalid UTF-8, a line over 1 MiB) becomes a
`Quarantined` item whose error names the line and field, e.g.
`line 17: created_at: not an ISO 8601 time: 'yesterday'`; the rest of the batch is kept.
Any exception while reading one record quarantines that record alone, so do records
nested more than 32 levels deep, numbers JSON cannot carry on every database (NaN,
Infinity, 1e400) and a `created_at` outside 1970-2099. Ids, handles and names too long
for their columns are fitted by `listener.types.storable_id` (the same on SQLite and
PostgreSQL), never refused.
A missing or unreadable file raises `PermanentError` from `fetch` (not from the
constructor, so one misconfigured source cannot stop start-up). Invalid options make
`from_options` raise `NotConfigured` naming the key, like every other source.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from listener.sources._common import validate_options
from listener.types import Author, Batch, BrandSpec, Mention, Quarantined, storable_json
from socialear.errors import PermanentError

MAX_LINE_BYTES = 1 << 20  # a longer line is quarantined, never held in memory whole
MAX_DEPTH = 32  # a record nested deeper is quarantined (no real post is; JSON bombs are)
# created_at outside [1970, 2100) is quarantined: year 1 or 9999 overflow date arithmetic
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
_KNOWN_KEYS = frozenset(
    {
        "id", "platform", "text", "created_at", "author", "url", "lang", "rating", "title",
        "in_reply_to", "in_reply_to_user", "conversation_id", "engagement", "is_repost",
    }
)  # fmt: skip
_CSV_AUTHOR_COLUMNS = {
    "author": "handle",
    "author_handle": "handle",
    "author_name": "name",
    "author_id": "id",
    "followers": "followers",
    "author_followers": "followers",
    "verified": "verified",
    "author_verified": "verified",
}
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}


class RecordError(ValueError):
    """One field of one record is wrong; the message is `field: what is wrong`."""


@dataclass(frozen=True, slots=True)
class _Position:
    offset: int  # byte offset of the next unread line
    line: int  # physical lines consumed so far
    pass_no: int = 1  # 1 for the first read of the file, 2+ when looping

    def encode(self) -> str:
        base = f"{self.offset}:{self.line}"
        return base if self.pass_no == 1 else f"{base}:{self.pass_no}"


@dataclass(frozen=True, slots=True)
class _RawRecord:
    line: int  # 1-based line number of the record's first physical line
    raw: str  # decoded text without the trailing newline
    error: str | None = None  # set when the bytes could not even be read as text


class ReplaySource:
    """Replays recorded mentions from a JSONL or CSV file (the bundled sample feed)."""

    type: ClassVar[str] = "replay"
    description: ClassVar[str] = (
        "Replays recorded mentions from a JSONL or CSV file; runs with no API keys (the bundled sample feed uses it)."
    )
    needs: ClassVar[tuple[str, ...]] = ()
    expected_update_period: ClassVar[float | None] = None  # seconds; see listener.silence

    class Options(BaseModel):
        """`sources[].options` for a replay source, as written in rules.yaml."""

        model_config = ConfigDict(extra="forbid")

        path: str = Field(description="JSONL or CSV file to replay")
        batch_size: int = Field(50, ge=1, le=10_000, description="records per fetch at most")
        pace: float = Field(0.0, ge=0, description="seconds between records; 0 = no pacing")
        loop: bool = Field(False, description="start again at the top when the end is reached")
        platform: str = Field("replay", min_length=1, description="platform of records without one")
        format: Literal["auto", "jsonl", "csv"] = Field(
            "auto", description="auto: by extension (.csv, .jsonl/.ndjson), else by content"
        )
        require_id: bool = Field(
            True, description="JSONL records need an `id`; false derives one from line and content"
        )
        shift_to_now: bool = Field(
            False, description="shift timestamps so the newest record is dated at the first fetch"
        )

    def __init__(
        self,
        name: str,
        path: str | Path,
        *,
        batch_size: int = 50,
        pace: float = 0.0,
        loop: bool = False,
        platform: str = "replay",
        format: Literal["auto", "jsonl", "csv"] = "auto",
        clock: Callable[[], float] = time.monotonic,
        require_id: bool = True,
        shift_to_now: bool = False,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if pace < 0 or not math.isfinite(pace):
            raise ValueError(f"pace must be a finite number of seconds >= 0, got {pace}")
        if format not in ("auto", "jsonl", "csv"):
            raise ValueError(f"format must be auto, jsonl or csv, got {format!r}")
        self.name = name
        self.path = Path(path)
        self.batch_size = batch_size
        self.pace = pace
        self.loop = loop
        self.platform = platform
        self.format = format
        self._clock = clock
        self.require_id = require_id
        self.shift_to_now = shift_to_now
        self._wall_clock = wall_clock
        self._shift = 0  # seconds added to created_at in the current fetch
        self._started: float | None = None  # first fetch of this instance, for pacing
        self._released = 0  # records released by this instance, for pacing

    @classmethod
    def from_options(
        cls,
        name: str,
        options: Mapping[str, Any],
        *,
        env: Mapping[str, str] | None = None,
        client: Any = None,
        brands: Sequence[BrandSpec] | None = None,
    ) -> ReplaySource:
        """Build from `sources[].options`; invalid options raise NotConfigured naming the key.
        A file needs no credentials, client or brands: those are accepted and unused."""
        opts = validate_options(cls, name, options)
        return cls(
            name,
            opts.path,
            batch_size=opts.batch_size,
            pace=opts.pace,
            loop=opts.loop,
            platform=opts.platform,
            format=opts.format,
            require_id=opts.require_id,
            shift_to_now=opts.shift_to_now,
        )

    @staticmethod
    def offset_of(cursor: str | None) -> int:
        """The byte offset a cursor points at (0 for the start); for progress bars."""
        if not cursor or ":" not in cursor:
            return 0
        return int(cursor.partition("@")[0].split(":", 1)[0])

    # ------------------------------------------------------------------ fetch

    def fetch(self, cursor: str | None) -> Batch:
        """Read the next records after `cursor`; malformed ones come back quarantined."""
        fmt = self._resolve_format()
        limit = self._records_due()
        mentions: list[Mention] = []
        quarantined: list[Quarantined] = []
        stats: dict[str, int] = {}  # the pipeline counts fetched/quarantined itself
        cursor, shift = self._split_shift(cursor)
        with self._open() as fh:
            header = self._read_header(fh) if fmt == "csv" else None
            if self.shift_to_now and shift is None:
                shift = self._shift_for(fh, fmt, header)
            self._shift = shift or 0
            pos = self._resolve_cursor(fh, cursor, header_end=header[1] if header else 0)
            if header and pos.offset < header[1]:
                pos = _Position(header[1], header[2], pos.pass_no)
            reader = self._physical_records(fh, pos, csv_mode=fmt == "csv")
            at_end = False
            while len(mentions) + len(quarantined) < limit:
                item = next(reader, None)
                if item is None:
                    at_end = True
                    break
                record, pos = item
                self._normalise_into(record, fmt, header, pos.pass_no, mentions, quarantined)
            if not at_end:
                at_end = self._at_eof(fh, pos.offset)
        if at_end and self.loop and pos.line > (header[2] if header else 0):
            # next fetch starts pass n+1; an empty file never loops (it would spin)
            pos = _Position(header[1] if header else 0, header[2] if header else 0, pos.pass_no + 1)
            stats["replay/restarted"] = 1
        released = len(mentions) + len(quarantined)
        self._released += released
        return Batch(
            mentions=mentions,
            next_cursor=pos.encode() + (f"@{shift}" if shift is not None else ""),
            quarantined=quarantined,
            exhausted=at_end or not self._more_due(),
            stats=stats,
        )

    # ------------------------------------------------------------- shift to now

    def _split_shift(self, cursor: str | None) -> tuple[str | None, int | None]:
        if not cursor or "@" not in cursor:
            return cursor, None
        base, _, raw = cursor.partition("@")
        try:
            return base, int(raw)
        except ValueError:
            raise PermanentError(f"replay source {self.name!r}: cannot read cursor {cursor!r}") from None

    def _shift_for(self, fh: IO[bytes], fmt: str, header: tuple[list[str], int, int] | None) -> int:
        """Whole seconds that date the file's newest record at the wall clock's now.

        One streaming pass (the file is read anyway); unreadable records are skipped here
        and quarantined by the normal read.
        """
        newest: datetime | None = None
        start = _Position(header[1], header[2]) if header else _Position(0, 0)
        for record, _ in self._physical_records(fh, start, csv_mode=fmt == "csv"):
            if record.error is not None:
                continue
            try:
                fields = _csv_fields(record, header[0] if header else []) if fmt == "csv" else _json_fields(record.raw)
                if fields.get("created_at") in (None, ""):
                    continue
                when = _created_at(fields.get("created_at"))
            except RecordError:
                continue
            newest = when if newest is None or when > newest else newest
        if newest is None:
            return 0
        return max(0, int((self._wall_clock() - newest).total_seconds()))

    # ------------------------------------------------------------- file access

    def _open(self) -> IO[bytes]:
        try:
            return self.path.open("rb")
        except FileNotFoundError as exc:
            raise PermanentError(
                f"replay source {self.name!r}: file not found: {self.path.resolve()} "
                "(check sources[].options.path in rules.yaml)"
            ) from exc
        except IsADirectoryError as exc:
            raise PermanentError(
                f"replay source {self.name!r}: {self.path.resolve()} is a directory, not a JSONL or CSV file"
            ) from exc
        except OSError as exc:
            raise PermanentError(
                f"replay source {self.name!r}: cannot read {self.path.resolve()}: {exc.strerror}"
            ) from exc

    def _resolve_format(self) -> Literal["jsonl", "csv"]:
        if self.format != "auto":
            return self.format
        suffix = self.path.suffix.lower()
        if suffix == ".csv":
            return "csv"
        if suffix in (".jsonl", ".ndjson", ".json"):
            return "jsonl"
        with self._open() as fh:  # unknown extension: a JSON object line means JSONL
            for raw in iter(lambda: fh.readline(MAX_LINE_BYTES), b""):
                stripped = raw.lstrip(b"\xef\xbb\xbf").strip()
                if stripped:
                    return "jsonl" if stripped.startswith(b"{") else "csv"
        return "jsonl"

    @staticmethod
    def _at_eof(fh: IO[bytes], offset: int) -> bool:
        fh.seek(offset)
        while chunk := fh.readline(MAX_LINE_BYTES):
            if chunk.strip():
                return False
        return True

    def _read_header(self, fh: IO[bytes]) -> tuple[list[str], int, int]:
        """CSV header columns, the byte offset after it and the lines it spans."""
        for record, pos in self._physical_records(fh, _Position(0, 0), csv_mode=True):
            if record.error is not None:
                raise PermanentError(f"replay source {self.name!r}: header: {record.error}")
            columns = [c.strip().lower() for c in next(csv.reader([record.raw]))]
            if "text" not in columns:
                raise PermanentError(
                    f"replay source {self.name!r}: {self.path}: CSV header has no 'text' "
                    f"column (found: {', '.join(columns) or 'nothing'})"
                )
            return columns, pos.offset, pos.line
        return [], 0, 0  # empty file: nothing to replay

    def _resolve_cursor(self, fh: IO[bytes], cursor: str | None, header_end: int) -> _Position:
        if cursor is None or cursor == "":
            return self._skip_lines(fh, 0, 1)
        parts = cursor.split(":")
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            raise PermanentError(
                f"replay source {self.name!r}: cannot read cursor {cursor!r} "
                "(expected '<byte offset>:<lines>[:<pass>]' or a line count)"
            ) from None
        if len(numbers) == 1:
            return self._skip_lines(fh, numbers[0], 1)
        if len(numbers) not in (2, 3) or min(numbers) < 0:
            raise PermanentError(f"replay source {self.name!r}: cannot read cursor {cursor!r}")
        offset, line = numbers[0], numbers[1]
        pass_no = numbers[2] if len(numbers) == 3 else 1
        if offset == 0 or offset < header_end:
            return self._skip_lines(fh, line, pass_no)
        fh.seek(offset - 1)
        if fh.read(1) != b"\n":  # file changed under us: fall back to the line count
            return self._skip_lines(fh, line, pass_no)
        return _Position(offset, line, pass_no)

    def _skip_lines(self, fh: IO[bytes], lines: int, pass_no: int) -> _Position:
        """Position after `lines` physical lines (streams; used only for legacy cursors)."""
        fh.seek(0)
        done = 0
        while done < lines:
            chunk = fh.readline(MAX_LINE_BYTES)
            if not chunk:
                break
            if chunk.endswith(b"\n"):
                done += 1
        return _Position(fh.tell(), done, pass_no)

    def _physical_records(
        self, fh: IO[bytes], pos: _Position, *, csv_mode: bool
    ) -> Iterator[tuple[_RawRecord, _Position]]:
        """Yield non-blank records and the position after each, reading one line at a time.

        A CSV record whose quoted field spans lines is joined (quote-count parity).
        """
        fh.seek(pos.offset)
        offset, line = pos.offset, pos.line
        while True:
            first_line = line + 1
            data, offset, line, error = self._read_line(fh, offset, line)
            if data is None:
                return
            while csv_mode and error is None and data.count(b'"') % 2 == 1:
                more, offset2, line2, error = self._read_line(fh, offset, line)
                if more is None:
                    break
                data += b"\n" + more
                offset, line = offset2, line2
                if len(data) > MAX_LINE_BYTES:
                    error = f"record longer than {MAX_LINE_BYTES} bytes"
            raw = data.decode("utf-8", errors="replace")
            if error is None:
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    error = f"not valid UTF-8 at byte {exc.start + 1}"
            if error is None and not raw.strip():
                continue
            if first_line == 1:
                raw = raw.lstrip("\ufeff")
            yield _RawRecord(first_line, raw, error), _Position(offset, line, pos.pass_no)

    @staticmethod
    def _read_line(fh: IO[bytes], offset: int, line: int) -> tuple[bytes | None, int, int, str | None]:
        """One physical line without its newline; over-long lines are consumed, then refused."""
        chunk = fh.readline(MAX_LINE_BYTES + 1)
        if not chunk:
            return None, offset, line, None
        error = None
        if len(chunk) > MAX_LINE_BYTES and not chunk.endswith(b"\n"):
            error = f"line longer than {MAX_LINE_BYTES} bytes"
            while (rest := fh.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
            chunk = chunk[:200] + b"..."
        offset = fh.tell()
        return chunk.rstrip(b"\r\n"), offset, line + 1, error

    # ------------------------------------------------------------- normalising

    def _normalise_into(
        self,
        record: _RawRecord,
        fmt: str,
        header: tuple[list[str], int, int] | None,
        pass_no: int,
        mentions: list[Mention],
        quarantined: list[Quarantined],
    ) -> None:
        external_id: str | None = None
        try:
            if record.error is not None:
                raise RecordError(record.error)
            if fmt == "csv":
                fields = _csv_fields(record, header[0] if header else [])
            else:
                fields = _json_fields(record.raw)
            external_id = _optional_str(fields, "id")
            mention = self._to_mention(fields, record, pass_no)
        except Exception as exc:  # noqa: BLE001 - whatever one record does, it is quarantined alone
            quarantined.append(
                Quarantined(
                    source=self.name,
                    payload=record.raw,
                    error=f"line {record.line}: {_record_error(exc)}",
                    external_id=_looped(external_id, pass_no) if external_id else None,
                )
            )
            return
        mentions.append(mention)

    def _to_mention(self, fields: dict[str, Any], record: _RawRecord, pass_no: int) -> Mention:
        mention = _mention(fields, record, pass_no, self.name, self.platform, self.require_id)
        if self._shift and fields.get("created_at") not in (None, ""):
            mention.created_at += timedelta(seconds=self._shift)
        return mention

    # ------------------------------------------------------------------ pacing

    def _records_due(self) -> int:
        if self.pace <= 0:
            return self.batch_size
        now = self._clock()
        if self._started is None:
            self._started = now
        due = int((now - self._started) // self.pace) + 1 - self._released
        return max(1, min(self.batch_size, due))

    def _more_due(self) -> bool:
        if self.pace <= 0:
            return True
        if self._started is None:
            return True
        return int((self._clock() - self._started) // self.pace) + 1 > self._released


# ---------------------------------------------------------------- field parsing


def _record_error(exc: Exception) -> str:
    """The quarantine message for any exception raised while reading one record."""
    if isinstance(exc, RecordError):
        return str(exc)
    if isinstance(exc, RecursionError):
        return f"nested more than {MAX_DEPTH} levels deep"
    return f"cannot read the record: {type(exc).__name__}: {exc}"


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e400: PostgreSQL's JSON has no infinity, SQLite's text does
        raise RecordError(f"not valid JSON: number out of range: {text[:40]}")
    return number


def _no_constants(name: str) -> Any:
    raise RecordError(f"not valid JSON: {name} is not a JSON value")


def _check_depth(value: Any) -> None:
    """Refuse nesting deeper than MAX_DEPTH, iteratively (no recursion to exhaust): a deep
    record would otherwise fail later, in a JSON encoder, for the whole batch."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > MAX_DEPTH:
            raise RecordError(f"nested more than {MAX_DEPTH} levels deep")
        stack.extend((child, depth + 1) for child in children)


def _json_fields(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw, parse_float=_finite, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise RecordError(f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(value, dict):
        raise RecordError(f"expected a JSON object, got {_type_name(value)}")
    _check_depth(value)
    return storable_json(value)  # an escaped half emoji ("\\ud83d") would fail later writes


def _csv_fields(record: _RawRecord, columns: list[str]) -> dict[str, Any]:
    try:
        rows = list(csv.reader([record.raw.replace("\r\n", "\n")], strict=True))
    except csv.Error as exc:
        raise RecordError(f"not valid CSV: {exc}") from None
    values = rows[0] if rows else []
    if len(values) > len(columns):
        raise RecordError(f"expected at most {len(columns)} columns, got {len(values)}")
    fields: dict[str, Any] = {"_csv": True}
    author: dict[str, Any] = {}
    for column, value in zip(columns, values, strict=False):
        cell: str | None = value if value.strip() != "" else None
        if column in _CSV_AUTHOR_COLUMNS:
            if cell is not None:
                author[_CSV_AUTHOR_COLUMNS[column]] = cell
        elif column == "text":
            fields["text"] = value if value != "" else None
        elif cell is not None:
            fields[column] = cell
    if author:
        fields["author"] = author
    return fields


def _looped(external_id: str, pass_no: int) -> str:
    if pass_no <= 1:
        return external_id
    return f"{external_id}#loop{pass_no}"


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "true/false", type(None): "null"}.get(
        type(value), f"{type(value).__name__} {value!r}"
    )


def _optional_str(fields: dict[str, Any], key: str) -> str | None:
    value = fields.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RecordError(f"{key}: expected a string, got {_type_name(value)}")
    return str(value)


def _created_at(value: Any) -> datetime:
    if value is None or value == "":
        return datetime.now(UTC)  # undated records are treated as arriving now
    if not isinstance(value, str):
        raise RecordError(f"created_at: not an ISO 8601 time: {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise RecordError(f"created_at: not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:  # a recorded time without an offset is taken as UTC
        parsed = parsed.replace(tzinfo=UTC)
    if not 1969 <= parsed.year <= 2100:  # checked before astimezone, which overflows near years 1 and 9999
        raise RecordError(f"created_at: outside 1970-2099: {value!r}")
    parsed = parsed.astimezone(UTC)
    if not EARLIEST <= parsed < LATEST:
        raise RecordError(f"created_at: outside 1970-2099: {value!r}")
    return parsed


def _count(value: Any, key: str) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise RecordError(f"{key}: not a whole number: {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise RecordError(f"{key}: not a whole number: {value!r}")
    if number < 0:
        raise RecordError(f"{key}: must not be negative: {value!r}")
    return number


def _flag(value: Any, key: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise RecordError(f"{key}: not true/false: {value!r}")


def _rating(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        raise RecordError(f"rating: not a number: {value!r}") from None
    if not 1 <= number <= 5:
        raise RecordError(f"rating: must be between 1 and 5: {value!r}")
    return number


def _author(fields: dict[str, Any], platform: str) -> Author:
    value = fields.get("author")
    if value is None or value == "":
        return Author(platform=platform, handle="unknown")
    if isinstance(value, str):
        return Author(platform=platform, handle=value)
    if not isinstance(value, dict):
        raise RecordError(f"author: expected an object or a handle, got {_type_name(value)}")

    def sub(key: str) -> str | None:
        try:
            return _optional_str(value, key)
        except RecordError as exc:
            raise RecordError(f"author.{exc}") from None

    try:
        followers = _count(value.get("followers"), "followers")
        verified = _flag(value.get("verified"), "verified")
    except RecordError as exc:
        raise RecordError(f"author.{exc}") from None
    return Author(
        platform=platform,
        handle=sub("handle") or "unknown",
        name=sub("name"),
        external_id=sub("id"),
        followers=followers,
        verified=verified,
    )


def record_to_mention(
    fields: dict[str, Any], *, source: str, line: int, platform: str = "replay", require_id: bool = False
) -> Mention:
    """Normalise one already-parsed record (e.g. from `socialear score`); RecordError if
    bad. Its strings must be storable (`listener.types.storable_json`), as the parser that
    read it makes them: `_json_fields` here, `console.scoring_io` for `socialear score`."""
    raw = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    return _mention(fields, _RawRecord(line, raw), 1, source, platform, require_id)


def _mention(
    fields: dict[str, Any], record: _RawRecord, pass_no: int, source: str, default_platform: str, require_id: bool
) -> Mention:
    external_id = _optional_str(fields, "id")
    if external_id is None:
        if "id" in fields and fields["id"] not in (None, ""):
            raise RecordError(f"id: expected a string or number, got {fields['id']!r}")
        if require_id and not fields.get("_csv"):
            raise RecordError("id: missing")
        digest = hashlib.sha256(f"{record.line}:{record.raw}".encode()).hexdigest()[:12]
        prefix = "csv" if fields.get("_csv") else "rec"
        external_id = f"{prefix}-L{record.line}-{digest}"
    text = fields.get("text")
    if text is None:
        raise RecordError("text: missing")
    if not isinstance(text, str):
        raise RecordError(f"text: expected a string, got {_type_name(text)}")
    if not text.strip():
        raise RecordError("text: empty")
    platform = _optional_str(fields, "platform") or default_platform
    author = _author(fields, platform)
    rating = _rating(fields.get("rating"))
    extra = {k: v for k, v in fields.items() if k not in _KNOWN_KEYS and not k.startswith("_")}
    extra["replay"] = {"line": record.line, "pass": pass_no}
    in_reply_to = _optional_str(fields, "in_reply_to")
    conversation_id = _optional_str(fields, "conversation_id")
    return Mention(
        source=source,
        platform=platform,
        external_id=_looped(external_id, pass_no),
        text=text,
        created_at=_created_at(fields.get("created_at")),
        author=author,
        url=_optional_str(fields, "url"),
        lang=_optional_str(fields, "lang"),
        rating=rating,
        in_reply_to=_looped(in_reply_to, pass_no) if in_reply_to else None,
        in_reply_to_user=_optional_str(fields, "in_reply_to_user"),
        conversation_id=_looped(conversation_id, pass_no) if conversation_id else None,
        engagement=_count(fields.get("engagement"), "engagement"),
        is_repost=_flag(fields.get("is_repost"), "is_repost"),
        title=_optional_str(fields, "title"),
        extra=extra,
    )
