"""Plain value objects that flow through the listener, and the `Source` contract.

A Source does I/O and normalisation only: it never touches the database. The pipeline
owns storage, so a source can be tested with nothing but recorded payloads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, overload, runtime_checkable


def storable_text(value: str) -> str:
    """`value`, with each lone UTF-16 surrogate and each NUL replaced by U+FFFD.

    JSON may escape half an emoji ("\\ud83d" with no partner: a post cut mid-character by
    a platform or a truncating client), and `json.loads` turns that into a lone surrogate,
    which no UTF-8 encoder, SQLite, PostgreSQL or lingua accepts; PostgreSQL also refuses
    NUL ("\\u0000") in text and JSON. Left in, one such post failed its whole batch on
    every poll. Valid surrogate pairs become their character; all else is untouched."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


@overload
def storable_json(value: dict[str, Any]) -> dict[str, Any]: ...


@overload
def storable_json(value: Any) -> Any: ...


def storable_json(value: Any) -> Any:
    """`storable_text` applied to every string (keys too) in a JSON-like value; the value
    itself, untouched, when it has nothing to repair (the usual case)."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        fixed = {storable_json(k): storable_json(v) for k, v in value.items()}
        same = all(a is b and value[a] is fixed[a] for a, b in zip(value, fixed, strict=True))
        return value if same else fixed
    if isinstance(value, list | tuple):
        items = [storable_json(v) for v in value]
        if all(a is b for a, b in zip(value, items, strict=True)):
            return value
        return items if isinstance(value, list) else tuple(items)
    return value


# Column limits every source's values are fitted to here, once, so SQLite (which ignores
# VARCHAR lengths) and PostgreSQL (which refuses the whole batch) store the same thing.
ID_LIMIT = 255  # external ids, reply/thread ids, author handles and ids
NAME_LIMIT = 255  # an author's display name
PLATFORM_LIMIT = 32
LANG_LIMIT = 16
COUNT_LIMIT = 2**31 - 1  # followers and engagement: a 32-bit INTEGER on PostgreSQL
ERROR_LIMIT = 2000  # a quarantine error names the problem; the payload keeps the data


def storable_id(value: str) -> str:
    """An id or handle that fits its 255-character column, the same on every database.

    Up to 255 characters it is kept as is. A longer one becomes its first 222 characters,
    "…" and the first 32 hex digits of the SHA-256 of the whole value: the same long id
    always maps to the same stored id (dedupe and reply threads still work) and two long
    ids that share a prefix stay distinct. Without this, PostgreSQL refused the whole
    batch (StringDataRightTruncation) on every poll while SQLite stored the id whole."""
    value = storable_text(value)
    if len(value) <= ID_LIMIT:
        return value
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]
    return f"{value[: ID_LIMIT - 33]}…{digest}"


def clipped(value: str, limit: int) -> str:
    """`value` cut to `limit` characters, the last one "…" when anything was cut."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _count(value: int) -> int:
    return min(max(int(value), 0), COUNT_LIMIT)


def _platform(value: str) -> str:
    if len(value) > PLATFORM_LIMIT:
        raise ValueError(f"platform: longer than {PLATFORM_LIMIT} characters")
    return value


@dataclass(slots=True)
class Author:
    """Who wrote a mention, as the platform describes them."""

    platform: str
    handle: str
    name: str | None = None
    external_id: str | None = None
    followers: int = 0
    verified: bool = False

    def __post_init__(self) -> None:
        self.platform = _platform(self.platform)
        self.handle = storable_id(self.handle)
        if self.name is not None:
            self.name = clipped(storable_text(self.name), NAME_LIMIT)
        if self.external_id is not None:
            self.external_id = storable_id(self.external_id)
        self.followers = _count(self.followers)


