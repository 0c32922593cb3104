"""Facebook's Graph API, shared by the Page source (reading) and the reply publisher.

Graph throttles with HTTP 400/403 and an error `code` (4 app, 17 user, 32 page, 613
custom, 80001 page business use case) rather than 429, and reports how close a caller is
to its limits in usage headers; both readers of those facts live here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

GRAPH = "https://graph.facebook.com"
ENV = ("FACEBOOK_PAGE_ACCESS_TOKEN",)
SECRET_ENV = "FACEBOOK_APP_SECRET"  # optional: adds appsecret_proof to every call
THROTTLE_CODES = {4, 17, 32, 613, 80001}


def usage_from_headers(headers: Mapping[str, str]) -> tuple[float, float | None]:
    """(highest usage percent, minutes until access is regained or None) from
    X-App-Usage, X-Page-Usage and X-Business-Use-Case-Usage. Unreadable headers count as 0."""
    lower = {k.lower(): v for k, v in headers.items()}
    highest = 0.0
    regain: float | None = None

    def take(figures: Any) -> None:
        nonlocal highest, regain
        if not isinstance(figures, Mapping):
            return
        for key in ("call_count", "total_cputime", "total_time", "acc_id_util_pct"):
            value = figures.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                highest = max(highest, float(value))
        minutes = figures.get("estimated_time_to_regain_access")
        if isinstance(minutes, int | float) and minutes > 0:
            regain = max(regain or 0.0, float(minutes))

    for name in ("x-app-usage", "x-page-usage", "x-ad-account-usage"):
        try:
            take(json.loads(lower.get(name) or "null"))
        except ValueError:
            pass
    try:
        buc = json.loads(lower.get("x-business-use-case-usage") or "null")
    except ValueError:
        buc = None
    if isinstance(buc, Mapping):
        for entries in buc.values():
            for figures in entries if isinstance(entries, list) else [entries]:
                take(figures)
    return highest, regain


def appsecret_proof(token: str, secret: str) -> str:
    """HMAC-SHA256 of the token keyed by the app secret (Graph's "Require App Secret")."""
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()
