"""Platform publishers: post an approved reply on X, Reddit or a Facebook Page, once.

One module per platform (`x.py`, `reddit.py`, `facebook.py`), registered like sources and
sinks: an entry point in the group `socialear.publishers` named after the source type it
posts for (socialear's own in pyproject.toml), checked at load against
`PublisherClass`. A publisher is built for a *source* (the reply goes back where the
mention came from) from the environment's write credentials (its `needs`), never from
rules.yaml:

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
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from responders.types import DeliveryResult
from socialear.components import PUBLISHER_GROUP, Registry
from socialear.errors import NotConfigured


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


@runtime_checkable
class PlatformPublisher(Protocol):
    """Posts replies on one platform for one source."""

    name: str

    def post(self, job: ReplyJob, *, attempt: int = 1) -> DeliveryResult:
        """Post `job.text` in reply to `job.in_reply_to` once; safe to call again after a failure."""
        ...


class PublisherClass(Protocol):
    """A publisher class as the registry sees it (`type[PublisherClass]`): the source
    `type` it posts for, the write credentials it `needs`, and how to build one."""

    type: ClassVar[str]
    needs: ClassVar[tuple[str, ...]]

    @classmethod
    def from_env(cls, name: str, env: Mapping[str, str], client: Any = None) -> PlatformPublisher: ...


PUBLISHERS: Registry[type[PublisherClass]] = Registry(PUBLISHER_GROUP, "publisher", ("type", "needs", "from_env"))


def missing_credentials(source_type: str, env: Mapping[str, str]) -> list[str]:
    """The write-credential variables a source type's publisher needs that `env` lacks."""
    factory = PUBLISHERS.get(source_type)
    return [var for var in (factory.needs if factory else ()) if not env.get(var)]


def can_publish(source_type: str) -> bool:
    return source_type in PUBLISHERS


def supported() -> str:
    """The source types replies can be posted on, for messages."""
    return ", ".join(PUBLISHERS)


def build_publisher(name: str, source_type: str, env: Mapping[str, str], client: Any = None) -> PlatformPublisher:
    """A publisher for source `name`; NotConfigured with the reason when it cannot post."""
    factory = PUBLISHERS.get(source_type)
    if factory is None:
        raise NotConfigured(
            f"source {name!r} is a {source_type!r} source: socialear publishes replies on {supported()} only"
        )
    if client is None:
        missing = missing_credentials(source_type, env)
        if missing:
            raise NotConfigured(
                f"publishing on source {name!r} needs write credentials: {', '.join(missing)} not set"
            )
    return factory.from_env(name, env, client)


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


if TYPE_CHECKING:
    # mypy checks every built-in class against the contract; pyproject.toml's entry points
    # name the same classes.
    from responders.publishers.facebook import FacebookReplyPublisher
    from responders.publishers.reddit import RedditReplyPublisher
    from responders.publishers.x import XReplyPublisher

    BUILT_INS: tuple[type[PublisherClass], ...] = (FacebookReplyPublisher, RedditReplyPublisher, XReplyPublisher)

__all__ = [
    "PUBLISHERS",
    "PlatformPublisher",
    "PublisherClass",
    "ReplyJob",
    "build_publisher",
    "can_publish",
    "comparable",
    "missing_credentials",
    "same_reply",
    "supported",
]
