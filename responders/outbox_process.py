"""The outbox worker in its own process, fed committed outbox ids through a pipe.

Why a process: scoring is pure-Python CPU work and holds the interpreter lock; delivery
threads in the same process wait behind it, so during a burst escalations queued up
behind the very batches that were still being scored (bench/latency.py measured the
wait: most of fetch-to-ticket was commit-to-attempt). In its own process the worker runs
on the other core and the pipeline's commit reaches the contact centre in milliseconds.

    socialear run ──Pipeline commits──► OutboxProcess.accept(ids) ──stdin "ids 4,5,6"──►
    python -m responders.outbox_process ──► OutboxWorker.accept(ids) ──► sinks

The rows are claimed for this instance inside the pipeline's transaction (see
Pipeline.outbox_handoff), so nothing depends on the pipe: ids lost with a dead child
are `sending` rows of this instance, which the next child takes back at start
(`OutboxWorker.resume`) or any replica after the 30 s lease.

Lifetimes: the child exits when its stdin closes (the service stopped, or died: the
kernel closes the pipe even after SIGKILL) and, on Linux, gets SIGTERM the moment its
parent dies (PR_SET_PDEATHSIG). Either way it finishes the round in flight and records
it. A new child waits for a per-instance file lock before resuming this instance's rows,
so it never takes back rows an old child is still delivering. The service restarts a
child that dies on its own.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

LEASE_S = 30.0
RULES_RELOAD_S = 5.0


class OutboxProcess:
    """Parent side: start, feed, watch and stop the delivery process (an OutboxHandoff)."""

    def __init__(
        self,
        database_url: str,
        rules_path: str | Path,
        instance_id: str,
        *,
        parallel: int = 4,
        max_attempts: int | None = None,
        env: Mapping[str, str] | None = None,
        idle_s: float = 1.0,
    ):
        self.database_url = database_url
        self.rules_path = str(rules_path)
        self.instance_id = instance_id
        self.parallel = parallel
        self.max_attempts = max_attempts
        self.env = dict(os.environ if env is None else env)
        self.idle_s = idle_s
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self._ready = threading.Event()
        self.restarts = 0

    # -- OutboxHandoff -----------------------------------------------------------------
    @property
    def owner(self) -> str:
        return self.instance_id

    @property
    def lease_s(self) -> float:
        return LEASE_S

    def accept(self, ids: list[int]) -> None:
        """Pass committed ids on; if the child is gone they wait as this instance's rows."""
        line = "ids " + ",".join(str(i) for i in ids) + "\n"
        with self._lock:
            proc = self._proc
            if proc is None or proc.stdin is None or proc.poll() is not None:
                return
            try:
                proc.stdin.write(line)
                proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                pass

    # -- lifetime ----------------------------------------------------------------------
    def start(self) -> None:
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="outbox-process", daemon=True)
        self._watcher.start()

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _spawn(self) -> None:
        args = [sys.executable, "-m", "responders.outbox_process", "--database-url", self.database_url,
                "--rules", self.rules_path, "--instance-id", self.instance_id, "--parallel", str(self.parallel),
                "--idle", str(self.idle_s)]
        if self.max_attempts:
            args += ["--max-attempts", str(self.max_attempts)]
        root = str(Path(__file__).resolve().parents[1])
        env = {**self.env, "PYTHONPATH": os.pathsep.join(p for p in (root, self.env.get("PYTHONPATH")) if p)}
        with self._lock:
            self._proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                          cwd=os.getcwd())
            self._ready = threading.Event()
            proc = self._proc

        def ready() -> None:  # the child prints one line once it is delivering
            if proc.stdout is not None and proc.stdout.readline():
                self._ready.set()

        threading.Thread(target=ready, name="outbox-process-ready", daemon=True).start()

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Until the child is set up and delivering (benchmarks start timing after this)."""
        return self._ready.wait(timeout)

    def _watch(self) -> None:
        """Restart a child that died on its own (not one we stopped)."""
        while not self._stopping.wait(0.5):
            proc = self._proc
            if proc is not None and proc.poll() is not None and not self._stopping.is_set():
                log.error("outbox process exited with %s; restarting it", proc.returncode)
                self.restarts += 1
                time.sleep(min(5.0, 0.5 * self.restarts))
                if not self._stopping.is_set():
                    self._spawn()

    def stop(self, timeout: float = 30.0) -> None:
        """Close the pipe (the child finishes its round and exits); SIGKILL after `timeout`."""
        self._stopping.set()
        with self._lock:
            proc = self._proc
            if proc is not None and proc.stdin is not None:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
        if proc is None:
            return
        if not self._ready.is_set() and proc.poll() is None:
            # Still starting (imports take seconds on a busy host): it has delivered nothing,
            # and the ids it was handed are this instance's `sending` rows, which the next
            # start resumes. Waiting for it to finish starting only to stop would hold up
            # the service's stop; after start-up SIGTERM is a graceful stop anyway.
            proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.error("outbox process did not stop within %.0fs; killing it", timeout)
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()  # the child's "ready" pipe: left open, its file leaked (ResourceWarning)


# -- child side ---------------------------------------------------------------------------
def _die_with_parent() -> None:
    """Linux: SIGTERM when the parent dies, even by SIGKILL (elsewhere stdin EOF suffices)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _instance_lock(instance_id: str, database_url: str) -> IO[Any]:
    """Block until no other delivery process of this instance (and database) runs here."""
    import fcntl

    digest = hashlib.sha256(f"{instance_id}\x1f{database_url}".encode()).hexdigest()[:16]
    handle = open(Path(tempfile.gettempdir()) / f"socialear-outbox-{digest}.lock", "w")  # noqa: SIM115 - held for life
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def child_main(argv: list[str] | None = None) -> None:
    from responders.outbox import OutboxWorker, SinkSet
    from socialear.config import RulesWatcher
    from storage.engine import make_engine

    ap = argparse.ArgumentParser(prog="python -m responders.outbox_process")
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--rules", required=True)
    ap.add_argument("--instance-id", required=True)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--max-attempts", type=int, default=None)
    ap.add_argument("--idle", type=float, default=1.0)
    args = ap.parse_args(argv)
    # SIGTERM is taken synchronously by the main thread (`_until_stopped`), never by a
    # handler: a handler runs in the main thread between any two bytecodes, and one that
    # called worker.stop() (Event.set) while the main thread held that Event's lock inside
    # Event.wait deadlocked the child for good (seen in CI: four handler frames stacked on
    # Condition.__enter__). Blocked before any thread starts, so every thread inherits it.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    _die_with_parent()
    logging.basicConfig(level=os.environ.get("SOCIALEAR_LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s[outbox]: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    lock = _instance_lock(args.instance_id, args.database_url)
    watcher = RulesWatcher(args.rules)
    engine = make_engine(args.database_url)
    worker = OutboxWorker(engine, SinkSet(lambda: watcher.rules), worker_id=args.instance_id,
                          parallel=args.parallel, max_attempts=args.max_attempts,
                          lock_ttl=timedelta(seconds=LEASE_S))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the whole group: the parent decides

    def read() -> None:
        for line in sys.stdin:
            if line.startswith("ids "):
                worker.accept([int(i) for i in line[4:].strip().split(",") if i])
        worker.stop(timeout=0)  # the parent closed the pipe or died

    def reload_rules() -> None:
        while not worker._stop.wait(RULES_RELOAD_S):
            watcher.refresh()

    threading.Thread(target=read, name="outbox-stdin", daemon=True).start()
    try:
        worker.warm_up()  # before "ready": the service's first escalation finds it warm (skipped when stopping)
    except Exception:  # only a head start; run_forever goes on without it
        log.warning("outbox: warm-up failed", exc_info=True)
    try:
        print("ready", flush=True)
    except OSError:  # the parent is already gone: nothing will feed us, stop after resuming
        worker.stop(timeout=0)
    threading.Thread(target=reload_rules, name="outbox-rules", daemon=True).start()
    run = threading.Thread(target=worker.run_forever, kwargs={"idle_s": args.idle}, name="outbox-run")
    run.start()
    try:
        _until_stopped(run, worker.stop)
    finally:
        run.join()
        engine.dispose()
        lock.close()


def _until_stopped(run: threading.Thread, stop: Callable[..., None]) -> None:
    """Wait for SIGTERM (blocked, so it waits here as a pending signal) or for the worker
    to end on its own (stdin closed); on SIGTERM ask it to finish its round."""
    while run.is_alive():
        if signal.sigtimedwait({signal.SIGTERM}, 0.5) is not None:
            stop(timeout=0)
            return


if __name__ == "__main__":
    child_main()
