"""Filters as they appear in a page's URL, shared by the queue, the audit log and the
mention browser: read from query parameters (trimmed, length-capped, a bounded page
number) and written back as the non-default ones, so a refresh or a saved view keeps
them. Each list's query function takes its filters object.
"""

from __future__ import annotations

from dataclasses import Field, fields
from datetime import UTC, datetime
from typing import Any, ClassVar, Self


def parse_day(text: str) -> datetime | None:
    """A YYYY-MM-DD date as the start of that UTC day; None if it is not one."""
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None


class UrlFilters:
    """Mixin for a dataclass of str fields plus `page: int`. Fields declared with
    `compare=False` are not URL parameters."""

    # declared for the type checker only (no value): @dataclass sets it on each subclass,
    # which is what `dataclasses.fields` reads
    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]
    MAX_LEN: ClassVar[int] = 200
    ALIASES: ClassVar[dict[str, str]] = {}  # field -> its URL parameter's name

    @classmethod
    def from_params(cls, params: Any) -> Self:
        values: dict[str, Any] = {}
        for f in fields(cls):
            if not f.compare:
                continue
            raw = params.get(cls.ALIASES.get(f.name, f.name))
            if raw is None:
                continue
            raw = str(raw).strip()[:cls.MAX_LEN]
            if f.name == "page":
                values["page"] = max(1, min(int(raw), 10_000)) if raw.isdigit() else 1
            else:
                values[f.name] = raw
        return cls(**values)

    def params(self, **changes: Any) -> dict[str, str]:
        """Non-default filters as query parameters, with `changes` applied."""
        names = [f for f in fields(self) if f.compare]
        data = {f.name: getattr(self, f.name) for f in names} | changes
        defaults = {f.name: f.default for f in names}
        return {self.ALIASES.get(k, k): str(v) for k, v in data.items()
                if v not in ("", None) and v != defaults.get(k)}
