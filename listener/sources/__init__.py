"""The registry of platform sources: one class per platform, registered by its `type`.

Every source, built-in or from a plugin package, is registered the same way: an entry
point in the group `socialear.sources` whose name is the `type` written in rules.yaml
(socialear's own are in pyproject.toml, `[project.entry-points."socialear.sources"]`).
`SOURCES` loads them through `importlib.metadata` (see `socialear.components`) and checks
each against the `SourceClass` contract of `listener.types`: it describes itself
(`type`, `description`, `needs`: the env vars it requires, `Options`: a pydantic model
with `extra="forbid"`, `expected_update_period`) and builds itself with
`from_options(name, options, *, env=None, client=None, brands=None)`, raising
`NotConfigured` with the reason when it cannot run ("X_BEARER_TOKEN is not set").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from listener.types import BrandSpec, Source, SourceClass
from socialear.components import COMPONENT_MEMBERS, SOURCE_GROUP, Registry

SOURCES: Registry[type[SourceClass]] = Registry(
    SOURCE_GROUP, "source", (*COMPONENT_MEMBERS, "expected_update_period", "from_options")
)


def build_source(
    name: str,
    type: str,
    options: Mapping[str, Any] | None,
    env: Mapping[str, str] | None = None,
    client: Any = None,
    brands: Sequence[BrandSpec] | None = None,
) -> Source:
    """Build the configured source `name` of kind `type`; NotConfigured says why not
    (an unknown type too: the service turns that source off and polls the others)."""
    factory = SOURCES.require(type, name)
    return factory.from_options(name, dict(options or {}), env=env, client=client, brands=brands)


if TYPE_CHECKING:
    # mypy checks every built-in class against the contract here; pyproject.toml's entry
    # points name the same classes (tests/listener/sources/test_registry.py compares them).
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

    BUILT_INS: tuple[type[SourceClass], ...] = (
        AppStoreSource, DiscourseSource, FacebookSource, GooglePlaySource, RedditSource,
        ReplaySource, RssSource, TrustpilotSource, XSource, YouTubeSource,
    )

__all__ = ["SOURCES", "build_source"]
