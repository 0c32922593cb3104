"""The outbox worker: deliver committed escalations to their sinks, at least once.

The pipeline writes an outbox row in the same transaction as its escalation, so nothing
decided is ever lost. This worker claims due rows (highest priority first; on PostgreSQL
with `FOR UPDATE SKIP LOCKED`, so replicas never take the same row), delivers each in a
thread pool, and records the outcome:

    pending/retry ──claim──► sending ──ok──────────────► sent (external_ref kept)
                                 ├──retryable──────────► retry (next_attempt_at = backoff, ≥ Retry-After)
                                 ├──sink's breaker open► retry, unattempted (handed back)
                                 └──permanent/too old──► dead  (last_error says why)
    a crashed worker's `sending` row is re-claimed when its 30 s lease (renewed by a
    heartbeat while delivering) lapses, or at once by the same instance restarting.

Outages are waited out, not dead-lettered: each sink has a circuit breaker
(storage.breakers, responders.breaker). After `retry.open_after` consecutive failures,
or a 429, the sink's rows are not claimed at all; one row probes the sink, no sooner
than its Retry-After and at most `retry.probe_max` apart; when a probe gets through, the
sink's backlog is due at once and drains in priority order. A row is dead-lettered only
for a permanent error or when it is older than `retry.max_age` (24 h by default).

Latency: `wake()` (called by the pipeline right after it commits escalations) starts a
round at once instead of at the next idle poll.

Delivery is at-least-once; every sink is idempotent by the row's key (a retry after an
ambiguous failure looks the ticket up instead of creating a second one), so a customer
gets one ticket. Jobs pass ids, never ORM objects, between threads.

Rows by kind:

    escalation, alert ─► the sink named by the row (SinkSet); external_ref → escalation.external_ref
                         (a case's later posts: a comment on the case's ticket, `_thread_cases`)
    reply ─────────────► the platform publisher of the row's source (responders.publish);
                         the platform's reply id → escalation.reply_external_id

`clock` and `rng` are injectable so tests (and the recovery test) can drive time and
backoff deterministically.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from responders.backoff import decide
from responders.breaker import RoundGate, probe_delay
from responders.payloads import build_payloads
from responders.publish import Publishers, deliver_reply, record_published
from responders.sinks import build_sink
from responders.types import DeliveryResult, EscalationPayload, Sink, is_ticket_sink
from socialear.config import RulesConfig, SinkRetry, parse_duration
from socialear.errors import NotConfigured
from storage import breakers, outbox, repo
from storage.audit import Event, audit_many
from storage.engine import Connection, Engine, session_scope
from storage.history import newest_escalation_ids
from storage.outbox import DEFAULT_LEASE_S, release, renew, resume_own
from storage.tickets import record_refs
from storage.types import utcnow

log = logging.getLogger(__name__)
# A case's follow-up waits this long between looks at whether the case's ticket exists.
CASE_WAIT_S = 5.0


@dataclass(slots=True)
class OutboxStats:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    skipped: int = 0  # handed back unattempted: the sink's breaker opened mid-round


class SinkSet:
    """Sinks built from the rules, rebuilt when the rules object changes; unconfigured ones
    are remembered with their reason instead of failing start-up."""

    def __init__(self, rules: Callable[[], RulesConfig], env: Mapping[str, str] | None = None, clients: Mapping[str, Any] | None = None):
        self._rules = rules
        self._env = env
        self._clients = dict(clients or {})
        self._built_for: RulesConfig | None = None
        self._sinks: dict[str, Sink] = {}
        self.not_configured: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def rules(self) -> Callable[[], RulesConfig]:
        return self._rules

    @property
    def env(self) -> Mapping[str, str] | None:
        return self._env

    def console_url(self) -> str | None:
        return self._rules().console_url

    def flush(self, force: bool = False) -> None:
        """Let grouping sinks (alerts) send windows that have closed; `force` at shutdown."""
        with self._lock:
            sinks = list(self._sinks.values())
        for sink in sinks:
            flush = getattr(sink, "flush", None)
            if flush is not None:
                try:
                    flush(force=force)
                except Exception:  # an alert channel down must not stop deliveries
                    log.exception("sink %s: flush failed", getattr(sink, "name", "?"))

    def close(self) -> None:
        """Close the built sinks' connections (each sink with a `close()`: the HTTP sinks own
        an httpx client); a later `get` builds them again. Left open, every client leaked
        its keep-alive sockets at shutdown (pytest's ResourceWarning showed it)."""
        with self._lock:
            sinks = list(self._sinks.values())
            self._sinks, self._built_for = {}, None
        for sink in sinks:
            close = getattr(sink, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:  # closing one must not stop closing the rest
                    log.exception("sink %s: close failed", getattr(sink, "name", "?"))

    def retry_policy(self, name: str) -> SinkRetry:
        """The sink's `retry:` block from the rules (defaults for rows without a rules sink)."""
        for cfg in self._rules().sinks:
            if cfg.name == name:
                return cfg.retry
        return SinkRetry()

    def get(self, name: str) -> Sink:
        with self._lock:
            rules = self._rules()
            if rules is not self._built_for:
                self._build(rules)
            if name in self.not_configured:
                raise NotConfigured(self.not_configured[name])
            if name not in self._sinks:
                raise NotConfigured(f"no sink named {name!r} in the rules")
            return self._sinks[name]

    def _build(self, rules: RulesConfig) -> None:
        self._sinks, self.not_configured = {}, {}
        for cfg in rules.sinks:
            if not cfg.enabled:
                continue
            try:
                self._sinks[cfg.name] = build_sink(cfg.name, cfg.type, cfg.options, env=self._env, client=self._clients.get(cfg.name))
            except NotConfigured as exc:
                self.not_configured[cfg.name] = str(exc)
                log.warning("sink %s: not configured: %s", cfg.name, exc)
        self._built_for = rules


class OutboxWorker:
    def __init__(
        self,
        engine: Engine,
        sinks: SinkSet,
        *,
        worker_id: str,
        parallel: int = 4,
        batch: int | None = None,
        max_attempts: int | None = None,
        lock_ttl: timedelta = timedelta(seconds=DEFAULT_LEASE_S),
        publishers: Publishers | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: Callable[[], float] = random.random,
    ):
        self.engine = engine
        self.sinks = sinks
        # Replies go out through the platform publishers of the same rules/environment.
        self.publishers = publishers or Publishers(sinks.rules, sinks.env)
        self.clock = clock
        self.rng = rng
        self.worker_id = worker_id
        self.parallel = parallel
        # rows claimed per round: a burst drains in few rounds (two transactions each),
        # while a round stays short enough that the first row is not kept waiting
        self.batch = batch or 8 * parallel
        self.max_attempts = max_attempts  # None: bounded by age only (the sink's retry.max_age)
        self.lock_ttl = lock_ttl
        self._pool = ThreadPoolExecutor(parallel, thread_name_prefix="outbox")
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._done = threading.Event()
        self._delivering = threading.Event()
        self._warm = False
        self._recorder: _Recorder | None = None  # run_forever only: rounds recorded off the delivery path
        self._handed: list[int] = []  # committed rows claimed for us by the pipeline, not yet delivered
        self._handed_lock = threading.Lock()

    @property
    def owner(self) -> str:
        return self.worker_id

    @property
    def lease_s(self) -> float:
        return self.lock_ttl.total_seconds()

    def accept(self, ids: list[int]) -> None:
        """Rows the pipeline just committed already claimed for this worker (see
        Pipeline.outbox_handoff): delivered in the next round, which starts now."""
        with self._handed_lock:
            self._handed.extend(ids)
        self._wake.set()

    def wake(self) -> None:
        """New rows are committed: start a round now (thread-safe, cheap, idempotent)."""
        self._wake.set()

    def _take_handed(self) -> list[int]:
        # everything handed over so far, up to a few rounds' worth: a burst's rows arrive
        # faster than rounds of `batch` can go, and each round costs two database visits
        limit = 4 * self.batch
        with self._handed_lock:
            ids, self._handed = self._handed[:limit], self._handed[limit:]
        return ids

    def warm_up(self) -> None:
        """Pay this process's one-off costs before an escalation has to: build every
        configured sink (an HTTP client imports its transport and loads the CA bundle) and
        run a round's read queries once, so SQLAlchemy has compiled them. Read-only.

        Why: a fresh delivery process took 3-10x longer over its first round than over the
        next ones (bench/latency.py, 54 rows: 95 ms against 10 ms on a quiet machine, over
        300 ms on a busy one), and that round is the first escalations after every start.
        """
        if self._warm or self._stop.is_set():
            return
        self._warm = True
        for cfg in self.sinks.rules().sinks:
            if cfg.enabled:
                try:
                    self.sinks.get(cfg.name)
                except NotConfigured:
                    pass  # remembered with its reason; delivery reports it
        with self.engine.connect() as conn:
            newest = newest_escalation_ids(conn)
            build_payloads(conn, newest or [0], self.sinks.console_url())
        self._load([])

    def resume(self) -> int:
        """Take back the rows this instance was sending when it last died (start-up only)."""
        with session_scope(self.engine) as session:
            n = resume_own(session, self.worker_id, self.clock())
        if n:
            log.info("outbox: resumed %d delivery(ies) this instance had in flight", n)
        return n

    def run_once(self) -> OutboxStats:
        """Claim what is due (up to `batch` rows), deliver it, record the outcomes.

        Three steps, so only the network calls run in the pool and the database sees two
        short transactions per round rather than several per row: (1) read the claimed rows
        and build their payloads on one connection, (2) deliver in parallel, (3) record every
        outcome (sent / retry / dead, escalation refs, breakers, audit events) in one
        transaction. A crash between (2) and (3) leaves the rows `sending`; they are
        re-claimed when the lease lapses (or at once by this instance restarting) and
        re-delivered, which every sink and publisher makes harmless.
        """
        now = self.clock()
        ttl = self.lock_ttl.total_seconds()
        handed = self._take_handed()
        if handed:  # already ours: no claim transaction to wait for behind the pipeline's
            return self._deliver_handed(handed)
        with self.engine.connect() as conn:  # look before claiming: a read never waits (any_due)
            if not (breakers.probes_due(conn, now)
                    or outbox.any_due(conn, now, exclude_sinks=breakers.blocked_sinks(conn))):
                return OutboxStats()
        with session_scope(self.engine) as session:
            probes = breakers.take_probes(session, self.worker_id, now, ttl)
            blocked = breakers.blocked_sinks(session)
            ids = repo.claim_outbox(session, self.worker_id, self.batch, now, lease_s=ttl, exclude_sinks=blocked)
            for sink in probes:
                probe = repo.claim_outbox(session, self.worker_id, 1, now, lease_s=ttl, only_sink=sink)
                if probe:
                    ids.extend(probe)
                    log.info("outbox: probing sink %s with row %d", sink, probe[0])
                else:  # nothing left to send there: nothing to wait for either
                    breakers.close(session, sink, now)
            prior = breakers.failures(session)
        if not ids:
            return OutboxStats()
        return self._round(ids, prior, set(probes))

    def _deliver_handed(self, ids: list[int]) -> OutboxStats:
        """A round over rows the pipeline handed over: those of a sink whose breaker is
        open go back to wait with the rest of its backlog, the others are delivered."""
        with self.engine.connect() as conn:  # reads only: never waits behind a writer
            blocked = breakers.blocked_sinks(conn)
            prior = breakers.failures(conn)
            held = outbox.in_sinks(conn, ids, blocked)
        stats = OutboxStats()
        if held:
            with session_scope(self.engine) as session:
                stats.skipped = release(session, held, self.worker_id, self.clock())
            ids = [i for i in ids if i not in set(held)]
        if not ids:
            return stats
        round_stats = self._round(ids, prior, set())
        round_stats.skipped += stats.skipped
        return round_stats

    def _round(self, ids: list[int], prior: dict[str, int], probes: set[str]) -> OutboxStats:
        """Load, deliver and record one round. Under `run_forever` a round in which every
        delivery succeeded is recorded by the recorder thread while the next round already
        delivers (see `_Recorder`); any other round (a failure, a probe) waits for the
        rounds before it to be recorded and records itself, so the breakers the next round
        reads are current."""
        recorder = self._recorder
        if recorder is not None:  # failures of sinks that since succeeded in a round not yet recorded
            prior = {sink: n for sink, n in prior.items() if sink not in recorder.succeeded()}
        gate = RoundGate(prior, lambda name: self.sinks.retry_policy(name).open_after, probes)
        self._delivering.set()
        try:
            jobs = self._load(ids)
            outcomes = list(self._pool.map(self._attempt, jobs, itertools.repeat(gate)))
            done = _Delivered(outcomes, gate, probes)
            if recorder is not None and not probes and all(exc is None for _, _, exc in outcomes):
                recorder.submit(done)
                return OutboxStats(sent=len(outcomes))
            if recorder is not None:
                recorder.flush()
            return self._record([done])
        finally:
            self._delivering.clear()

    def drain(self, max_rounds: int = 100) -> OutboxStats:
        """Deliver until nothing is due (tests, `--once` style runs)."""
        total = OutboxStats()
        for _ in range(max_rounds):
            s = self.run_once()
            total.sent += s.sent
            total.retried += s.retried
            total.dead += s.dead
            total.skipped += s.skipped
            if s.sent + s.retried + s.dead + s.skipped == 0:
                break
        return total

    def run_forever(self, idle_s: float = 1.0) -> None:
        """Rounds until `stop()`: back to back while there is work, else sleep `idle_s`
        or until `wake()`. A heartbeat thread renews the claims of a round in flight."""
        heartbeat = threading.Thread(target=self._heartbeat, name="outbox-heartbeat", daemon=True)
        self._recorder = _Recorder(self._record)
        try:
            try:
                self.resume()
            except Exception:  # the lease expiry recovers them anyway
                log.exception("outbox: could not resume this instance's rows")
            try:
                self.warm_up()
            except Exception:  # only a head start; the first round pays instead
                log.warning("outbox: warm-up failed", exc_info=True)
            heartbeat.start()
            if self.engine.dialect.name == "postgresql":
                threading.Thread(target=self._listen, name="outbox-listen", daemon=True).start()
            while not self._stop.is_set():
                self._wake.clear()
                try:
                    s = self.run_once()
                except Exception:  # keep the worker alive through a DB blip
                    log.exception("outbox: round failed")
                    s = OutboxStats()
                self.sinks.flush()
                if s.sent + s.retried + s.dead == 0:
                    self._wake.wait(idle_s)
        finally:
            self._recorder.close()  # every delivered round recorded before the rows go back
            self._recorder = None
            self._hand_back()
            self.sinks.flush(force=True)
            self.close()
            self._done.set()

    def _hand_back(self) -> None:
        """Stopping: rows handed over but not yet delivered wait in the database instead."""
        with self._handed_lock:
            ids, self._handed = self._handed, []
        if ids:
            try:
                with session_scope(self.engine) as session:
                    release(session, ids, self.worker_id, self.clock())
            except Exception:  # they are ours to resume on restart anyway
                log.exception("outbox: could not hand back %d undelivered row(s)", len(ids))

    def _listen(self) -> None:
        """PostgreSQL: LISTEN for rows committed by other processes (imports, other
        replicas, the console) and start a round at once instead of at the next idle poll."""
        while not self._stop.is_set():
            try:
                outbox.listen_for_rows(self.engine, self._stop.is_set, self._wake.set)
            except Exception:  # the idle poll still finds the rows
                log.warning("outbox: LISTEN connection lost; retrying", exc_info=True)
                self._stop.wait(5.0)

    def _heartbeat(self) -> None:
        """Renew this worker's claims every third of the lease while a round delivers."""
        every = max(0.5, self.lock_ttl.total_seconds() / 3)
        while not self._stop.wait(every):
            with self._handed_lock:
                waiting = bool(self._handed)
            recorder = self._recorder
            if not (self._delivering.is_set() or waiting or (recorder is not None and recorder.pending())):
                continue
            try:
                with session_scope(self.engine) as session:
                    renew(session, self.worker_id, self.clock(), lease_s=self.lock_ttl.total_seconds())
            except Exception:  # a missed beat only shortens the lease
                log.exception("outbox: heartbeat failed")

    def stop(self, timeout: float = 30.0) -> None:
        """Ask `run_forever` to finish its current round, and wait for it."""
        self._stop.set()
        self._wake.set()
        self._done.wait(timeout)

    def close(self) -> None:
        """After the last round: wait for deliveries in flight, then close the sinks."""
        self._pool.shutdown(wait=True)
        self.sinks.close()

    # -- one round ---------------------------------------------------------------------
    def _load(self, ids: list[int]) -> list[_Job]:
        """The claimed rows and their payloads (built now unless frozen in the row), in claim order."""
        jobs: dict[int, _Job] = {}
        built: dict[int, EscalationPayload | BaseException] = {}
        with self.engine.connect() as conn:
            rows = outbox.load(conn, ids)
            to_build = [r.escalation_id for r in rows if r.kind != "reply" and not r.payload]
            try:
                built.update(build_payloads(conn, sorted(set(to_build)), self.sinks.console_url()))
            except Exception as exc:  # noqa: BLE001 - recorded on each row like a delivery error
                built.update(dict.fromkeys(to_build, exc))
            for row in rows:
                job = _Job(row.id, row.sink, row.kind, row.attempts, row.escalation_id, row.idempotency_key,
                           row.payload, row.created_at)
                if job.kind != "reply":
                    if job.raw:
                        job.payload = EscalationPayload.from_dict(job.raw)
                    else:
                        value = built.get(job.escalation_id) or LookupError(f"escalation {job.escalation_id} is gone")
                        if isinstance(value, BaseException):
                            job.error = value
                        else:
                            job.payload = value
                jobs[row.id] = job
            deferred = self._thread_cases(conn, list(jobs.values()))
        if deferred:
            self._defer(deferred)
        return [jobs[i] for i in ids if i in jobs and i not in deferred]

    def _thread_cases(self, conn: Connection, jobs: list[_Job]) -> dict[int, str]:
        """One ticket per case and sink: the case's earliest live outbox row for the sink
        creates it; every later row waits until that row is sent, then comments on its
        ticket (`payload.case_ticket`). Returns {row id: why it waits} for rows to defer.
        A dead first row hands the role to the next, so one bad post cannot block a case."""
        waiting: dict[int, str] = {}
        for job in jobs:
            if job.kind != "escalation" or job.payload is None or job.payload.case_id is None:
                continue
            if not self._makes_tickets(job.sink):
                continue  # a webhook or file gets every post at once, with its case_id
            first = outbox.case_head(conn, job.payload.case_id, job.sink)
            if first is None or first.id == job.id:
                continue
            if first.state == "sent" and first.external_ref:
                # a copy: the payload object is shared by this escalation's other sinks
                job.payload = dataclasses.replace(job.payload, case_ticket=str(first.external_ref))
            else:
                waiting[job.id] = (f"waiting for case {job.payload.case_id}'s ticket "
                                   f"(outbox {first.id}) before adding this post to it")
        return waiting

    def _makes_tickets(self, sink_name: str) -> bool:
        """Ticket sinks (`responders.types.TicketSink`) turn a case's later posts into comments."""
        try:
            return is_ticket_sink(self.sinks.get(sink_name))
        except NotConfigured:
            return False  # delivery reports why; nothing to thread

    def _defer(self, waiting: dict[int, str]) -> None:
        """Put rows back without spending an attempt: waiting is not failing."""
        due = self.clock() + timedelta(seconds=CASE_WAIT_S)
        with session_scope(self.engine) as session:
            outbox.defer(session, waiting, due)

    def _attempt(self, job: _Job, gate: RoundGate) -> _Outcome:
        """One delivery (runs in the pool): network only, no database writes."""
        if job.error is not None:
            return job, None, job.error
        if not gate.allows(job.sink):
            return job, None, _SKIPPED
        try:
            if job.kind == "reply":
                result = deliver_reply(self.engine, self.publishers, job.key, job.raw, job.attempt)
            else:
                if job.payload is None:
                    raise RuntimeError(f"outbox {job.id}: no payload to deliver")
                sink = self.sinks.get(job.sink)
                result = sink.deliver(job.payload, attempt=job.attempt)
        except Exception as exc:  # noqa: BLE001 - classified in _record; the row records it
            gate.report(job.sink, exc)
            return job, None, exc
        gate.report(job.sink, None)
        return job, result, None

    def _record(self, rounds: list[_Delivered]) -> OutboxStats:
        """Every outcome of the given rounds, in order, in one transaction."""
        stats = OutboxStats()
        now = utcnow()
        sent: dict[int, str | None] = {}
        refs: list[tuple[int, str]] = []
        audits: list[Event] = []

        def audit(action: str, job: _Job, **details: Any) -> None:
            audits.append(Event("system", action, "escalation", job.escalation_id, now, {"sink": job.sink, **details}))

        outcomes = [outcome for delivered in rounds for outcome in delivered.outcomes]
        with session_scope(self.engine) as session:
            conn = session.connection()
            skipped = [job.id for job, _, exc in outcomes if exc is _SKIPPED]
            if skipped:
                stats.skipped = release(session, skipped, self.worker_id, self.clock())
            for job, result, exc in outcomes:
                if exc is _SKIPPED:
                    continue
                if exc is not None:
                    policy = self.sinks.retry_policy(job.sink)
                    age = (self.clock() - job.created_at).total_seconds() if job.created_at else 0.0
                    verdict = decide(exc, job.attempt, age_s=age, max_age_s=parse_duration(policy.max_age).total_seconds(),
                                     max_attempts=self.max_attempts, rng=self.rng)
                    if verdict.verdict == "retry":
                        repo.mark_retry(session, job.id, verdict.reason, self.clock() + timedelta(seconds=verdict.delay or 0))
                        log.info("outbox %d → %s: retry in %.0fs: %s", job.id, job.sink, verdict.delay or 0, verdict.reason)
                        stats.retried += 1
                    else:
                        repo.mark_dead(session, job.id, verdict.reason)
                        audit("reply.failed" if job.kind == "reply" else "outbox.dead", job, kind=job.kind, error=verdict.reason)
                        log.warning("outbox %d → %s: dead: %s", job.id, job.sink, verdict.reason)
                        stats.dead += 1
                    continue
                if result is None:
                    raise RuntimeError(f"outbox {job.id}: delivery returned neither a result nor an error")
                ref = None if result.external_ref is None else str(result.external_ref)
                sent[job.id] = ref
                if job.kind == "reply":
                    record_published(conn, job.escalation_id, result, job.raw)
                elif job.kind == "escalation" and ref:
                    refs.append((job.escalation_id, ref))
                audit("outbox.sent", job, external_ref=ref, created=result.created,
                      **({"comment_on": job.payload.case_ticket}
                         if job.payload is not None and job.payload.case_ticket else {}))
                stats.sent += 1
            outbox.mark_sent(session, sent, now=now)  # the whole round at once
            record_refs(conn, refs, now)  # the first ticket reference wins
            audit_many(conn, audits)
            for delivered in rounds:
                self._record_breakers(session, delivered.gate, delivered.probes)
        return stats

    def _record_breakers(self, session: Any, gate: RoundGate, probes: set[str]) -> None:
        """Fold a round's view of each sink into its shared breaker (same transaction)."""
        now = self.clock()
        for sink, report in gate.reports().items():
            policy = self.sinks.retry_policy(sink)
            probe_max = parse_duration(policy.probe_max).total_seconds()
            was_open = sink in probes

            def delay(opens: int, retry_after: float | None, cap: float = probe_max) -> float:
                return probe_delay(opens, retry_after, cap, self.rng)

            state = breakers.record_round(session, sink, report, now, open_after=policy.open_after, probe_delay=delay)
            if state == breakers.OPEN and (report.tripped or not was_open):
                log.warning("outbox: sink %s is down (%s); waiting, one probe at a time", sink, report.error)
            elif state == breakers.CLOSED and report.succeeded and was_open:
                n = breakers.release_backlog(session, sink, now)
                log.info("outbox: sink %s is back; %d waiting delivery(ies) due now", sink, n)


@dataclass(slots=True)
class _Job:
    """One claimed row on its way through a round (plain data; the pool never sees ORM objects)."""

    id: int
    sink: str
    kind: str
    attempt: int
    escalation_id: int
    key: str
    raw: dict[str, Any]
    created_at: datetime | None = None
    payload: EscalationPayload | None = None
    error: BaseException | None = None


_Outcome = tuple[_Job, DeliveryResult | None, BaseException | None]


@dataclass(slots=True)
class _Delivered:
    """A delivered round on its way to `_record`: the outcomes and the gate that saw them."""

    outcomes: list[_Outcome]
    gate: RoundGate
    probes: set[str]  # sinks the round probed (their breaker was open)


class _Recorder:
    """Records delivered rounds on a thread of its own, in order, so the next round's
    deliveries do not wait for this one's bookkeeping.

    Why: recording is a write. On SQLite it waits for the write lock, which the pipeline
    holds for most of each batch; bench/latency.py saw rounds wait 50-200 ms (and, when
    SQLite's busy wait missed the gap between two batches, much longer) before the ids the
    pipeline had just handed over could even be loaded. Rounds that queue up while one
    waits are recorded together in one transaction. A delivered row stays `sending`, its
    lease renewed by the heartbeat, until its round is recorded; a crash in between
    re-delivers it, as a crash between a delivery and its record always could, which
    every sink's idempotency key absorbs.
    """

    RETRIES = 3

    def __init__(self, record: Callable[[list[_Delivered]], OutboxStats]):
        self._record = record
        self._queue: list[_Delivered] = []
        self._busy: list[_Delivered] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="outbox-recorder", daemon=True)
        self._thread.start()

    def submit(self, delivered: _Delivered) -> None:
        with self._cond:
            self._queue.append(delivered)
            self._cond.notify_all()

    def pending(self) -> bool:
        with self._cond:
            return bool(self._queue or self._busy)

    def succeeded(self) -> set[str]:
        """Sinks delivered to in rounds not yet recorded (their breaker's count is stale)."""
        with self._cond:
            return {sink for d in (*self._busy, *self._queue) for sink, r in d.gate.reports().items() if r.succeeded}

    def flush(self) -> None:
        """Until every submitted round is recorded (or given up on)."""
        with self._cond:
            self._cond.wait_for(lambda: not (self._queue or self._busy))

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._closed)
                if not self._queue:
                    return
                self._busy, self._queue = self._queue, []
            try:
                for attempt in range(1, self.RETRIES + 1):
                    try:
                        self._record(self._busy)
                        break
                    except Exception:  # the rows stay `sending`: re-delivered after the lease
                        log.exception("outbox: could not record %d delivered round(s) (try %d of %d)",
                                      len(self._busy), attempt, self.RETRIES)
                        if attempt < self.RETRIES:
                            time.sleep(0.5 * attempt)
            finally:
                with self._cond:
                    self._busy = []
                    self._cond.notify_all()


class _Skipped(Exception):
    """Marker outcome: the row was not attempted (its sink's breaker opened mid-round)."""


_SKIPPED = _Skipped("not attempted: the sink's circuit breaker is open")
