"""Helpers shared by the platform sources: retries, cursors, env checks, brand matching.

Retry policy (every source): a transient failure (5xx, network error, timeout, a
truncated body) is retried inside one `fetch` with exponential backoff plus jitter,
at most `RetryPolicy.attempts` attempts and `RetryPolicy.max_total` seconds in all;
then the last `RetryableError` is raised and the pipeline's own backoff takes over.
`RateLimited` is never retried here: the platform named a time, the scheduler waits
for it. `PermanentError` (401/403/400) is never retried.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import ValidationError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)
from tenacity.wait import wait_base

from listener.types import BrandSpec, Quarantined
from socialear.errors import NotConfigured, PermanentError, RateLimited, RetryableError

T = TypeVar("T")

# Quarantined payloads are kept verbatim, but a multi-megabyte body is not useful.
MAX_QUARANTINE_PAYLOAD = 64_000


def utcnow() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- retries


@dataclass
class RetryPolicy:
    """How transient failures are retried inside one fetch. Tests pass `sleep`."""

    attempts: int = 3
    max_total: float = 30.0  # seconds, waits included
    wait: wait_base = field(default_factory=lambda: wait_exponential_jitter(initial=1, max=8))
    sleep: Callable[[float], None] = time.sleep
    # Set by the collector on shutdown: a source that paces itself inside one fetch (the
    # Discourse walk) stops waiting and ends the fetch with what it read, so SIGTERM is
    # not held up for the length of the pacing.
    stopping: threading.Event = field(default_factory=threading.Event)

    def pause(self, seconds: float) -> bool:
        """Wait `seconds`; False, at once, when the service is stopping."""
        if self.stopping.is_set():
            return False
        if self.sleep is time.sleep:
            return not self.stopping.wait(seconds)
        self.sleep(seconds)
        return not self.stopping.is_set()


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, RetryableError) and not isinstance(exc, RateLimited)


def call_with_retries(
    fn: Callable[[], T],
    policy: RetryPolicy,
    stats: dict[str, int] | None = None,
) -> T:
    """Run `fn`, retrying `RetryableError` (but not `RateLimited`) per `policy`.

    `fn` must already have mapped vendor errors to socialear's exceptions. Each retry is
    counted in `stats` as `retries/<reason>` where reason is the error class name.
    """

    def count(state: RetryCallState) -> None:
        if stats is not None and state.outcome is not None:
            exc = state.outcome.exception()
            reason = getattr(exc, "reason", None) or type(exc).__name__
            key = f"retries/{reason}"
            stats[key] = stats.get(key, 0) + 1

    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.max_total),
        wait=policy.wait,
        sleep=policy.sleep,
        retry=retry_if_exception(_retryable),
        before_sleep=count,
        reraise=True,
    )
    return retrying(fn)


class TransientError(RetryableError):
    """A RetryableError that carries a short machine reason for the stats counters."""

    def __init__(self, message: str, reason: str, retry_after: float | None = None):
        self.reason = reason
        super().__init__(message, retry_after=retry_after)


# --------------------------------------------------------------------------- base


class PlatformSource:
    """The state every platform source starts with, set in one place: its configured name
    and options, the retry policy for transient failures inside one fetch (tests swap in a
    fast one) and the clock (tests freeze it). A subclass annotates `options` with its own
    `Options` model and adds its client."""

    options: Any

    def __init__(self, name: str, options: Any) -> None:
        self.name = name
        self.options = options
        self.retry = RetryPolicy()
        self.clock: Callable[[], datetime] = utcnow


# --------------------------------------------------------------------------- config


def sole_brand(brand: str | None, brands: Sequence[BrandSpec] | None) -> str | None:
    """The brand a review source's posts are about: the configured one, else the only
    brand in rules.yaml (reviews of your own app need not name you)."""
    if brand is None and brands and len(brands) == 1:
        return brands[0].name
    return brand


def require_env(env: Mapping[str, str] | None, names: Iterable[str], source_type: str, name: str) -> dict[str, str]:
    """Return the named variables, or raise NotConfigured naming the first one missing."""
    import os

    env = os.environ if env is None else env
    values: dict[str, str] = {}
    for var in names:
        value = (env.get(var) or "").strip()
        if not value:
            raise NotConfigured(f"{source_type} source '{name}': {var} is not set")
        values[var] = value
    return values


def validate_options(cls: Any, name: str, options: Mapping[str, Any] | None) -> Any:
    """`cls.Options` validated from rules.yaml, or NotConfigured naming the bad key."""
    try:
        return cls.Options.model_validate(dict(options or {}))
    except ValidationError as exc:
        raise options_error(cls.type, name, exc) from exc


def options_error(source_type: str, name: str, exc: Exception) -> NotConfigured:
    """A pydantic ValidationError as one readable NotConfigured line per problem."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        parts = []
        for err in errors():
            loc = ".".join(str(p) for p in err.get("loc", ())) or "options"
            parts.append(f"{loc}: {err.get('msg')}")
        detail = "; ".join(parts)
    else:
        detail = str(exc)
    return NotConfigured(f"{source_type} source '{name}': invalid options: {detail}")


