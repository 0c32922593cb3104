"""The competitor report: one dict, built from the rollups plus a few bounded reads.

See `reports/__init__.py` for the JSON shape. Costs: every count comes from the
rollups (storage/rollups.py); top posts, top authors, spike examples and care read rows
through indexes with fixed limits (storage/report_queries.py). So the time of a report
depends on the period's hours and brands, not on how many mentions they hold.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import repeat
from types import TracebackType
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import SingletonThreadPool, StaticPool

from reports import spikes as spk
from reports.logodds import distinctive_terms
from reports.period import EmptyPeriod, ReportError, ceil_hour, check_interval, floor_hour
from socialear.config import RulesConfig
from socialear.terms import mention_terms
from storage import report_queries as rq
from storage import rollups
from storage.types import utcnow

HISTORY_DAYS = 28  # days before the period that the spike baseline learns from


def spike_history_start(start_h: int) -> int:
    """The first hour the spike baselines learn from, for a period starting at `start_h`:
    HISTORY_DAYS before it (the period itself is learnt from too). One rule for the
    report and the alert job (`recent_spikes`), so an hour is judged against the same
    kind of baseline whichever asks; a longer report period does not reach further back
    (four of each weekday are enough for the trimmed rhythms, and an older rhythm is
    not today's). The README's "Spikes" section says why."""
    return start_h - HISTORY_DAYS * 24
TOP = 5
TERMS = 10
EXAMPLES = 5
SENT = rollups.SENTIMENTS


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _share(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else 0.0


def net_sentiment(positive: int, negative: int) -> float | None:
    """(positive - negative) / (positive + negative); None when there is neither."""
    total = positive + negative
    return round((positive - negative) / total, 4) if total else None


def select_brands(rules: RulesConfig, brands: Sequence[str] | None) -> list[Any]:
    """The rules' Brand entries asked for (all by default); an unknown name is an error."""
    if not brands:
        return list(rules.brands)
    known = {b.name.casefold(): b for b in rules.brands}
    out = []
    for name in brands:
        b = known.get(name.strip().casefold())
        if b is None:
            have = ", ".join(x.name for x in rules.brands)
            raise ReportError(f"unknown brand {name.strip()!r} (rules.yaml has: {have})")
        if b not in out:
            out.append(b)
    return out


def _bucket(hour: int, interval: str) -> int:
    """The first epoch hour of the interval that `hour` falls in (weeks start on Monday)."""
    if interval == "hour":
        return hour
    day = hour // 24
    if interval == "day":
        return day * 24
    return (day - (day + 3) % 7) * 24


def _buckets(start_hour: int, end_hour: int, interval: str) -> list[int]:
    out, b = [], _bucket(start_hour, interval)
    step = {"hour": 1, "day": 24, "week": 168}[interval]
    while b < end_hour:
        out.append(b)
        b += step
    return out


def _excluded_terms(rules: RulesConfig) -> set[str]:
    """Brand names and handles: trivially distinctive of their own brand, so left out."""
    words: set[str] = set()
    for b in rules.brands:
        words.update(mention_terms(b.name))
        words.update(w for w in b.name.casefold().split() if w)
        words.update(h.casefold() for h in b.handles.values())
    return words


T = TypeVar("T")
# Threads (each with one pooled connection) that run a report's reads, by dialect; see
# `_Reads` for why SQLite has fewer.
READ_WORKERS = {"postgresql": 4, "sqlite": 0}


class _Later(Generic[T]):
    """A read run on first `result()`, on the one connection (`_Reads` without threads)."""

    __slots__ = ("_args", "_fn", "_reads", "_value")

    def __init__(self, reads: _Reads, fn: Callable[..., T], args: tuple[Any, ...]):
        self._reads, self._fn, self._args = reads, fn, args
        self._value: tuple[T] | None = None

    def result(self) -> T:
        if self._value is None:
            self._value = (self._fn(self._reads.connection(), *self._args),)
        return self._value[0]


class _Reads:
    """Where a report's reads run: issued up front, consumed when needed.

    Why: most of a report's reads are independent (the brands' term samples, top posts,
    reach, care, the rollups' sums), and a report spent as long waiting on them, one
    after another, as computing. With `workers`, each read goes to a small thread pool
    whose threads each hold one pooled connection for the whole report (opened on first
    use: one checkout, and so one pre-ping, per thread, not per read); the main thread
    counts terms, detects spikes and builds the JSON while they run. psycopg releases
    the GIL while the server works and takes a whole result back at once, so the waits
    overlap the Python work (PostgreSQL at 1M mentions: ~64 -> ~39-50 ms a report, with
    the log-odds and care changes; 4 workers, so care, the reach walk and the hourly rows, the
    longest, start at once). The pool is bounded (`READ_WORKERS` connections per report, the
    engine's pool allows 15), and leaving the `with` block cancels reads not started,
    waits for running ones and returns every connection, also when the report fails (an
    empty period, a database error).

    SQLite runs without workers by default: there the database works in this process,
    and sqlite3 releases and retakes the GIL around every row it steps, so a worker
    reading thousands of rows (the hourly rollup, the care cells) fought the main thread
    for the GIL on each one; measured on the 2-core bench, 2-3 workers cost 15-30 ms
    more CPU per report and were slower (report/scan 0.229-0.239 against 0.208 serial).
    The threaded path works on SQLite files all the same (tests/reports/test_report_reads.py).

    Without workers (SQLite; an in-memory database, whose one connection is shared
    (StaticPool) or per thread (SingletonThreadPool) so another thread would not see
    the same database; or `workers=0`), each read runs on one connection when its
    result is first asked for: the order and connection of a plain serial report.

    Consistency: none of the report's reads ever shared a snapshot. Each statement sees
    the data committed when it starts (PostgreSQL's READ COMMITTED; sqlite3 opens no
    transaction for a SELECT), on one connection or several alike. Each statement is
    consistent in itself, as the pipeline writes a mention and its rollup increments in
    one transaction; two statements may differ by the mentions stored between them,
    within the report's ~0.1 s, as a report read a moment later would. Nothing is added
    across reads that must match to the row (shares divide counts read by the same
    statement; drivers' current and previous periods are separate reads anyway), so
    no exported snapshot (REPEATABLE READ) is paid for.
    """

    def __init__(self, engine: Engine, workers: int | None = None):
        self.engine = engine
        workers = READ_WORKERS.get(engine.dialect.name, 0) if workers is None else workers
        shared = isinstance(engine.pool, (StaticPool, SingletonThreadPool))
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="report-read") if workers > 0 and not shared else None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[Connection] = []
        self._conn: Connection | None = None

    def connection(self) -> Connection:
        """The calling thread's connection (opened once per thread and report)."""
        if self._pool is None:
            if self._conn is None:
                self._conn = self.engine.connect()
            return self._conn
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.engine.connect()
            with self._lock:
                self._opened.append(conn)
        return conn

    def later(self, fn: Callable[..., T], *args: Any) -> Future[T] | _Later[T]:
        """`fn(connection, *args)`, started now on the pool (or run on first `result()`)."""
        if self._pool is None:
            return _Later(self, fn, args)
        return self._pool.submit(self._run, fn, args)

    def now(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(connection, *args)`, waited for: a read that depends on earlier results."""
        if self._pool is None:
            return fn(self.connection(), *args)
        return self.later(fn, *args).result()

    def _run(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        return fn(self.connection(), *args)

    def __enter__(self) -> _Reads:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
        finally:
            for conn in [*self._opened, *([self._conn] if self._conn is not None else [])]:
                conn.close()
            self._opened, self._conn = [], None


class _Data:
    """The rollups a report needs.

    `counts[i]` is brand `names[i]`'s hourly table over [hist_h, end_h): one row per hour
    (empty hours are zeros), columns mentions, engagement, positive, neutral, negative;
    sums, series and the spike series are slices of it (integer sums: exact).
    `platforms[(brand, platform)]` holds [mentions, engagement, positive, neutral,
    negative] over [start, end). Sums over hours before `hist_h` (the drivers' previous
    period) are read from the day tables (`rollups.platform_totals`), not hour by hour.
    """

    def __init__(self, reads: _Reads, rules: RulesConfig, start_h: int, end_h: int, hist_h: int):
        names = [b.name for b in rules.brands]
        self.reads, self.names = reads, names
        self.index = {n: i for i, n in enumerate(names)}
        hourly = reads.later(rollups.hourly_arrays, hist_h, end_h, names)
        platforms = reads.later(rollups.platform_totals, start_h, end_h, names)
        self._categories: dict[tuple[int, int, tuple[str, ...]], Future[Any] | _Later[Any]] = {}
        self._previous: dict[tuple[int, int], Future[Any] | _Later[Any]] = {}
        self._pending = (hourly, platforms)
        self.start_h, self.end_h, self.hist_h = start_h, end_h, hist_h
        self._sums: dict[tuple[str, int, int], list[int]] = {}

    def load(self) -> _Data:
        """Wait for the hourly rows and the period's platform totals (issued by __init__,
        so the caller can issue its other reads before waiting)."""
        hourly, platforms = self._pending
        self.counts = np.zeros((len(self.names), max(0, self.end_h - self.hist_h), 5), dtype=np.int64)
        for brand, rows in hourly.result().items():
            self.counts[self.index[brand], rows[:, 0] - self.hist_h] = rows[:, 1:]
        self.platforms = {(b, p): counts for b, p, *counts in platforms.result()}
        return self

    def want(self, categories: Sequence[tuple[int, int, Sequence[str]]] = (),
             sums: Sequence[tuple[int, int]] = ()) -> None:
        """Start reading category totals and sums before `hist_h` that will be asked for."""
        for start_h, end_h, brands in categories:
            key = (start_h, end_h, tuple(brands))
            if key not in self._categories:
                self._categories[key] = self.reads.later(rollups.category_totals, start_h, end_h, list(brands))
        for start_h, end_h in sums:
            if start_h < self.hist_h and (start_h, end_h) not in self._previous:
                self._previous[(start_h, end_h)] = self.reads.later(rollups.platform_totals, start_h, end_h,
                                                                    self.names)

    def hours(self, brand: str, start_h: int, end_h: int) -> npt.NDArray[np.int64]:
        """The brand's hourly rows over [start_h, end_h) (within [hist_h, end_h))."""
        return self.counts[self.index[brand], start_h - self.hist_h : end_h - self.hist_h]

    def sums(self, brand: str, start_h: int, end_h: int) -> list[int]:
        """[mentions, engagement, positive, neutral, negative] over the hours (computed once)."""
        key = (brand, start_h, end_h)
        if key not in self._sums:
            if start_h >= self.hist_h:
                self._sums[key] = [int(x) for x in self.hours(brand, start_h, end_h).sum(axis=0)]
            else:
                self.want(sums=[(start_h, end_h)])
                totals: dict[str, list[int]] = {n: [0] * 5 for n in self.names}
                for b, _p, *c in self._previous.pop((start_h, end_h)).result():
                    totals[b] = [x + int(y) for x, y in zip(totals[b], c, strict=True)]
                for n, c in totals.items():
                    self._sums[(n, start_h, end_h)] = c
        return self._sums[key]

    def categories(self, start_h: int, end_h: int, brands: Sequence[str] | None = None) -> dict[str, dict[str, tuple[int, int]]]:
        """brand -> category -> (mentions, negative mentions) over the hours."""
        chosen = tuple(brands or self.names)
        self.want(categories=[(start_h, end_h, chosen)])
        out: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
        for b, c, m, n in self._categories.pop((start_h, end_h, chosen)).result():
            out[b][c] = (m, n)
        return out


_KEYS = ("mentions", "engagement", "positive", "neutral", "negative")


def _named(c: Sequence[int]) -> dict[str, int]:
    return dict(zip(_KEYS, c, strict=True))


def build_competitor_report(
    engine: Engine,
    rules: RulesConfig,
    *,
    start: datetime,
    end: datetime,
    brands: Sequence[str] | None = None,
    interval: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The report for [start, end) (widened to whole hours); raises ReportError when
    a brand is unknown, the period is empty or backwards, or the interval is unknown."""
    start, end = floor_hour(start), ceil_hour(end)
    if end <= start:
        raise ReportError(f"the period ends ({_iso(end)}) before it starts ({_iso(start)})")
    interval = check_interval(interval, start, end)
    chosen = select_brands(rules, brands)
    names = [b.name for b in chosen]
    start_h, end_h = rollups.epoch_hour(start), rollups.epoch_hour(end)
    span_h = end_h - start_h
    spike_h = spike_history_start(start_h)
    now = now or utcnow()
    own = [b.name for b in chosen if not b.competitor]
    with _Reads(engine) as reads:
        # every independent read is issued here; the pool runs them first come, first
        # served, so the longest chains of statements go first (care: ~25 ms of several
        # statements on the bench; top authors by reach: a walk in chunks), then the
        # hourly rows the main thread waits for (back to the spike history; the drivers'
        # previous period is read by days), then what is needed later
        care_read = reads.later(care_performance, own, start, end, now) if own else None
        reach_read = reads.later(rq.top_by_reach, names, start, end, TOP)
        data = _Data(reads, rules, start_h, end_h, spike_h)
        data.want(categories=[(start_h, end_h, names), (start_h - span_h, start_h, names)],
                  sums=[(start_h - span_h, start_h)])
        term_reads = {name: reads.later(_sample_counts, name, start, end) for name in (b.name for b in rules.brands)}
        post_reads = {n: reads.later(rq.top_posts_by_engagement, n, start, end, TOP) for n in names}
        data.load()
        totals = _totals(data, names, start_h, end_h)
        if sum(totals[n]["mentions"] for n in names) == 0:
            raise EmptyPeriod(
                f"no mentions of {', '.join(names)} between {_iso(start)} and {_iso(end)}: nothing to report"
            )
        excluded = _excluded_terms(rules)
        all_mentions = sum(totals[n]["mentions"] for n in names)
        all_engagement = sum(totals[n]["engagement"] for n in names)
        platforms = _platforms(data, names, start_h, end_h)
        series = _series(data, names, start_h, end_h, interval)
        found = _spikes(reads, data, chosen, spike_h, start_h, end_h, excluded)
        drivers = _drivers(data, names, start_h, end_h, span_h)
        terms = {name: r.result() for name, r in term_reads.items()}
        by_reach = reach_read.result()
        out_brands = []
        for b in chosen:
            tot = totals[b.name]
            mine = terms.get(b.name, Counter())
            others = _Others([c for name, c in terms.items() if name != b.name])
            reach_posts, top_authors = by_reach[b.name]
            out_brands.append({
                "name": b.name,
                "competitor": bool(b.competitor),
                "mentions": tot["mentions"],
                "engagement": tot["engagement"],
                "share_of_voice": _share(tot["mentions"], all_mentions),
                "engagement_share": _share(tot["engagement"], all_engagement),
                "net_sentiment": net_sentiment(tot["positive"], tot["negative"]),
                "sentiment": {s: tot[s] for s in SENT},
                "platforms": platforms[b.name],
                "drivers": drivers[b.name],
                "terms": distinctive_terms(mine, others, top=TERMS, exclude=excluded),
                "series": series[b.name],
                "top_posts": post_reads[b.name].result(),
                "top_posts_by_reach": reach_posts,
                "top_authors": top_authors,
            })
        care = care_read.result() if care_read is not None else None
    return {
        "period": {"from": _iso(start), "to": _iso(end), "interval": interval},
        "generated_at": _iso(now),
        "totals": {"mentions": all_mentions, "engagement": all_engagement},
        "brands": out_brands,
        "spikes": found,
        "care": care,
    }


# --------------------------------------------------------------------------- parts


def _totals(data: _Data, names: list[str], start_h: int, end_h: int) -> dict[str, dict[str, int]]:
    return {n: _named(data.sums(n, start_h, end_h)) for n in names}


def _platforms(data: _Data, names: list[str], start_h: int, end_h: int) -> dict[str, list[dict[str, Any]]]:
    per_platform: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (b, p), c in data.platforms.items():
        if b in names:
            per_platform[p][0] += c[0]
            per_platform[p][1] += c[1]
    out: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    cells = [(b, p, c) for (b, p), c in data.platforms.items() if b in names and c[0]]
    for b, p, c in sorted(cells, key=lambda x: (x[0], -x[2][0], x[1])):
        out[b].append({
            "platform": p,
            "mentions": c[0],
            "engagement": c[1],
            "share_of_voice": _share(c[0], per_platform[p][0]),
            "engagement_share": _share(c[1], per_platform[p][1]),
            "sentiment": {"positive": c[2], "neutral": c[3], "negative": c[4]},
            "net_sentiment": net_sentiment(c[2], c[4]),
        })
    return out


def _series(data: _Data, names: list[str], start_h: int, end_h: int, interval: str) -> dict[str, list[dict[str, Any]]]:
    buckets = _buckets(start_h, end_h, interval)
    # each bucket's first hour within the period, as an offset: the hours are contiguous
    firsts = [max(b, start_h) - start_h for b in buckets]
    starts = [_iso(rollups.hour_start(max(b, start_h))) for b in buckets]
    out: dict[str, list[dict[str, Any]]] = {}
    for n in names:
        hours = data.hours(n, start_h, end_h)
        cells = np.add.reduceat(hours, firsts, axis=0).tolist() if firsts else []
        out[n] = [{"start": at, **_named(c), "net_sentiment": net_sentiment(c[2], c[4])}
                  for at, c in zip(starts, cells, strict=True)]
    return out


def _drivers(data: _Data, names: list[str], start_h: int, end_h: int, span_h: int) -> dict[str, list[dict[str, Any]]]:
    """Complaint drivers: categories of negative mentions, now and in the previous period.

    `count` is negative mentions carrying the category, `share` its share of the brand's
    negative mentions (a mention may carry several categories, so shares can sum past 1),
    `previous`/`previous_share` the same over the equal-length period before, `change`
    the difference in share (percentage points as a fraction), `mentions` all mentions
    with the category whatever their sentiment.
    """
    prev_h = start_h - span_h
    now_cats = data.categories(start_h, end_h, names)
    prev_cats = data.categories(prev_h, start_h, names)
    cur = {n: Counter({c: v[1] for c, v in now_cats.get(n, {}).items()}) for n in names}
    cur_all = {n: Counter({c: v[0] for c, v in now_cats.get(n, {}).items()}) for n in names}
    prev = {n: Counter({c: v[1] for c, v in prev_cats.get(n, {}).items()}) for n in names}
    neg_now = {n: data.sums(n, start_h, end_h)[4] for n in names}
    neg_prev = {n: data.sums(n, prev_h, start_h)[4] for n in names}
    out: dict[str, list[dict[str, Any]]] = {}
    for n in names:
        cats = set(cur[n]) | set(prev[n]) | set(cur_all[n])
        rows: list[dict[str, Any]] = []
        for cat in cats:
            share = _share(cur[n][cat], neg_now[n])
            prev_share = _share(prev[n][cat], neg_prev[n])
            rows.append({
                "category": cat,
                "count": cur[n][cat],
                "share": share,
                "mentions": cur_all[n][cat],
                "previous": prev[n][cat],
                "previous_share": prev_share,
                "change": round(share - prev_share, 4),
                "count_change": cur[n][cat] - prev[n][cat],
            })
        rows.sort(key=lambda r: (-r["count"], -r["mentions"], r["category"]))
        out[n] = rows
    return out


def _sample_counts(conn: Connection, name: str, start: datetime, end: datetime) -> Counter[str]:
    """term -> negative mentions containing it, in the brand's bounded sample
    (storage/report_queries.py `term_sample`: at most 600 posts spread over the period,
    their terms computed at ingest). Counted on the thread that read it."""
    return _counted(rq.term_sample(conn, name, start, end))


def _counted(sample: list[tuple[int, str]]) -> Counter[str]:
    """Term -> posts, from stored terms (tab-separated; each post's terms are distinct):
    one join, one split and one C-level count instead of one update per post."""
    joined = "\t".join([terms for _id, terms in sample if terms])
    return Counter(joined.split("\t")) if joined else Counter()


class _Others(Mapping[str, int]):
    """The other brands' term counts added up, as a view: a term's count is looked up in
    each (the log-odds reads only the counts of the group's own frequent terms, and the
    total), so no merged counter is built per brand. The same integers as merging them."""

    def __init__(self, counts: list[Counter[str]]):
        self._counts = counts

    def __getitem__(self, term: str) -> int:
        n = sum(c.get(term, 0) for c in self._counts)
        if not n:
            raise KeyError(term)
        return n

    def get(self, term: str, default: Any = None) -> Any:
        n = 0
        for c in self._counts:
            n += c.get(term, 0)
        return n or default

    def counts_of(self, terms: Sequence[str]) -> npt.NDArray[np.int64]:
        """Each term's count (0 when absent), looked up in C: what `log_odds_z` asks for
        its candidate terms, in one call instead of one `get` per term."""
        out = np.zeros(len(terms), dtype=np.int64)
        for c in self._counts:
            out += np.fromiter(map(c.get, terms, repeat(0)), dtype=np.int64, count=len(terms))
        return out

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(t for c in self._counts for t in c))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def total(self) -> int:
        return sum(c.total() for c in self._counts)


# --------------------------------------------------------------------------- spikes


def _hourly(data: _Data, brand: str, first_h: int, end_h: int) -> tuple[list[int], list[int]]:
    hours = data.hours(brand, first_h, end_h)
    return hours[:, 0].tolist(), hours[:, 4].tolist()


def _background(conn: Connection, brand: str, negative: bool, since: datetime,
                until: datetime) -> list[tuple[int, Iterable[str]]]:
    """What the brand's posts say outside spikes: (id, terms) of its bounded sample
    (negative posts: terms stored at ingest; any sentiment: the text tokenised)."""
    if negative:
        return [(i, terms.split("\t") if terms else ()) for i, terms in rq.term_sample(conn, brand, since, until)]
    return [(i, mention_terms(text)) for i, text in rq.text_sample(conn, brand, since, until)]


def _spikes(reads: _Reads, data: _Data, chosen: list[Any], first_h: int, start_h: int, end_h: int,
            excluded: set[str]) -> list[dict[str, Any]]:
    """Every brand's spikes, detected first; then each spike's reads (the brand's
    background sample, the spike's posts and categories) are issued together, and the
    spikes explained as they arrive."""
    found: list[tuple[Any, str, spk.Episode]] = []
    for b in chosen:
        volume, negative = _hourly(data, b.name, first_h, end_h)
        for kind, counts in (("volume", volume), ("negative", negative)):
            found.extend((b, kind, ep) for ep in spk.detect(counts, first_h, from_index=start_h - first_h))
    since, until = rollups.hour_start(first_h), rollups.hour_start(end_h)
    backgrounds: dict[tuple[str, bool], Any] = {}
    samples = []
    for b, kind, ep in found:
        key = (b.name, kind == "negative")
        if key not in backgrounds:
            backgrounds[key] = reads.later(_background, b.name, key[1], since, until)
        s_h, e_h = first_h + ep.start, first_h + ep.end
        data.want(categories=[(s_h, e_h, [b.name]), (first_h, data.end_h, [b.name])])
        samples.append(reads.later(_window_sample, b.name, s_h, e_h, key[1]))
    out = [_explain(data, b, kind, ep, first_h, sample.result(), backgrounds[(b.name, kind == "negative")].result(),
                    excluded)
           for (b, kind, ep), sample in zip(found, samples, strict=True)]
    out.sort(key=lambda s: (s["start"], s["brand"], s["kind"]))
    return out


def _window_sample(conn: Connection, brand: str, s_h: int, e_h: int, negative_only: bool) -> list[dict[str, Any]]:
    return rq.window_sample(conn, brand, rollups.hour_start(s_h), rollups.hour_start(e_h), negative_only=negative_only)


def _explain(data: _Data, brand: Any, kind: str, ep: spk.Episode, first_h: int, sample: list[dict[str, Any]],
             background_sample: list[tuple[int, Iterable[str]]], excluded: set[str]) -> dict[str, Any]:
    """Why the spike: its categories and terms against the brand's baseline, and examples."""
    s_h, e_h = first_h + ep.start, first_h + ep.end
    start, end = rollups.hour_start(s_h), rollups.hour_start(e_h)
    idx = 1 if kind == "negative" else 0  # (mentions, negative) per category
    spike_cats = data.categories(s_h, e_h, [brand.name]).get(brand.name, {})
    all_cats = data.categories(first_h, data.end_h, [brand.name]).get(brand.name, {})
    in_spike: Counter[str] = Counter({c: v[idx] for c, v in spike_cats.items() if v[idx]})
    outside: Counter[str] = Counter({c: v[idx] - spike_cats.get(c, (0, 0))[idx] for c, v in all_cats.items()})
    base_total = sum(outside.values())
    spike_total = sum(in_spike.values())
    drivers = []
    ncats = len(set(in_spike) | set(outside)) or 1
    for cat, n in in_spike.most_common():
        share = _share(n, ep.mentions)
        base_share = _share(outside[cat], base_total) if base_total else 0.0
        drivers.append({
            "category": cat,
            "count": n,
            "share": share,
            "baseline_share": base_share,
            # Against an add-half smoothed baseline share, so a category new in the spike
            # (an outage where there was none) gets a large, finite lift.
            "lift": round((n / spike_total) / ((outside[cat] + 0.5) / (base_total + 0.5 * ncats)), 2),
        })
    sample_terms: Counter[str] = Counter()
    for post in sample:
        sample_terms.update(mention_terms(post["text"] or ""))
    in_sample = {post["id"] for post in sample}
    background: Counter[str] = Counter()
    for mention_id, terms in background_sample:
        if mention_id not in in_sample:  # the spike's own posts are not its baseline
            background.update(terms)
    return {
        "brand": brand.name,
        "competitor": bool(brand.competitor),
        "kind": kind,
        "start": _iso(start),
        "end": _iso(end),
        "peak": _iso(rollups.hour_start(first_h + ep.peak)),
        "mentions": ep.mentions,
        "baseline": round(ep.baseline, 1),
        "ratio": round(ep.mentions / ep.baseline, 1) if ep.baseline > 0 else None,
        "p_value": ep.p_value,
        "drivers": drivers[:6],
        "terms": distinctive_terms(sample_terms, background, top=8, exclude=excluded),
        "examples": [
            {"text": p["text"], "url": p["url"], "author": p["author"], "platform": p["platform"],
             "created_at": p["created_at"], "engagement": p["engagement"], "sentiment": p["sentiment"]}
            for p in sample[:EXAMPLES]
        ],
    }


def recent_spikes(
    engine: Engine,
    rules: RulesConfig,
    *,
    hours: int = 3,
    brands: Sequence[str] | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Spikes (volume and negative) that touch the last `hours` hours, explained.

    For the alert job: the baseline learns from the HISTORY_DAYS before
    (`spike_history_start`, as the report's); only the current,
    partly elapsed hour is included as it stands. Each spike's `start` is stable while it
    grows, so (brand, kind, start) identifies it across polls for de-duplication.
    """
    now = now or utcnow()
    end_h = rollups.epoch_hour(now) + 1
    start_h = end_h - max(1, hours)
    first_h = spike_history_start(start_h)
    chosen = select_brands(rules, brands)
    with _Reads(engine) as reads:
        data = _Data(reads, rules, start_h, end_h, first_h).load()
        return _spikes(reads, data, chosen, first_h, start_h, end_h, _excluded_terms(rules))


# --------------------------------------------------------------------------- care


def _quantile(hist: Mapping[int, int], q: float) -> float | None:
    """The q-quantile of response seconds from bucket counts, interpolated geometrically."""
    total = sum(hist.values())
    if not total:
        return None
    edges = rq.RESPONSE_BUCKETS
    target, seen = q * total, 0
    for b in sorted(hist):
        n = hist[b]
        if seen + n >= target:
            lo = edges[b - 1] if b > 0 else 0.0
            hi = edges[b] if b < len(edges) else edges[-1] * 1.1
            frac = (target - seen) / n
            return round(lo * (hi / lo) ** frac if lo > 0 else hi * frac, 1)
        seen += n
    return None


class _CareCell:
    """Escalations, within SLA, breached and the response-time histogram of one group."""

    __slots__ = ("breached", "hist", "met", "n")

    def __init__(self) -> None:
        self.n = self.met = self.breached = 0
        self.hist = np.zeros(rq.CARE_BUCKETS + 1, dtype=np.int64)  # responses per bucket

    def add(self, n: int, met: int, breached: int, hist: npt.NDArray[np.int64]) -> None:
        self.n += n
        self.met += met
        self.breached += breached
        self.hist += hist

    def stats(self) -> dict[str, Any]:
        """First response = the earlier of the first reply and the resolution (an
        escalation closed without a public reply was handled too). Within SLA:
        responded by `sla_due`. Unanswered escalations count as breached once `sla_due`
        has passed, and as pending (not in the share) before. Median and p90 come from
        the response-time histogram (storage/report_queries.py), within 10 % (the
        estimate lies in the exact quantile's own 1.1x bucket)."""
        met, breached = self.met, self.breached
        hist = {int(b): int(self.hist[b]) for b in np.flatnonzero(self.hist)}
        return {
            "escalations": self.n,
            "responded": sum(hist.values()),
            "first_response_median_s": _quantile(hist, 0.5),
            "first_response_p90_s": _quantile(hist, 0.9),
            "within_sla": met,
            "breached_sla": breached,
            "pending": self.n - met - breached,
            "within_sla_share": _share(met, met + breached) if met + breached else None,
        }


def care_performance(conn: Connection, own: list[str], start: datetime, end: datetime,
                     now: datetime) -> dict[str, Any]:
    """Care over the period, overall, by status, by queue and by category (an escalation
    with several categories counts in each; one with none under "(none)"): the
    database's grouped histogram is added up per (queue, categories) in one pass, then
    each of those (a few dozen) into its cells, histograms as arrays."""
    overall = _CareCell()
    by_queue: dict[str, _CareCell] = defaultdict(_CareCell)
    by_cat: dict[str, _CareCell] = defaultdict(_CareCell)
    status: Counter[str] = Counter()
    none = ("(none)",)
    cols = rq.care_columns(conn, own, start, end, now)
    # each (queue, categories, status) adds to its status; each (queue, categories) is
    # summed once (integer weights in float64 sums: exact) and added to its cells
    combos: dict[tuple[str, tuple[str, ...]], int] = {}
    combo_of = np.array([combos.setdefault((queue, cats), len(combos)) for queue, cats, _s in cols.keys],
                        dtype=np.int64)
    for (_q, _c, state), n in zip(cols.keys, _sum_by(cols.key, cols.n, len(cols.keys)), strict=True):
        status[state] += n
    combo = combo_of[cols.key] if len(cols.key) else cols.key
    width = rq.CARE_BUCKETS + 1
    answered = cols.bucket >= 0
    hists = np.bincount(combo[answered] * width + cols.bucket[answered], weights=cols.n[answered],
                        minlength=len(combos) * width).astype(np.int64).reshape(len(combos), width)
    sums = zip(*(_sum_by(combo, x, len(combos)) for x in (cols.n, cols.met, cols.breached)), strict=True)
    for ((queue, cats), (n, met, breached)), hist in zip(zip(combos, sums, strict=True), hists, strict=True):
        for cell in (overall, by_queue[queue], *(by_cat[c] for c in cats or none)):
            cell.add(n, met, breached, hist)
    return {
        "brands": own,
        **overall.stats(),
        "by_status": dict(status),
        "by_queue": [{"queue": q, **cell.stats()} for q, cell in sorted(by_queue.items())],
        "by_category": [{"category": c, **cell.stats()}
                        for c, cell in sorted(by_cat.items(), key=lambda kv: (-kv[1].n, kv[0]))],
    }


def _sum_by(index: npt.NDArray[np.int64], values: npt.NDArray[np.int64], size: int) -> list[int]:
    """values summed by index (0..size-1), as Python ints (float64 sums of integers below
    2**53: exact)."""
    return [int(x) for x in np.bincount(index, weights=values, minlength=size).tolist()]


def series_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per brand per interval (the CSV format)."""
    rows = []
    for b in report["brands"]:
        for s in b["series"]:
            rows.append({"brand": b["name"], "competitor": b["competitor"], "interval": report["period"]["interval"],
                         **s})
    return rows


__all__ = ["HISTORY_DAYS", "build_competitor_report", "care_performance", "net_sentiment", "recent_spikes",
           "select_brands", "series_rows"]
