"""A routing trace as an escalation stores it: positional rows, expanded for its readers.

An escalation keeps the trace of every route evaluated up to its decision (invariant 4:
the console shows an agent why a mention was, or was not, escalated, and sinks send it
with the ticket). Stored as objects, the repeated keys were half of the trace's bytes,
and the trace most of an escalation row: with its copy of the mention's score an
escalation was ~2.6 KB, one row per 4 KiB page, and the escalation table the largest in
the database. So the stored trace is positional:

    [[route, matched, [[condition, expected, actual, ok], ...]], ...]

and `expand` gives back the objects (`{"route", "matched", "conditions": [{"condition",
"expected", "actual", "ok"}]}`) that the console renders and sinks are sent; a trace
stored before this form (objects already) passes through unchanged. Both builds of the
router write this form (`listener.routing.trace_text` encodes it without building the
rows; `compact` converts a trace that was built).
"""

from __future__ import annotations

from typing import Any

STEP_KEYS = ("route", "matched", "conditions")
CONDITION_KEYS = ("condition", "expected", "actual", "ok")


def compact(trace: list[dict[str, Any]]) -> list[list[Any]]:
    """The stored rows of a trace of objects (`listener.routing.route(explain=True)`)."""
    return [
        [step["route"], step["matched"],
         [[c["condition"], c["expected"], c["actual"], c["ok"]] for c in step["conditions"]]]
        for step in trace
    ]


def expand(trace: Any) -> list[dict[str, Any]]:
    """A stored trace as objects, whichever form it was stored in; anything that is not a
    trace (None, a damaged value) reads as no trace rather than failing the page or the
    delivery that shows it."""
    if not isinstance(trace, list):
        return []
    out: list[dict[str, Any]] = []
    for step in trace:
        if isinstance(step, dict):  # stored before the positional form
            out.append(step)
        elif isinstance(step, list) and len(step) == len(STEP_KEYS):
            route, matched, conditions = step
            out.append({"route": route, "matched": matched, "conditions": [
                dict(zip(CONDITION_KEYS, c, strict=True)) if isinstance(c, list) and len(c) == len(CONDITION_KEYS)
                else c
                for c in (conditions if isinstance(conditions, list) else [])
            ]})
    return out