# --------------------------------------------------------------------------- brands


class BrandMatcher:
    """Matches text locally against each brand's boolean query (for listings that the
    platform cannot search for us: Reddit comments, RSS entries)."""

    def __init__(self, brands: Iterable[BrandSpec] | None, extra_query: str | None = None):
        from listener.query import parse_query  # written alongside; imported when used

        self._queries: list[tuple[str, Any]] = []
        for brand in brands or ():
            self._queries.append((brand.name, parse_query(brand.query)))
        if extra_query:
            self._queries.append(("query", parse_query(extra_query)))

    @classmethod
    def for_source(cls, kind: str, name: str, brands: Iterable[BrandSpec] | None,
                   wanted: Iterable[str] | None, extra_query: str | None = None) -> BrandMatcher:
        """The matcher of a source that names its brands in `options.brands` (None: all of
        the rules' brands); a name the rules do not know is NotConfigured."""
        chosen = [b for b in brands or [] if wanted is None or b.name in set(wanted)]
        missing = set(wanted or ()) - {b.name for b in chosen}
        if missing:
            raise NotConfigured(f"{kind} source '{name}': unknown brand(s): {', '.join(sorted(missing))}")
        return cls(chosen, extra_query)

    def __bool__(self) -> bool:
        return bool(self._queries)

    def matches(self, text: str) -> list[str]:
        return [name for name, query in self._queries if query.matches(text)]

    def terms(self) -> list[str]:
        seen: dict[str, None] = {}
        for _, query in self._queries:
            for term in query.terms():
                seen.setdefault(str(term), None)
        return list(seen)


# --------------------------------------------------------------------------- cursors


def load_cursor(cursor: str | None, source_type: str, name: str) -> dict[str, Any]:
    """Parse a JSON cursor; None/empty is a fresh start. Garbage is a PermanentError:
    silently starting over would re-read (or skip) a whole history."""
    if not cursor:
        return {}
    try:
        value = json.loads(cursor)
    except ValueError as exc:
        raise PermanentError(
            f"{source_type} source '{name}': stored cursor is not valid JSON ({exc}); "
            "reset the source's cursor to start over"
        ) from exc
    if not isinstance(value, dict):
        raise PermanentError(f"{source_type} source '{name}': stored cursor is not a JSON object: {cursor[:80]!r}")
    return value


def dump_cursor(state: Mapping[str, Any]) -> str:
    return json.dumps(state, sort_keys=True, separators=(",", ":"), default=str)


@dataclass
class Watermark:
    """Position in a newest-first listing: the newest timestamp read and the ids read at or
    near it. An item is new when it is not older than `ts - lookback` and its id was not
    seen; the lookback tolerates listings that surface items late (search indexing)."""

    ts: float | None = None
    seen: dict[str, float] = field(default_factory=dict)  # id -> timestamp
    lookback: float = 0.0
    cap: int = 500

    @classmethod
    def from_json(cls, value: Any, lookback: float = 0.0, cap: int = 500) -> Watermark:
        if not isinstance(value, dict):
            return cls(lookback=lookback, cap=cap)
        ts = value.get("ts")
        seen = value.get("seen") or {}
        return cls(
            ts=float(ts) if ts is not None else None,
            seen={str(k): float(v) for k, v in seen.items()},
            lookback=lookback,
            cap=cap,
        )

    def to_json(self) -> dict[str, Any]:
        return {"ts": self.ts, "seen": self.seen}

    def is_past(self, ts: float) -> bool:
        """True when `ts` is older than anything we could still be missing: stop paging."""
        return self.ts is not None and ts < self.ts - self.lookback

    def is_new(self, item_id: str, ts: float) -> bool:
        return not self.is_past(ts) and item_id not in self.seen

    def advanced(self, read: Iterable[tuple[str, float]]) -> Watermark:
        """The watermark after reading `read` (id, ts) pairs."""
        seen = dict(self.seen)
        seen.update(read)
        if not seen:
            return Watermark(self.ts, {}, self.lookback, self.cap)
        newest = max(max(seen.values()), self.ts or float("-inf"))
        floor = newest - self.lookback
        kept = {k: v for k, v in seen.items() if v >= floor}
        if len(kept) > self.cap:
            kept = dict(sorted(kept.items(), key=lambda kv: kv[1], reverse=True)[: self.cap])
        return Watermark(newest, kept, self.lookback, self.cap)


