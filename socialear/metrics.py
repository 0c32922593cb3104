"""Process-wide metrics and liveness, shared by the service's parts.

The scheduler, the pipeline and the outbox worker run in one process with the console,
but they must not import it (layering). So the things they report live here, in the
shared layer: Prometheus metric objects that the console's `/metrics` registers, and a
`Liveness` board that each long-running loop beats and `/healthz` reads. A loop that
stops beating (a deadlock, a thread that died) turns `/healthz` into a 503, which is what
a container orchestrator needs to restart the replica.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

T = TypeVar("T")

# registry=None: not registered anywhere at import time; the console registers them into
# its own registry (a test may build many apps in one process without name clashes).
PIPELINE_BATCH_SECONDS = Histogram(
    "socialear_pipeline_batch_seconds", "Time to fetch-process-commit one batch of one source",
    ["source"], registry=None,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
JOB_RUNS = Counter(
    "socialear_job_runs", "Background job runs (reports, alerts, deletion checks, ticket status, ...)",
    ["job", "outcome"], registry=None,
)
JOB_SECONDS = Histogram("socialear_job_seconds", "Background job run time", ["job"], registry=None,
                        buckets=(0.01, 0.1, 0.5, 1, 5, 15, 60, 300))
JOB_LAST_SUCCESS = Gauge("socialear_job_last_success_timestamp_seconds",
                         "Unix time of the job's last successful run", ["job"], registry=None)

PROCESS_METRICS: tuple[Any, ...] = (PIPELINE_BATCH_SECONDS, JOB_RUNS, JOB_SECONDS, JOB_LAST_SUCCESS)


def register_process_metrics(registry: CollectorRegistry) -> None:
    for metric in PROCESS_METRICS:
        registry.register(metric)


def instrument_job(name: str, func: Callable[[], T]) -> Callable[[], T]:
    """Wrap a scheduled job so its runs, failures and duration show in `/metrics`.
    The exception is re-raised: the scheduler logs it as before."""

    def run() -> T:
        start = time.perf_counter()
        try:
            result = func()
        except BaseException:
            JOB_RUNS.labels(name, "error").inc()
            raise
        finally:
            JOB_SECONDS.labels(name).observe(time.perf_counter() - start)
        JOB_RUNS.labels(name, "ok").inc()
        JOB_LAST_SUCCESS.labels(name).set(time.time())
        return result

    run.__name__ = f"instrumented_{name}"
    return run


class Liveness:
    """Named heartbeats with a staleness limit each.

    `beat(name)` records that a loop made progress; `report()` gives each part's age and
    whether it is alive (beaten within its limit, and its thread, if given, still running).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._parts: dict[str, tuple[float, float | None, Callable[[], bool] | None]] = {}

    def watch(self, name: str, max_age_s: float, thread_alive: Callable[[], bool] | None = None) -> None:
        with self._lock:
            self._parts[name] = (max_age_s, None, thread_alive)

    def beat(self, name: str) -> None:
        with self._lock:
            max_age, _, alive = self._parts.get(name, (float("inf"), None, None))
            self._parts[name] = (max_age, self._clock(), alive)

    def report(self) -> dict[str, dict[str, Any]]:
        now = self._clock()
        with self._lock:
            parts = dict(self._parts)
        out: dict[str, dict[str, Any]] = {}
        for name, (max_age, last, thread_alive) in sorted(parts.items()):
            age = None if last is None else round(now - last, 1)
            running = thread_alive() if thread_alive is not None else True
            ok = running and age is not None and age <= max_age
            out[name] = {"alive": ok, "last_beat_s": age, "max_age_s": max_age, "thread": running}
        return out

    def names(self) -> Iterable[str]:
        return list(self._parts)
