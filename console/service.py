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
from typing import Any

from listener.collector import Collector, default_instance_id
from listener.retention import RUN_EVERY_S as RETENTION_EVERY_S
from listener.retention import apply_retention
from listener.scheduler import STOP_WAIT_S, SourceScheduler
from responders.outbox import OutboxWorker, SinkSet
from responders.publish import ReplyPublisher
from responders.status import make_status_poller
from socialear.config import RulesWatcher
from socialear.settings import Settings, get_settings
from storage.engine import make_engine, mask_url
from storage.migrate import upgrade

log = logging.getLogger("socialear")

RULES_RELOAD_S = 5
TICKET_STATUS_POLL_S = 300
DELETION_CHECK_ENV = "SOCIALEAR_DELETION_CHECK_EVERY"  # e.g. "15m" (default), "1h"
DELETION_CHECK_DEFAULT = "15m"


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
        self.collector = Collector(self.engine, self.rules, instance_id=self.instance_id)
        self.scheduler = SourceScheduler(self.collector, self.rules)
        self.sinks = SinkSet(self.rules)
        self.outbox = OutboxWorker(
            self.engine, self.sinks, worker_id=self.instance_id,
            parallel=self.settings.outbox_workers, max_attempts=self.settings.outbox_max_attempts,
        )
        self._stop = threading.Event()
        self._server: Any = None
        self._outbox_thread: threading.Thread | None = None

    def rules(self):  # noqa: ANN201 - RulesConfig; a method so reloads are seen everywhere
        return self.watcher.rules

    def start(self) -> None:
        # Build the scorer (language models: seconds) now, not inside the first poll's batch,
        # so a stop requested during a poll waits for one quick batch at most.
        _ = self.collector.pipeline.analyzer
        names = self.scheduler.start()
        log.info("polling %d source(s): %s", len(names), ", ".join(names) or "none")
        for name, reason in self.collector.not_configured.items():
            log.warning("source %s is off: %s", name, reason)
        self.scheduler.add_job(self.watcher.refresh, RULES_RELOAD_S, "rules-reload")
        # fallback for contact centres that cannot call /hooks: poll ticket status
        self.scheduler.add_job(make_status_poller(self.engine, self.sinks), TICKET_STATUS_POLL_S, "ticket-status")
        self.scheduler.add_job(self.check_deletions, self.deletion_check_s, "deletion-check")
        # retention: daily, first a minute after start (a restart does not postpone it a day)
        self.scheduler.add_job(lambda: apply_retention(self.engine, self.rules()), RETENTION_EVERY_S, "retention",
                               first_in=60)
        self._outbox_thread = threading.Thread(target=self.outbox.run_forever, name="outbox", daemon=True)
        self._outbox_thread.start()
        enabled = [s.name for s in self.rules().sinks if s.enabled]
        log.info("outbox delivering to: %s", ", ".join(enabled) or "no sinks")
        if self.console:
            self._start_console()

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
            publisher=publisher,
        )
        app.include_router(make_router(self.engine, self.rules, os.environ))  # /hooks: ticket status from the contact centre
        config = uvicorn.Config(app, host=self.host, port=self.port, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # we own SIGINT/SIGTERM
        self._console_thread = threading.Thread(target=self._server.run, name="console", daemon=True)
        self._console_thread.start()
        log.info("console at http://%s:%d", self.host, self.port)

    def stop(self) -> None:
        log.info("stopping: finishing running polls and deliveries")
        if not self.scheduler.stop(wait=True):
            log.warning("stopping: a scheduled job is still running after %.0f s; leaving it", STOP_WAIT_S)
        if self._outbox_thread is not None:
            self.outbox.stop()
        if self._server is not None:
            self._server.should_exit = True
            self._console_thread.join(timeout=10)
        self.engine.dispose()
        log.info("stopped cleanly")

    def run_forever(self) -> None:
        def on_signal(signum: int, _frame: Any) -> None:
            log.info("received %s", signal.Signals(signum).name)
            self._stop.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        self.start()
        log.info("socialear running (pid %d); Ctrl-C to stop", os.getpid())
        self._stop.wait()
        self.stop()


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
