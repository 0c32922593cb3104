"""Platform publishers: post an approved reply on X, Reddit or a Facebook Page, once.

One module per platform (`x.py`, `reddit.py`, `facebook.py`), registered here like the sinks are. A
publisher is built for a *source* (the reply goes back where the mention came from) from
the environment's write credentials, never from rules.yaml:

    X        X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET (OAuth 1.0a user context)
    Reddit   REDDIT_CLIENT_ID, REDDIT_CLIENT_SECRET, REDDIT_USER_AGENT, REDDIT_USERNAME, REDDIT_PASSWORD
    Facebook FACEBOOK_PAGE_ACCESS_TOKEN (the Page token, with pages_manage_engagement)

Contract: `post(job, *, attempt=1) -> DeliveryResult(external_ref=<the platform's id of
our reply>)`. Neither platform takes an idempotency key, so on a retry (`attempt > 1`,
from the outbox row, which survives restarts and replicas) or after an ambiguous failure
seen by this process (timeout or 5xx after the request may have been acted on) the
publisher first looks for a reply of ours to the same post with the same text, and
returns it with `created=False` instead of posting again.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from responders.types import DeliveryResult
from socialear.errors import NotConfigured

X_ENV = ("X_API_KEY", "X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET")
REDDIT_ENV = ("REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET", "REDDIT_USER_AGENT", "REDDIT_USERNAME", "REDDIT_PASSWORD")
FACEBOOK_ENV = ("FACEBOOK_PAGE_ACCESS_TOKEN",)
CREDENTIALS: dict[str, tuple[str, ...]] = {"x": X_ENV, "reddit": REDDIT_ENV, "facebook": FACEBOOK_ENV}


@dataclass(frozen=True, slots=True)
class ReplyJob:
    """One approved reply, as stored in the outbox row's payload (plain data)."""

    key: str  # the outbox row's idempotency key
    source: str
    platform: str
    in_reply_to: str  # the mention's platform id (X tweet id, Reddit fullname t1_/t3_)
    text: str
    actor: str
    escalation_id: int
    conversation_id: str | None = None

    def to_payload(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("key")
        return data

    @classmethod
    def from_payload(cls, key: str, payload: Mapping[str, Any]) -> ReplyJob:
        return cls(
            key=key,
            source=str(payload["source"]),
            platform=str(payload["platform"]),
            in_reply_to=str(payload["in_reply_to"]),
            text=str(payload["text"]),
            actor=str(payload.get("actor") or "system"),
            escalation_id=int(payload["escalation_id"]),
            conversation_id=payload.get("conversation_id"),
        )


class PlatformPublisher(Protocol):
    """Posts replies on one platform for one source."""

    name: str

    def post(self, job: ReplyJob, *, attempt: int = 1) -> DeliveryResult:
        """Post `job.text` in reply to `job.in_reply_to` once; safe to call again after a failure."""
        ...


def missing_credentials(source_type: str, env: Mapping[str, str]) -> list[str]:
    """The write-credential variables a source type needs that `env` lacks."""
    return [var for var in CREDENTIALS.get(source_type, ()) if not env.get(var)]


def build_publisher(name: str, source_type: str, env: Mapping[str, str], client: Any = None) -> PlatformPublisher:
    """A publisher for source `name`; NotConfigured with the reason when it cannot post."""
    if source_type not in CREDENTIALS:
        supported = ", ".join(sorted(CREDENTIALS))
        raise NotConfigured(
            f"source {name!r} is a {source_type!r} source: socialear publishes replies on {supported} only"
        )
    if client is None:
        missing = missing_credentials(source_type, env)
        if missing:
            raise NotConfigured(
                f"publishing on source {name!r} needs write credentials: {', '.join(missing)} not set"
            )
    if source_type == "x":
        from responders.publishers.x import XReplyPublisher

        return XReplyPublisher.from_env(name, env, client)
    if source_type == "facebook":
        from responders.publishers.facebook import FacebookReplyPublisher

        return FacebookReplyPublisher.from_env(name, env, client)
    from responders.publishers.reddit import RedditReplyPublisher

    return RedditReplyPublisher.from_env(name, env, client)


_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)


def comparable(text: str) -> str:
    """Text normalised the way platforms alter it on the way back: HTML entities decoded,
    URLs (X wraps them in t.co) reduced to a marker, whitespace collapsed, case folded."""
    text = html.unescape(text or "")
    text = _URL.sub("<url>", text)
    return " ".join(text.split()).casefold()


def same_reply(ours: str, theirs: str) -> bool:
    """True when `theirs` (as the platform returns it) is the reply we posted as `ours`.
    X prepends the @handles of the conversation to a reply's text, so those may lead."""
    a, b = comparable(ours), comparable(theirs)
    if a == b:
        return True
    while b.startswith("@") and " " in b:
        b = b.split(" ", 1)[1]
        if a == b:
            return True
    return False


__all__ = [
    "CREDENTIALS",
    "PlatformPublisher",
    "ReplyJob",
    "build_publisher",
    "comparable",
    "missing_credentials",
    "same_reply",
]
