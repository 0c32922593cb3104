"""Retention: after `retention:` days (per platform, rules.yaml), a mention's text goes.

Why: care teams must not keep people's posts longer than their policy says. The mention
row stays (so a re-fetch still de-duplicates, and counts, rollups and reports keep
working); its content is removed everywhere it was copied by the same
`storage.repo.purge_mention_content` that purges posts deleted on the platform, which
audits each purge without the content. Each run also writes one `retention.applied`
audit row per platform with the cut-off and the count. Audit rows are never deleted.

The service runs it once a day (`console.service`); one run purges at most `max_per_run`
mentions, in transactions of `batch` (a first run over years of history catches up over
a few days instead of holding the database for hours).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from socialear.config import RulesConfig
from storage import repo
from storage.engine import Engine, session_scope
from storage.mentions import expired_ids
from storage.types import utcnow

log = logging.getLogger(__name__)

DEFAULT = "default"
RUN_EVERY_S = 24 * 3600.0


def _reason(days: int) -> str:
    return f"retention: older than {days} days"


def apply_retention(
    engine: Engine, rules: RulesConfig, *, now: datetime | None = None, batch: int = 200, max_per_run: int = 50_000
) -> dict[str, int]:
    """Purge the content of mentions older than their platform's retention; per platform,
    how many were purged this run."""
    if not rules.retention:
        return {}
    now = now or utcnow()
    explicit = [p for p in rules.retention if p != DEFAULT]
    # (platform, days, platform to select or None for "every platform not in explicit")
    plans: list[tuple[str, int, str | None]] = [
        (p, days, p) for p, days in rules.retention.items() if p != DEFAULT
    ]
    if DEFAULT in rules.retention:
        plans.append((DEFAULT, rules.retention[DEFAULT], None))
    purged: dict[str, int] = {}
    budget = max_per_run
    for platform, days, which in plans:
        cutoff = now - timedelta(days=days)
        done = 0
        while budget > 0:
            with session_scope(engine) as session:
                ids = expired_ids(session, cutoff, min(batch, budget), platform=which, other_than=explicit)
                for mention_id in ids:
                    repo.purge_mention_content(session, mention_id, _reason(days), now=now)
            done += len(ids)
            budget -= len(ids)
            if len(ids) < batch:
                break
        with session_scope(engine) as session:
            repo.audit(session, "system", "retention.applied", "platform", platform,
                       days=days, cutoff=cutoff.isoformat(), purged=done)
        purged[platform] = done
        if done:
            log.info("retention: purged the text of %d %s mention(s) older than %d days", done, platform, days)
    return purged
