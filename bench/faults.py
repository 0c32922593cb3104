"""Fault suite: real processes killed for real, and a contact centre that goes down.

    python bench/faults.py [--trials 20] [--seed 1]          # SQLite (a temporary file)
    SOCIALEAR_DATABASE_URL=postgresql+psycopg://... python bench/faults.py --trials 8

A signed-webhook receiver on 127.0.0.1 (bench/receiver.py, its own process) stands in for
the contact centre and de-duplicates on Idempotency-Key, as the README asks receivers to.
Then, against one database:

1. `--trials K` SIGKILL trials, alternating: `socialear import` of a 1,500-line file (in
   50-record transactions) killed at a random moment (half of them from launch, half
   once it is storing), resumed by the next import trial; and
   `socialear run --no-console` (polling a paced replay feed and delivering to the
   receiver) killed at a random moment, then started again at once. After each `run`
   kill the restart gap is measured: kill → the restarted service has polled again and,
   if deliveries were outstanding, delivered again.
2. A sink outage while `run` is up and a third file is imported: connection refused,
   then 500s, then 429 with Retry-After, then back; the backlog must drain.
3. Stops: every fourth `run` trial, and the last one, end with SIGTERM instead; a stop
   that takes longer than `--grace` seconds is a `stop_hang` (then SIGKILLed).

Expected results come from a clean reference: the same files imported, without faults,
into a separate SQLite database. Prints one JSON object; every count must be 0 and
max_restart_gap_s <= 60:

    trials, kills, mentions_lost, mentions_duplicated, escalations_lost,
    tickets_duplicated, dead_after_outage, retry_after_violations, stop_hangs,
    max_restart_gap_s
    (+ db, elapsed_s, redeliveries, outage_requests, terms)

`tickets_duplicated` counts tickets a receiver that de-duplicates on Idempotency-Key
would still create twice: a mention escalated under two keys, or two escalations of one
mention. `redeliveries` (informational) counts POSTs of a key the receiver had already
accepted: the at-least-once window (killed after the POST, before recording `sent`)
that the Idempotency-Key exists to absorb.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sqlalchemy as sa  # noqa: E402
from latency import care_rules, write_feed  # noqa: E402
from receiver import RemoteReceiver  # noqa: E402
from scratch_db import pg_schema  # noqa: E402

from storage import models as t  # noqa: E402
from storage.dialect import table  # noqa: E402
from storage.engine import make_engine  # noqa: E402

SECRET = "faults-webhook-secret"
INSTANCE = "faults-replica-1"
FEED_SOURCE = """sources:
  - name: feed
    type: replay
    schedule: {{every: 1s}}
    options: {{path: "{feed}", batch_size: 25, pace: {pace}}}