# --------------------------------------------------------------------------- items


def quarantine(source: str, raw: Any, error: Exception | str, external_id: Any = None) -> Quarantined:
    """Keep a raw item the source could not normalise, serialised as received."""
    if isinstance(raw, str | bytes):
        payload = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    else:
        try:
            payload = json.dumps(raw, sort_keys=True, default=str, ensure_ascii=False)
        except (TypeError, ValueError):
            payload = repr(raw)
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return Quarantined(
        source=source,
        payload=payload[:MAX_QUARANTINE_PAYLOAD],
        error=message,
        external_id=str(external_id) if external_id not in (None, "") else None,
    )


def parse_time(value: Any) -> datetime:
    """ISO-8601 (with Z or offset) or epoch seconds -> aware UTC datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str) and value:
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        parsed = datetime.fromisoformat(text)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"not a timestamp: {value!r}")


def bump(stats: dict[str, int], key: str, n: int = 1) -> None:
    stats[key] = stats.get(key, 0) + n


def payload_id(raw: Any) -> str:
    """A stable id for an item that has none we can read (so it is quarantined once)."""
    import hashlib

    text = raw if isinstance(raw, str) else json.dumps(raw, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:24]


class Sweep:
    """Reads one newest-first listing (reviews, posts) down to a Watermark.

    `offer` each raw item in listing order with its id and timestamp (None when they
    cannot be read). New items are normalised or quarantined; items already seen are
    skipped; the first item older than the watermark ends the sweep (`done`). An item
    whose timestamp cannot be read takes its newer neighbour's, so it is quarantined once
    and then remembered like any other item.
    """

    def __init__(self, source: str, mark: Watermark, stats: dict[str, int], stop_at_seen: bool = False):
        self.source = source
        self.mark = mark
        self.stats = stats
        # A listing strictly ordered by the item's own time (YouTube commentThreads with
        # order=time) has nothing new below an item already read: stop there, so the
        # overlap with the previous poll is that one item, not everything at its second.
        self.stop_at_seen = stop_at_seen
        self.mentions: list[Any] = []
        self.quarantined: list[Quarantined] = []
        self.read: list[tuple[str, float]] = []
        self.done = False
        self.reached = False  # met an item at or below the watermark: no gap above it
        self._ids: set[str] = set()
        self._last_ts: float | None = None
        self._undated: list[str] = []  # undated items met before any dated one

    def offer(
        self,
        raw: Any,
        item_id: str | None,
        ts: float | None,
        normalise: Callable[[Any], Any],
    ) -> None:
        if self.done:
            return
        problem: str | None = None
        if not item_id:
            item_id = payload_id(raw)
            problem = "item has no id"
        if ts is None:
            problem = problem or "item has no readable timestamp"
            if self._last_ts is None and self.mark.ts is None:
                # Nothing to borrow a time from: never the wall clock, which would put the
                # watermark past every review dated before this poll. Quarantined now,
                # remembered at the newest time this sweep reads (see `advanced`).
                if item_id not in self._ids and item_id not in self.mark.seen:
                    self._ids.add(item_id)
                    self._undated.append(item_id)
                    self.quarantined.append(quarantine(self.source, raw, problem, item_id))
                else:
                    bump(self.stats, "dropped/seen")
                return
            ts = self._last_ts if self._last_ts is not None else self.mark.ts
        assert ts is not None  # the undated branch above returned when neither is known
        self._last_ts = ts
        if self.mark.ts is not None and ts <= self.mark.ts:
            self.reached = True
        if self.mark.is_past(ts):
            self.done = True
            return
        if item_id in self._ids or not self.mark.is_new(item_id, ts):
            bump(self.stats, "dropped/seen")
            if self.stop_at_seen and item_id in self.mark.seen:
                self.done = True
            return
        self._ids.add(item_id)
        self.read.append((item_id, ts))
        if problem is None:
            try:
                self.mentions.append(normalise(raw))
                return
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
        self.quarantined.append(quarantine(self.source, raw, problem, item_id))

    def advanced(self) -> Watermark:
        mark = self.mark.advanced(self.read)
        if self._undated and mark.ts is not None:
            mark = mark.advanced((item_id, mark.ts) for item_id in self._undated)
        return mark


def safely(fn: Callable[[Any], T], raw: Any) -> T | None:
    """fn(raw), or None when the item is too malformed for it (the item gets quarantined)."""
    try:
        return fn(raw)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        return None
