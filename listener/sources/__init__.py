"""The registry of platform sources: one class per platform, registered by its `type`.

Built-ins are registered exactly like an extension would be: `SOURCES[type] = cls`.
Each class describes itself (`type`, `description`, `needs`: the env vars it requires,
`Options`: a pydantic model with `extra="forbid"`) and builds itself with
`from_options(name, options, env=None, client=None, brands=None)`, raising
`NotConfigured` with the reason when it cannot run ("X_BEARER_TOKEN is not set").
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from listener.sources.appstore import AppStoreSource
from listener.sources.discourse import DiscourseSource
from listener.sources.facebook import FacebookSource
from listener.sources.googleplay import GooglePlaySource
from listener.sources.reddit import RedditSource
from listener.sources.replay import ReplaySource
from listener.sources.rss import RssSource
from listener.sources.trustpilot import TrustpilotSource
from listener.sources.x import XSource
from listener.sources.youtube import YouTubeSource
from socialear.errors import NotConfigured

SOURCES: dict[str, type] = {
    "x": XSource,
    "reddit": RedditSource,
    "appstore": AppStoreSource,
    "googleplay": GooglePlaySource,
    "trustpilot": TrustpilotSource,
    "rss": RssSource,
    "replay": ReplaySource,
    "discourse": DiscourseSource,
    "youtube": YouTubeSource,
    "facebook": FacebookSource,
}


def build_source(
    name: str,
    type: str,
    options: Mapping[str, Any] | None,
    env: Mapping[str, str] | None = None,
    client: Any = None,
    brands: list[Any] | None = None,
) -> Any:
    """Build the configured source `name` of kind `type`; NotConfigured says why not.

    Only the keyword arguments a class's `from_options` accepts are passed, so a source
    that needs no env, client or brands (replay) keeps a short signature.
    """
    cls: Any = SOURCES.get(type)
    if cls is None:
        known = ", ".join(sorted(SOURCES))
        raise NotConfigured(f"source '{name}': unknown type {type!r} (known: {known})")
    params = inspect.signature(cls.from_options).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    extra = {"env": env, "client": client, "brands": brands}
    kwargs = {k: v for k, v in extra.items() if accepts_any or k in params}
    return cls.from_options(name, dict(options or {}), **kwargs)


__all__ = [
    "SOURCES",
    "AppStoreSource",
    "DiscourseSource",
    "FacebookSource",
    "GooglePlaySource",
    "RedditSource",
    "ReplaySource",
    "RssSource",
    "TrustpilotSource",
    "XSource",
    "YouTubeSource",
    "build_source",
]