@dataclass(slots=True)
class Mention:
    """One post/comment/review, normalised. `text` is verbatim and never altered, except
    that half an emoji or a NUL (see `storable_text`) becomes U+FFFD."""

    source: str  # the configured source name (rules.yaml `sources[].name`)
    platform: str  # x | reddit | appstore | googleplay | trustpilot | rss | replay
    external_id: str  # the platform's id; (source, external_id) is unique
    text: str
    created_at: datetime
    author: Author
    url: str | None = None
    lang: str | None = None  # as the platform reports it, if it does
    rating: float | None = None  # review stars 1-5
    in_reply_to: str | None = None  # platform id of the post this replies to
    in_reply_to_user: str | None = None  # platform user id/handle this replies to
    conversation_id: str | None = None  # thread id (tweet conversation, reddit submission)
    engagement: int = 0  # likes + reposts + replies (+ quotes), or score
    is_repost: bool = False
    title: str | None = None  # reviews and reddit submissions have one
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # platform text may carry half an emoji or a NUL; see `storable_text`. Ids and
        # short fields are fitted to their columns by one documented rule (storable_id).
        self.text = storable_text(self.text)
        self.platform = _platform(self.platform)
        self.external_id = storable_id(self.external_id)
        if self.in_reply_to is not None:
            self.in_reply_to = storable_id(self.in_reply_to)
        if self.in_reply_to_user is not None:
            self.in_reply_to_user = storable_id(self.in_reply_to_user)
        if self.conversation_id is not None:
            self.conversation_id = storable_id(self.conversation_id)
        if self.lang is not None and len(self.lang) > LANG_LIMIT:
            self.lang = None  # not a language tag; the language is detected instead
        self.engagement = _count(self.engagement)
        if self.title is not None:
            self.title = storable_text(self.title)
        if self.url is not None:
            self.url = storable_text(self.url)
        if self.extra:
            self.extra = storable_json(self.extra)


@dataclass(slots=True)
class Quarantined:
    """A raw item the source could not normalise; kept with its error, never dropped."""

    source: str
    payload: str  # the raw item, serialised as received
    error: str
    external_id: str | None = None

    def __post_init__(self) -> None:
        self.payload = storable_text(self.payload)
        self.error = clipped(storable_text(self.error), ERROR_LIMIT)
        if self.external_id is not None:
            self.external_id = storable_id(self.external_id)


@dataclass(slots=True)
class RateLimit:
    """What the platform said about our remaining allowance."""

    remaining: int | None = None
    limit: int | None = None
    reset_at: datetime | None = None


@dataclass(slots=True)
class Batch:
    """The result of one `fetch`: mentions, quarantined items and the cursor to store."""

    mentions: list[Mention]
    next_cursor: str | None
    rate_limit: RateLimit | None = None
    quarantined: list[Quarantined] = field(default_factory=list)
    exhausted: bool = True  # False when the source has more right now (poll again soon)
    stats: dict[str, int] = field(default_factory=dict)  # e.g. {"fetched": 40, "dropped/retweet": 3}
    budget_used: int | None = None  # reads charged by the platform for this fetch


@runtime_checkable
class Source(Protocol):
    """A platform reader, built by a `SourceClass`. One class per platform under
    `listener/sources/`, or in a plugin package (entry-point group `socialear.sources`)."""

    name: str

    def fetch(self, cursor: str | None) -> Batch:
        """Read what is new since `cursor`; raise RetryableError/PermanentError on failure."""
        ...


class BrandSpec(Protocol):
    """What a source needs to know about a brand (rules.yaml `brands[]`)."""

    name: str
    query: str  # the boolean query language of `listener.query`
    handles: dict[str, str]  # platform -> handle, e.g. {"x": "nimbus", "reddit": "nimbus"}


class SourceClass(Protocol):
    """A source class as the registry sees it: what it declares about itself (read without
    building it) and how to build one. The registry holds `type[SourceClass]`; every
    built-in is checked against it by mypy where they are listed (`listener.sources`), and
    every entry point at load. `Options` (a nested pydantic model with `extra="forbid"`) is
    part of the contract too, checked at load (`socialear.components.options_model`): mypy
    cannot match a nested class against a protocol member."""

    type: ClassVar[str]  # the `type:` that names it in rules.yaml (its entry point's name)
    description: ClassVar[str]
    needs: ClassVar[tuple[str, ...]]  # environment variables it cannot run without
    # seconds without a stored mention after which it shows as silent; None: never
    expected_update_period: ClassVar[float | None]

    @classmethod
    def from_options(
        cls,
        name: str,
        options: Mapping[str, Any],
        *,
        env: Mapping[str, str] | None = None,
        client: Any = None,
        brands: Sequence[BrandSpec] | None = None,
    ) -> Source:
        """Build the configured source `name`; NotConfigured says why it cannot run. `client`
        replaces the platform client (tests feed recorded payloads through it)."""
        ...