"""
SINK_RETRY = "    retry: {probe_max: 5s}\n"
FILES = {"feed": 300, "backfill": 1500, "late": 200}  # source -> records


class Harness:
    def __init__(self, tmp: Path, db_url: str, receiver: RemoteReceiver, rng: random.Random, grace: float):
        self.tmp, self.db_url, self.receiver, self.rng, self.grace = tmp, db_url, receiver, rng, grace
        self.engine = make_engine(db_url)
        self.env = {
            **os.environ,
            "SOCIALEAR_DATABASE_URL": db_url,
            "SOCIALEAR_RULES": str(tmp / "rules.yaml"),
            "SOCIALEAR_INSTANCE_ID": INSTANCE,
            "SOCIALEAR_WEBHOOK_SECRET": SECRET,
            "SOCIALEAR_LOG_LEVEL": "WARNING",
            "SOCIALEAR_SECRET_KEY": "faults",
            "PYTHONFAULTHANDLER": "1",
        }
        self.kills = 0
        self.import_s = 6.0  # the whole file's clean import, start-up included: set from `reference`
        self.stop_hangs = 0
        self.gaps: list[float] = []
        self.log = (tmp / "processes.log").open("ab")

    # -- processes ------------------------------------------------------------------
    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "console.cli", *args], cwd=self.tmp, env=self.env,
                                stdout=self.log, stderr=self.log, start_new_session=True)

    def kill(self, proc: subprocess.Popen[bytes]) -> bool:
        """SIGKILL if still running; True if it was (a real kill)."""
        if proc.poll() is not None:
            return False
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.kills += 1
        return True

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGTERM and wait `grace`; longer is a stop hang (then SIGKILL)."""
        if proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(self.grace)
        except subprocess.TimeoutExpired:
            self.stop_hangs += 1
            proc.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER: every thread's stack into the log
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()

    def import_(self, source: str) -> subprocess.Popen[bytes]:
        return self.spawn("import", str(self.tmp / f"{source}.jsonl"), "--source", source, "--batch-size", "50")

    # -- progress probes --------------------------------------------------------------
    def last_poll(self) -> Any:
        st = table(t.SourceState)
        with self.engine.connect() as conn:
            return conn.execute(sa.select(st.c.updated_at).where(st.c.source == "feed")).scalar()

    def last_sent(self) -> Any:
        ot = table(t.OutboxItem)
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(ot.c.sent_at))).scalar()

    def unsent(self) -> int:
        ot = table(t.OutboxItem)
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).where(ot.c.state != "sent")).scalar_one()

    def wait_gap(self, killed_at: float, poll_before: Any, sent_before: Any, need_delivery: bool, limit: float = 120) -> float:
        """Seconds from the kill until the restarted service polled again (and delivered
        again, if deliveries were outstanding)."""
        polled = delivered = None
        while time.monotonic() - killed_at < limit:
            now = time.monotonic()
            if polled is None and self.last_poll() != poll_before:
                polled = now
            if delivered is None and (not need_delivery or self.last_sent() != sent_before):
                delivered = now
            if polled is not None and delivered is not None:
                return max(polled, delivered) - killed_at
            time.sleep(0.1)
        return limit

    # -- the suite --------------------------------------------------------------------
    def trials(self, k: int) -> None:
        run: subprocess.Popen[bytes] | None = None
        imp: subprocess.Popen[bytes] | None = None
        run_trials = 0
        for i in range(k):
            if i % 2 == 0:  # import, killed at a random moment, then resumed next time
                before = self.count("backfill")
                # The moment is drawn within the time this import needs (the clean reference
                # import's time, scaled to what is left of the file): fixed windows let a
                # fast import finish before the kill, and the trial killed nothing.
                left = max(0.0, 1 - before / FILES["backfill"])
                imp = self.import_("backfill")
                if i % 4 == 0:  # anywhere from launch (start-up, migrations, first batch)
                    time.sleep(self.rng.uniform(0.2, max(0.3, 0.9 * self.import_s * max(left, 0.25))))
                else:  # while it is storing: after its first batch committed
                    deadline = time.monotonic() + 60
                    while self.count("backfill") == before and imp.poll() is None and time.monotonic() < deadline:
                        time.sleep(0.05)
                    time.sleep(self.rng.uniform(0.0, max(0.1, 0.9 * left * self.import_s)))
                self.kill(imp)
                continue
            run_trials += 1
            run = run or self.spawn("run", "--no-console")
            time.sleep(self.rng.uniform(1.0, 8.0))
            poll_before, sent_before = self.last_poll(), self.last_sent()
            need = self.unsent() > 0
            if run_trials % 4 == 0:
                self.stop(run)
                run = self.spawn("run", "--no-console")
                continue
            if not self.kill(run):
                run = self.spawn("run", "--no-console")
                continue
            killed_at = time.monotonic()
            run = self.spawn("run", "--no-console")  # restarted at once, as a supervisor would
            self.gaps.append(self.wait_gap(killed_at, poll_before, sent_before, need))
        if run is not None:
            self.stop(run)

    def outage(self) -> int:
        """Refused → 500 → 429 (Retry-After) → back, while `run` delivers and more arrives."""
        run = self.spawn("run", "--no-console")
        before = self.receiver.snapshot()["requests"]
        self.receiver.phase("refuse")
        late = self.import_("late")
        late.wait(300)
        time.sleep(4)
        self.receiver.phase("500")
        time.sleep(8)
        self.receiver.phase("429", retry_after=4)
        time.sleep(8)
        requests = self.receiver.snapshot()["requests"] - before
        self.receiver.phase("up")
        backfill = self.import_("backfill")  # whatever the kills left unimported
        backfill.wait(300)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and (self.unsent() or not self.feed_done()):
            time.sleep(0.5)
        time.sleep(1.0)  # a late duplicate would show up now
        self.stop(run)
        return requests

    def count(self, source: str) -> int:
        mt = table(t.Mention)
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).where(mt.c.source == source)).scalar_one()

    def feed_done(self) -> bool:
        return self.count("feed") >= self.expected_feed

    expected_feed = 0


def reference(tmp: Path, receiver_url: str) -> tuple[set[tuple[str, str]], set[str], float]:
    """Mentions and escalation keys a clean run stores (the same files imported, no
    faults), and how long the clean `backfill` import took, start-up included."""
    url = f"sqlite:///{tmp / 'reference.db'}"
    # the same rules without the live `feed` source: `import` refuses to write under a live
    # source's name (they would share its cursor), and the reference only imports
    (tmp / "reference-rules.yaml").write_text(care_rules(receiver_url, sink_extra=SINK_RETRY))
    env = {**os.environ, "SOCIALEAR_DATABASE_URL": url, "SOCIALEAR_RULES": str(tmp / "reference-rules.yaml"),
           "SOCIALEAR_WEBHOOK_SECRET": SECRET}
    took = 0.0
    for source in FILES:
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "console.cli", "import", str(tmp / f"{source}.jsonl"), "--source", source,
                        "--batch-size", "50"], cwd=tmp, env=env, check=True, capture_output=True)
        if source == "backfill":
            took = time.monotonic() - started
    return (*stored(make_engine(url)), took)


