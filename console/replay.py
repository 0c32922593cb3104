"""`socialear rules replay`: what would change if these rules had been in force?

Stored mentions from the window are re-scored and re-routed with the proposed rules and
compared with a baseline: the current rules replayed the same way (when a proposed file
is given, so only the rules differ), or else the decisions stored at the time. Recent-
history signals (repeat contact, pile-on) are replayed without history, on both sides.
Customer segments are applied as the live pipeline applies them (storage.customers.annotate,
the directory as it is now), so a route on `segment` replays as it would fire.
The result lists escalations added and removed per route, with examples, so a lexicon or
rule change is checked on history before it goes live.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from listener.analysis import Analyzer
from listener.types import Author, Mention
from socialear.config import RulesConfig
from storage import customers
from storage.engine import Engine
from storage.mentions import HistoryRow, history


def stored_mentions(engine: Engine, since: datetime | None) -> Iterator[tuple[Mention, str | None, bool, str | None]]:
    """(mention, stored route, stored escalated?, stored sentiment) for the window, streamed."""
    with engine.connect() as lookups:
        for chunk in history(engine, since, CHUNK):
            rows = [(_mention(r), r) for r in chunk]
            customers.annotate(lookups, [m for m, _ in rows])
            for m, r in rows:
                yield m, r.route, r.escalated, r.sentiment_label


CHUNK = 500  # mentions per directory look-up


def _mention(r: HistoryRow) -> Mention:
    return Mention(
        source=r.source,
        platform=r.platform,
        external_id=r.external_id,
        text=r.text,
        created_at=r.created_at,
        author=Author(
            platform=r.platform,
            handle=r.handle or "unknown",
            name=r.author_name,
            followers=r.followers,
            verified=r.verified,
        ),
        url=r.url,
        lang=r.lang,
        rating=r.rating,
        in_reply_to=r.in_reply_to,
        conversation_id=r.conversation_id,
        engagement=r.engagement,
        title=r.title,
    )


def _decide(analyzer: Analyzer, m: Mention) -> tuple[bool, str | None, str | None]:
    s = analyzer.analyse(m)
    if s is None:
        return False, None, None
    return s.decision.escalate, s.decision.route, s.score.sentiment.label


def replay_report(
    engine: Engine, current: RulesConfig, proposed: RulesConfig, since: datetime | None, examples: int = 3
) -> dict[str, Any]:
    new = Analyzer(proposed)
    base = Analyzer(current) if proposed is not current else None
    added: Counter[str] = Counter()
    removed: Counter[str] = Counter()
    rerouted: Counter[str] = Counter()
    sentiment_changed = 0
    total = 0
    ex: dict[str, list[dict[str, Any]]] = {"added": [], "removed": [], "rerouted": []}
    for m, stored_route, stored_esc, stored_sent in stored_mentions(engine, since):
        total += 1
        b_esc, b_route, b_sent = _decide(base, m) if base else (stored_esc, stored_route, stored_sent)
        n_esc, n_route, n_sent = _decide(new, m)
        if b_sent != n_sent:
            sentiment_changed += 1
        kind = None
        if n_esc and not b_esc:
            kind, key = "added", n_route or "?"
            added[key] += 1
        elif b_esc and not n_esc:
            kind, key = "removed", b_route or "?"
            removed[key] += 1
        elif b_esc and n_esc and b_route != n_route:
            kind, key = "rerouted", f"{b_route} → {n_route}"
            rerouted[key] += 1
        if kind and len(ex[kind]) < examples * 3:
            ex[kind].append(
                {
                    "route": key,
                    "text": m.text[:200],
                    "source": m.source,
                    "external_id": m.external_id,
                    "sentiment": f"{b_sent} → {n_sent}",
                }
            )
    return {
        "since": since.isoformat() if since else None,
        "baseline": "current rules, replayed" if base else "stored decisions",
        "mentions": total,
        "added": dict(added),
        "removed": dict(removed),
        "rerouted": dict(rerouted),
        "sentiment_changed": sentiment_changed,
        "examples": ex,
    }


def render_replay(report: dict[str, Any], out: Console) -> None:
    out.print(
        f"replayed {report['mentions']} mentions since {report['since'] or 'the beginning'} "
        f"against {report['baseline']}; sentiment changed on {report['sentiment_changed']}"
    )
    table = Table("change", "route", "escalations")
    for kind in ("added", "removed", "rerouted"):
        for route, n in sorted(report[kind].items(), key=lambda kv: -kv[1]):
            table.add_row(kind, route, str(n))
    if table.row_count:
        out.print(table)
    else:
        out.print("no escalation would change")
    for kind, items in report["examples"].items():
        for e in items:
            out.print(f"  [{kind}] {e['route']}: {e['text']!r}", highlight=False, markup=False)
