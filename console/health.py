"""Read models for `socialear sources` / `socialear outbox` (and the console's pages)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from console.timefmt import ago
from listener.silence import describe, quiet_for
from socialear.config import RulesConfig
from storage import breakers
from storage.engine import Engine, Session, session_scope
from storage.outbox import recent_items
from storage.sources import all_states, is_job
from storage.types import utcnow


def _ago(when: datetime | None) -> str | None:
    """`ago`, with None (no such moment) kept as None for the JSON and the tables."""
    return None if when is None else ago(when)


def partial_errors(stats: dict[str, Any] | None) -> int:
    """Items a platform said it left out of an answer (X's `errors[]` beside `data`)."""
    return sum(int(v) for k, v in (stats or {}).items() if k.startswith("partial_errors/"))


def source_health(session: Session, configured: list[Any]) -> list[dict[str, Any]]:
    """Every configured source with its stored health, plus states of removed sources
    (the console's sources page)."""
    states = all_states(session)
    rows: list[dict[str, Any]] = []
    now = utcnow()
    for cfg in configured:
        state = states.pop(cfg.name, None)
        quiet = quiet_for(cfg, state, now)
        rows.append({"name": cfg.name, "config": cfg, "state": state,
                     "silent": describe(quiet, cfg) if quiet is not None else None})
    for name, state in sorted(states.items()):
        if is_job(name):  # a background job's lease row (listener.jobs), not a source
            continue
        rows.append({"name": name, "config": None, "state": state})
    return rows


def source_rows(engine: Engine, rules: RulesConfig) -> list[dict[str, Any]]:
    """One row per configured source for `socialear sources` (CLI), then the digests."""
    with session_scope(engine) as session:
        states = all_states(session)
    rows = []
    for cfg in rules.sources:
        s = states.get(cfg.name)
        if not cfg.enabled:
            status = "disabled"
        elif s is None:
            status = "never run"
        elif not s.healthy:
            status = "unhealthy" + (f": {s.status_message}" if s.status_message else "")
        else:
            status = "ok"
        quiet = quiet_for(cfg, s, utcnow())
        if quiet is not None:
            status = describe(quiet, cfg)
        partial = partial_errors(s.stats if s is not None else None)
        if partial and status == "ok":
            status = f"ok, {partial} partial errors (quarantined)"
        budget = None
        if s is not None and "max_posts_per_month" in cfg.options:
            budget = f"{s.budget_used}/{cfg.options['max_posts_per_month']} ({s.budget_period})"
        elif s is not None and s.budget_used:
            budget = str(s.budget_used)
        rate = None
        if s is not None and s.rate_limit_remaining is not None:
            rate = f"{s.rate_limit_remaining} left" + (
                f", resets {_ago(s.rate_limit_reset)}" if s.rate_limit_reset else ""
            )
        rows.append(
            {
                "name": cfg.name,
                "type": cfg.type,
                "status": status,
                "last_success": _ago(s.last_success) if s else None,
                "last_error": (f"{s.last_error} ({_ago(s.last_error_at)})" if s and s.last_error else None),
                "next_run": _ago(s.next_run) if s else None,
                "fetched": s.fetched_total if s else 0,
                "rate_limit": rate,
                "budget": budget,
            }
        )
    return rows + digest_rows(engine, rules)


def digest_rows(engine: Engine, rules: RulesConfig) -> list[dict[str, Any]]:
    """Scheduled reports (`reports:`) as health rows: a failing send shows like a failing source."""
    from responders.digests import digest_health, next_slot

    rows = []
    for d in digest_health(engine, rules):
        status = d["status"]
        if status == "failing":
            status = f"failing (attempt {d['attempts']}, retry {_ago(d['next_attempt_at'])})"
        cfg = next(r for r in rules.reports if r.name == d["name"])
        rows.append({
            "name": f"report:{d['name']}", "type": "digest", "status": status,
            "last_success": _ago(d["last_sent_at"]), "last_error": d["last_error"],
            "next_run": _ago(d["next_attempt_at"] or next_slot(cfg.schedule, utcnow())),
            "fetched": d["sent_total"], "rate_limit": None, "budget": None,
        })
    return rows


def outbox_rows(engine: Engine, include_sent: bool = False, limit: int = 200) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return recent_items(conn, include_sent=include_sent, limit=limit)


def breaker_rows(engine: Engine) -> list[dict[str, Any]]:
    """Each sink's circuit breaker that has ever tripped or failed: state, consecutive
    failures, since when it is down, when the next probe may run, the last error."""
    with engine.connect() as conn:
        rows: list[dict[str, Any]] = breakers.breaker_rows(conn)
    return [
        {
            "sink": r["sink"],
            "state": r["state"],
            "failures": r["failures"],
            "down_since": _ago(r["opened_at"]) if r["state"] != "closed" else None,
            "next_probe": _ago(r["next_probe_at"]) if r["state"] == "open" else ("probing" if r["state"] == "half_open" else None),
            "last_error": r["last_error"] if r["state"] != "closed" or r["failures"] else None,
        }
        for r in rows
    ]


def requeue(engine: Engine, item_id: int | None, all_dead: bool) -> int:
    from storage.repo import requeue as repo_requeue

    with session_scope(engine) as session:
        return repo_requeue(session, [item_id] if item_id is not None else None, all_dead=all_dead)
