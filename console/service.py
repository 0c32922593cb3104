"""`socialear run`: the long-running service in one process.

Start-up order: database (migrate to head) → rules (refuse to start on a bad file; later
reloads keep the last good rules) → sources (log which are on and why any is off) →
scheduler → outbox worker → web console. Shutdown on SIGINT/SIGTERM runs in reverse:
stop scheduling and let running polls finish their transaction, stop the outbox worker
after its current deliveries, then stop the web server. Nothing in flight is lost: a
poll either committed with its cursor or did not, and an outbox row mid-delivery is
re-claimed when its lock expires.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from listener.collector import Collector, default_instance_id
from listener.jobs import ClusterJob
from listener.retention import RUN_EVERY_S as RETENTION_EVERY_S
from listener.retention import apply_retention
from listener.scheduler import STOP_WAIT_S, SourceScheduler
from responders.outbox import OutboxWorker, SinkSet
from responders.outbox_process import OutboxProcess
from responders.publish import PipelineResponders, ReplyPublisher
from responders.status import make_status_poller
from socialear import heap
from socialear.config import RulesWatcher
from socialear.metrics import Liveness, instrument_job
from socialear.settings import Settings, get_settings
from storage.engine import make_engine, mask_url
from storage.migrate import upgrade

if TYPE_CHECKING:
    from responders.spike_alerts import SpikeAlerter
    from socialear.config import RulesConfig

log = logging.getLogger("socialear")

RULES_RELOAD_S = 5
TICKET_STATUS_POLL_S = 300
DIGEST_TICK_S = 60  # scheduled reports: is one due (or due for a retry)?
DELETION_CHECK_ENV = "SOCIALEAR_DELETION_CHECK_EVERY"  # e.g. "15m" (default), "1h"
DELETION_CHECK_DEFAULT = "15m"
HEARTBEAT_S = 10  # the scheduler beats this often ...
SCHEDULER_MAX_AGE_S = 120  # ... and /healthz says it is stuck after this long without a beat
OUTBOX_MAX_AGE_S = 120  # an outbox round (idle ones included) at least this often
FORWARDED_ALLOW_IPS_ENV = "FORWARDED_ALLOW_IPS"  # uvicorn's own name for it
FORWARDED_ALLOW_IPS_DEFAULT = "127.0.0.1,::1"


def console_server_config(app: Any, host: str, port: int) -> Any:
    """The console's uvicorn configuration (a `uvicorn.Config`).

    Client addresses: the console throttles sign-in per client address, so behind a
    reverse proxy it must see the address the proxy saw, and must not let a client name
    its own. uvicorn takes `X-Forwarded-For` / `X-Forwarded-Proto` only from the peers in
    $FORWARDED_ALLOW_IPS (addresses or networks, comma-separated); from anyone else the
    headers are ignored and the peer's address counts. Default: loopback only (a proxy
    on the same host). docker-compose.yml gives Caddy a fixed address and sets this to
    it; Caddy in turn replaces any X-Forwarded-For a client sends. Never `*` with the
    port reachable other than through the proxy.
    """
    import uvicorn

    trusted = os.environ.get(FORWARDED_ALLOW_IPS_ENV, "").strip() or FORWARDED_ALLOW_IPS_DEFAULT
    return uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on",
                          proxy_headers=True, forwarded_allow_ips=trusted)


class Service:
    def __init__(
        self,
        rules_path: Path,
        database_url: str | None = None,
        *,
        host: str | None = None,
        port: int | None = None,
        console: bool = True,
        settings: Settings | None = None,
    ):
        self.settings = settings or get_settings()
        logging.basicConfig(
            level=self.settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            force=True,
        )
        for noisy in ("apscheduler", "alembic", "httpx"):  # their INFO lines drown the service's own
            logging.getLogger(noisy).setLevel(logging.WARNING)
        self.host = host or self.settings.host
        self.port = port or self.settings.port
        self.console = console
        self.instance_id = self.settings.instance_id or default_instance_id()
        self.deletion_check_s = deletion_check_seconds()  # a bad value refuses to start
        self.engine = make_engine(database_url or self.settings.database_url)
        rev = upgrade(self.engine)
        log.info("database %s at revision %s", mask_url(self.engine.url), rev)
        self.watcher = RulesWatcher(rules_path)
        log.info("rules loaded from %s", rules_path)
        self.collector = Collector(self.engine, self.rules, instance_id=self.instance_id,
                                   responders=PipelineResponders())
        self.scheduler = SourceScheduler(self.collector, self.rules)
        self.spike_alerter = self._spike_alerter()
        from responders.digests import DigestRunner

        self.digests = DigestRunner(self.engine, self.rules, self.instance_id)
        if self.spike_alerter is not None:  # checked after every poll that stored mentions
            self.scheduler.after_store = self.spike_alerter.check
        self.sinks = SinkSet(self.rules)
        self.outbox = OutboxWorker(
            self.engine, self.sinks, worker_id=self.instance_id,
            parallel=self.settings.outbox_workers, max_attempts=self.settings.outbox_max_attempts,
        )
        # Committed escalations go straight to the worker (no claim, no poll wait). By default
        # the worker runs in a child process, so scoring's CPU does not delay deliveries.
        self.outbox_process: OutboxProcess | None = None
        if self.settings.outbox_process:
            self.outbox_process = OutboxProcess(
                self.engine.url.render_as_string(hide_password=False), rules_path, self.instance_id,
                parallel=self.settings.outbox_workers, max_attempts=self.settings.outbox_max_attempts,
            )
            self.collector.pipeline.outbox_handoff = self.outbox_process
        else:
            self.collector.pipeline.outbox_handoff = self.outbox
        self._stop = threading.Event()
        self.cluster_jobs: list[ClusterJob] = []
        self._server: Any = None
        self._outbox_thread: threading.Thread | None = None
        self.liveness = Liveness()
        self._beat_outbox_rounds()

    def _beat_outbox_rounds(self) -> None:
        """Every outbox round, busy or idle, beats `outbox` on the liveness board."""
        run_once = self.outbox.run_once

        def beating_round(*args: Any, **kwargs: Any) -> Any:
            self.liveness.beat("outbox")
            return run_once(*args, **kwargs)

        # wrapped in place: the outbox thread and the tests call self.outbox.run_once
        self.outbox.run_once = beating_round  # type: ignore[method-assign]

    def _spike_alerter(self) -> SpikeAlerter | None:
        from responders.spike_alerts import SpikeAlerter, alert_senders

        senders = alert_senders(self.rules())
        if not senders:
            return None
        log.info("spike alerts: on, to %d alert sink(s)", len(senders))
        return SpikeAlerter(self.engine, self.rules, senders, instance_id=self.instance_id)

    def rules(self) -> RulesConfig:  # a method, so reloads are seen everywhere
        return self.watcher.rules

    def start(self) -> None:
        # Build the scorer (language models: seconds) now, not inside the first poll's batch,
        # so a stop requested during a poll waits for one quick batch at most.
        _ = self.collector.pipeline.analyzer
        names = self.scheduler.start()
        log.info("polling %d source(s): %s", len(names), ", ".join(names) or "none")
        for name, reason in self.collector.not_configured.items():
            log.warning("source %s is off: %s", name, reason)
        self.liveness.watch("scheduler", SCHEDULER_MAX_AGE_S,
                            lambda: bool(self.scheduler.scheduler.running))
        self.liveness.beat("scheduler")
        self.scheduler.add_job(self._heartbeat, HEARTBEAT_S, "heartbeat")
        self.scheduler.add_job(instrument_job("rules-reload", self.watcher.refresh), RULES_RELOAD_S,
                               "rules-reload")
        self.schedule_cluster_jobs()
        if self.outbox_process is not None:
            self.outbox_process.start()
            self.liveness.watch("outbox", OUTBOX_MAX_AGE_S, self.outbox_process.alive)
            self.liveness.beat("outbox")  # started; the heartbeat job beats it while it runs
        else:
            self._outbox_thread = threading.Thread(target=self.outbox.run_forever, name="outbox", daemon=True)
            outbox_thread = self._outbox_thread
            self.liveness.watch("outbox", OUTBOX_MAX_AGE_S, outbox_thread.is_alive)
            self._outbox_thread.start()
        enabled = [s.name for s in self.rules().sinks if s.enabled]
        log.info("outbox delivering to: %s", ", ".join(enabled) or "no sinks")
        if self.console:
            self._start_console()

    def _heartbeat(self) -> None:
        """The scheduler ran this job, so it is alive; a delivery child process that is
        running counts as the outbox's beat (its own rounds beat in thread mode)."""
        self.liveness.beat("scheduler")
        if self.outbox_process is not None and self.outbox_process.alive():
            self.liveness.beat("outbox")

    def schedule_cluster_jobs(self) -> None:
        """The jobs one replica runs for the whole cluster (listener.jobs)."""
        # fallback for contact centres that cannot call /hooks: poll ticket status
        self.add_cluster_job("ticket-status", make_status_poller(self.engine, self.sinks), TICKET_STATUS_POLL_S)
        self.add_cluster_job("deletion-check", self.check_deletions, self.deletion_check_s)
        self.add_cluster_job("report-digests", self.digests.tick, DIGEST_TICK_S)  # `reports:` in rules.yaml
        # retention: daily, first a minute after start (a restart does not postpone it a day)
        self.add_cluster_job("retention", lambda: apply_retention(self.engine, self.rules()), RETENTION_EVERY_S,
                             first_in=60)

    def add_cluster_job(self, name: str, fn: Any, seconds: float, first_in: float | None = None) -> ClusterJob:
        """Schedule `fn` every `seconds`, run by one replica of the cluster at a time
        (listener.jobs): for jobs that call a billed API or must not double up (the
        deletion sweep, the ticket-status poller, digests and spike checks)."""
        job = ClusterJob(self.engine, name, instrument_job(name, fn), seconds, self.instance_id)
        self.cluster_jobs.append(job)
        self.scheduler.add_job(job, seconds, name, first_in=first_in)
        return job

    def check_deletions(self) -> None:
        """Purge stored X/Reddit posts deleted on the platform (listener.purge); the
        sweep's position is kept in the database, so a fresh sweeper per run is fine."""
        from listener.purge import DeletionSweeper, checkers_from

        checkers = checkers_from(self.collector, self.rules())
        if checkers:
            DeletionSweeper(self.engine, checkers).sweep()

    def _start_console(self) -> None:
        import uvicorn

        from console.web.app import create_app
        from console.web.webhooks import make_router

        publisher = ReplyPublisher(self.engine, self.rules)  # posts only where a source allows it
        app = create_app(
            self.engine, self.rules, settings=self.settings, rules_status=lambda: self.watcher.last_error,
            publisher=publisher, liveness=self.liveness,
        )
        app.include_router(make_router(self.engine, self.rules, os.environ))  # /hooks: ticket status from the contact centre
        from console.web.facebook_hook import make_facebook_router

        app.include_router(make_facebook_router(self.engine, self.rules, os.environ))  # /hooks/facebook: Page webhook
        from console.web.discourse_hook import make_discourse_router

        app.include_router(make_discourse_router(self.engine, self.rules, os.environ))  # /hooks/discourse: post events
        self._server = uvicorn.Server(console_server_config(app, self.host, self.port))
        self._server.install_signal_handlers = lambda: None  # we own SIGINT/SIGTERM
        self._console_thread = threading.Thread(target=self._server.run, name="console", daemon=True)
        self._console_thread.start()
        log.info("console at http://%s:%d (client addresses from X-Forwarded-For of %s only)", self.host, self.port,
                 self._server.config.forwarded_allow_ips)

    def stop(self) -> None:
        log.info("stopping: finishing running polls and deliveries")
        if not self.scheduler.stop(wait=True):
            log.warning("stopping: a scheduled job is still running after %.0f s; leaving it", STOP_WAIT_S)
        for job in self.cluster_jobs:  # another replica may take them over at once
            try:
                job.release()
            except Exception:  # noqa: BLE001 - the leases expire on their own anyway
                log.warning("could not release job %s", job.name)
        if self._outbox_thread is not None:
            self.outbox.stop()
        if self.outbox_process is not None:
            self.outbox_process.stop()
        if self._server is not None:
            self._server.should_exit = True
            self._console_thread.join(timeout=10)
        self.engine.dispose()
        log.info("stopped cleanly")

    def run_forever(self) -> None:
        """Run until SIGINT or SIGTERM (or `_stop`). The signals are blocked in every thread
        and taken here with sigtimedwait, not by a handler: a handler runs between any two
        bytecodes of the main thread, and one that set an Event (or logged) while the main
        thread held that Event's (or the log handler's) lock would deadlock the stop; the
        outbox child did exactly that in CI. Blocked before start(), so every thread the
        service starts inherits the mask.

        Threads started before this (numpy's BLAS pool, at import) do not block them, and
        the kernel may deliver a process signal to such a thread: it would then reach the
        main thread as KeyboardInterrupt in the middle of the stop (a second Ctrl-C; CI
        caught it) or, for SIGTERM, end the process at once. So the handlers only note the
        signal (a list append takes no lock) and the loop below reads the note too."""
        signals = {signal.SIGINT, signal.SIGTERM}
        noted: list[int] = []
        previous = {s: signal.signal(s, lambda signo, _frame: noted.append(signo)) for s in signals}
        signal.pthread_sigmask(signal.SIG_BLOCK, signals)
        try:
            self.start()
            heap.settle()  # started: what follows is per-batch and per-request garbage (socialear.heap)
            log.info("socialear running (pid %d); Ctrl-C to stop", os.getpid())
            while not self._stop.is_set():
                got = signal.sigtimedwait(signals, 1.0)
                signo = got.si_signo if got is not None else (noted[0] if noted else None)
                if signo is not None:
                    log.info("received %s", signal.Signals(signo).name)
                    break
            self.stop()
        finally:
            while signal.sigtimedwait(signals, 0) is not None:  # a second Ctrl-C while stopping: consumed
                pass
            signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)
            for s, handler in previous.items():
                if handler is not None:  # None: not set from Python; nothing to restore
                    signal.signal(s, handler)


def deletion_check_seconds(env: dict[str, str] | None = None) -> float:
    """How often the deletion check runs: $SOCIALEAR_DELETION_CHECK_EVERY (default 15m)."""
    from socialear.config import parse_duration
    from socialear.errors import UserError

    text = (env if env is not None else os.environ).get(DELETION_CHECK_ENV) or DELETION_CHECK_DEFAULT
    try:
        seconds = parse_duration(text).total_seconds()
    except ValueError as exc:
        raise UserError(f"{DELETION_CHECK_ENV}: {exc}") from None
    if seconds < 60:
        raise UserError(f"{DELETION_CHECK_ENV}: {text!r} is too often (at least 1m)")
    return seconds
