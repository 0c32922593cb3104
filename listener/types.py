"""Plain value objects that flow through the listener, and the `Source` contract.

A Source does I/O and normalisation only: it never touches the database. The pipeline
owns storage, so a source can be tested with nothing but recorded payloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable


@dataclass(slots=True)
class Author:
    """Who wrote a mention, as the platform describes them."""

    platform: str
    handle: str
    name: str | None = None
    external_id: str | None = None
    followers: int = 0
    verified: bool = False


@dataclass(slots=True)
class Mention:
    """One post/comment/review, normalised. `text` is verbatim and never altered."""

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


@dataclass(slots=True)
class Quarantined:
    """A raw item the source could not normalise; kept with its error, never dropped."""

    source: str
    payload: str  # the raw item, serialised as received
    error: str
    external_id: str | None = None


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