def stored(engine: Any) -> tuple[set[tuple[str, str]], set[str]]:
    mt, et = table(t.Mention), table(t.Escalation)
    with engine.connect() as conn:
        mentions = {(s, e) for s, e in conn.execute(sa.select(mt.c.source, mt.c.external_id))}
        keys = set(conn.execute(sa.select(et.c.idempotency_key)).scalars())
    engine.dispose()
    return mentions, keys


def run(trials: int, seed: int, grace: float, tmp: Path) -> dict[str, Any]:
    started = time.monotonic()
    rng = random.Random(seed)
    for i, (source, n) in enumerate(FILES.items()):
        write_feed(tmp / f"{source}.jsonl", n, seed=seed * 10 + i)
    base = os.environ.get("SOCIALEAR_DATABASE_URL")
    drop = None
    if base and base.startswith("postgresql"):
        db_url, drop = pg_schema(base, "socialear_faults")
        db = "postgresql"
    else:
        db_url, db = f"sqlite:///{tmp / 'faults.db'}", "sqlite"
    try:
        with RemoteReceiver(SECRET) as receiver:
            feed = FEED_SOURCE.format(feed=tmp / "feed.jsonl", pace=0.02)
            (tmp / "rules.yaml").write_text(care_rules(receiver.url, feed, SINK_RETRY))
            want_mentions, want_keys, import_s = reference(tmp, receiver.url)
            subprocess.run([sys.executable, "-m", "console.cli", "db", "upgrade"], cwd=tmp, check=True, capture_output=True,
                           env={**os.environ, "SOCIALEAR_DATABASE_URL": db_url})
            h = Harness(tmp, db_url, receiver, rng, grace)
            h.expected_feed = sum(1 for s, _ in want_mentions if s == "feed")
            h.import_s = import_s
            h.trials(trials)
            outage_requests = h.outage()
            got = receiver.snapshot()
            mentions, _keys = stored(make_engine(db_url))
            engine = make_engine(db_url)
            mt, et, ot = table(t.Mention), table(t.Escalation), table(t.OutboxItem)
            with engine.connect() as conn:
                mention_rows = conn.execute(sa.select(sa.func.count()).select_from(mt)).scalar_one()
                per_mention = conn.execute(sa.select(et.c.mention_id, sa.func.count()).group_by(et.c.mention_id)
                                           .having(sa.func.count() > 1)).all()
                dead = conn.execute(sa.select(sa.func.count()).where(ot.c.state == "dead")).scalar_one()
            engine.dispose()
    finally:
        if drop is not None:
            drop()
    accepted: dict[str, int] = got["accepted"]
    received = set(accepted)
    expected_keys = want_keys
    return {
        "trials": trials,
        "kills": h.kills,
        "mentions_lost": len(want_mentions - mentions),
        "mentions_duplicated": (mention_rows - len(mentions)) + len(mentions - want_mentions),
        "escalations_lost": len(expected_keys - received),
        "tickets_duplicated": sum(n - 1 for _, n in per_mention) + len(received - expected_keys),
        "dead_after_outage": dead,
        "retry_after_violations": got["retry_after_violations"],
        "stop_hangs": h.stop_hangs,
        "max_restart_gap_s": round(max(h.gaps, default=0.0), 1),
        "db": db,
        "elapsed_s": round(time.monotonic() - started, 1),
        "clean_import_s": round(h.import_s, 2),
        "redeliveries": got["duplicates"],
        "outage_requests": outage_requests,
        "escalations": len(expected_keys),
        "restarts_measured": len(h.gaps),
        "lost_by_source": {src: sum(1 for s, _ in want_mentions - mentions if s == src) for src in FILES},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=20, help="SIGKILL trials (alternating import and run)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--grace", type=float, default=20.0, help="seconds a SIGTERM stop may take")
    ap.add_argument("--keep", type=Path, help="work in this directory and keep it (processes.log, databases)")
    args = ap.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        print(json.dumps(run(args.trials, args.seed, args.grace, args.keep)))
        return
    with tempfile.TemporaryDirectory(prefix="socialear-faults-") as tmp:
        print(json.dumps(run(args.trials, args.seed, args.grace, Path(tmp))))


if __name__ == "__main__":
    main()
