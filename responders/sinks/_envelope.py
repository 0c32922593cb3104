"""The event body shared by the webhook and JSONL sinks (schema: responders/webhook_schema.json).

    {"event": "escalation.created", "id": "evt_…", "idempotency_key": "…",
     "created_at": "2024-05-01T10:00:00Z", "escalation": {…EscalationPayload…}}

`id` is derived from the idempotency key, so every retry of one escalation carries the same
event id; receivers de-duplicate on either. The body is ASCII JSON (`ensure_ascii`): a lone
surrogate or a control character travels as a \\u escape, so a Python receiver's
`json.loads` gives back exactly the string socialear stored.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from responders.types import EscalationPayload

EVENT_TYPE = "escalation.created"


def event_id(idempotency_key: str) -> str:
    return "evt_" + hashlib.sha256(idempotency_key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def envelope(payload: EscalationPayload, now: float) -> dict[str, Any]:
    return {
        "event": EVENT_TYPE,
        "id": event_id(payload.idempotency_key),
        "idempotency_key": payload.idempotency_key,
        "created_at": datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z"),
        "escalation": payload.to_dict(),
    }


def encode(data: dict[str, Any]) -> str:
    """One line of ASCII JSON."""
    return json.dumps(data, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
