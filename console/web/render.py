"""The Jinja2 environment (autoescape always on) and the filters the templates use."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from console.timefmt import ago
from console.web.auth import Principal
from console.web.icons import platform_icon, platform_name
from responders.replies import PLATFORM_LIMITS, PLATFORM_NAMES
from socialear.settings import Settings
from storage.console_models import Role
from storage.queue import ACTIVE
from storage.types import as_utc, utcnow

_SAFE_URL = re.compile(r"^https?://", re.IGNORECASE)


@dataclass(frozen=True)
class Sla:
    text: str
    level: str  # "ok" | "amber" | "red" | "done" | "none"
    due_iso: str = ""
    total_s: int = 0


def span(seconds: float) -> str:
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m"


def sla_state(status: str, sla_due: datetime | None, created_at: datetime | None,
              now: datetime | None = None) -> Sla:
    """Time left on the SLA: amber under 25 % left, red once overdue."""
    if status not in ACTIVE:
        return Sla("done", "done")
    if sla_due is None:
        return Sla("no SLA", "none")
    now = now or utcnow()
    due = as_utc(sla_due)
    left = (due - now).total_seconds()
    total = (due - as_utc(created_at)).total_seconds() if created_at else 0
    iso = due.isoformat()
    if left <= 0:
        return Sla(f"overdue {span(left)}", "red", iso, int(total))
    level = "amber" if total > 0 and left < 0.25 * total else "ok"
    return Sla(f"{span(left)} left", level, iso, int(total))


def fmt_dt(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return as_utc(value).strftime(fmt) if value else "—"


def safe_url(value: str | None) -> str | None:
    """Only http(s) links from outside are rendered; `javascript:` and friends are not."""
    return value if value and _SAFE_URL.match(value) else None


def compact(n: int | float | None) -> str:
    if n is None:
        return "—"
    n = float(n)
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}".rstrip("0").rstrip(".") + unit
    return str(int(n))


# Internal labels as agents say them (#16: "Repeat contact True", `not_a_complaint`).
PLAIN_WORDS: dict[str, str] = {
    "not_a_complaint": "Not a complaint",
    "wrong_sentiment": "Wrong sentiment",
    "wrong_category": "Wrong category",
    "spam": "Spam",
    "correct": "Handled as expected",
}


def words(value: Any) -> str:
    """An internal label in plain words: known labels by name, others with spaces for
    underscores ("wait_time" -> "wait time"); yes/no for booleans."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(getattr(value, "value", value))
    return PLAIN_WORDS.get(text, text.replace("_", " "))


class Renderer:
    def __init__(self, template_dir: Path, settings: Settings):
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(template_dir)),
            autoescape=True,  # mention text, names, everything from outside: always escaped
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(dt=fmt_dt, ago=ago, safe_url=safe_url, compact=compact,
                                pairs=pairs, words=words)
        self.env.globals.update(
            sla=sla_state, Role=Role, PLATFORM_LIMITS=PLATFORM_LIMITS,
            PLATFORM_NAMES=PLATFORM_NAMES, urlencode=urlencode,
            platform_icon=platform_icon, platform_name=platform_name,
        )

    def render(self, name: str, context: dict[str, Any]) -> str:
        return self.env.get_template(name).render(context)

    def page(self, request: Request, name: str, user: Principal | None,
             context: dict[str, Any], status: int = 200) -> HTMLResponse:
        hx_headers = ""
        if user is not None and user.csrf_token:
            hx_headers = json.dumps({"X-CSRF-Token": user.csrf_token})
        data = {"request": request, "user": user, "path": request.url.path,
                "csrf": user.csrf_token if user else "", "hx_headers": Markup.escape(hx_headers),
                **context}
        return HTMLResponse(self.render(name, data), status_code=status)

    def fragment(self, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        return HTMLResponse(self.render(name, context), status_code=status)


def pairs(value: Any) -> list[tuple[str, Any]]:
    """Signals or reasons as (name, value) pairs, whatever shape the scorer stored."""
    if isinstance(value, dict):
        return [(str(k), v) for k, v in value.items()]
    out: list[tuple[str, Any]] = []
    for item in value or []:
        if isinstance(item, dict):
            name = item.get("signal") or item.get("name") or item.get("reason") or item.get(
                "word") or item.get("term") or ""
            val = next((item[k] for k in ("points", "value", "weight", "valence", "score")
                        if k in item), None)
            out.append((str(name) or str(item), val))
        elif isinstance(item, list | tuple) and len(item) == 2:
            out.append((str(item[0]), item[1]))
        else:
            out.append((str(item), None))
    return out
