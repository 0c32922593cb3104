"""Plain value objects that flow through the listener, and the `Source` contract.

A Source does I/O and normalisation only: it never touches the database. The pipeline
owns storage, so a source can be tested with nothing but recorded payloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable


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
        self.handle = storable_text(self.handle)
        if self.name is not None:
            self.name = storable_text(self.name)


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
        # platform text may carry half an emoji or a NUL; see `storable_text`
        self.text = storable_text(self.text)
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
        self.error = storable_text(self.error)
        if self.external_id is not None:
            self.external_id = storable_text(self.external_id)


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
    """A platform reader. One class per platform under `listener/sources/`."""

    name: str
    platform: str

    def fetch(self, cursor: str | None) -> Batch:
        """Read what is new since `cursor`; raise RetryableError/PermanentError on failure."""
        ...
