"""Contract tests run against every registered platform source (see harnesses.py).

Each source must: describe itself, validate options strictly, refuse to start without
its credentials (naming the env var), normalise a recorded page, return an empty batch
when there is nothing new, map 429 to RateLimited without retrying, retry 5xx and then
raise RetryableError, treat a timeout as retryable, map bad credentials to
BadCredentials, quarantine a malformed item while keeping the rest, and treat an
unreadable body as retryable.
"""

from __future__ import annotations

import inspect
import json

import pytest
from harnesses import HARNESSES
from pydantic import BaseModel

from listener.sources import SOURCES, build_source
from listener.types import Batch, Mention, Quarantined, Source
from socialear.errors import (
    BadCredentials,
    NotConfigured,
    RateLimited,
    RetryableError,
)

PLATFORMS = sorted(t for t in SOURCES if t != "replay")  # replay has its own tests


def test_every_source_has_a_harness():
    assert set(PLATFORMS) == set(HARNESSES)
    assert {"x", "reddit", "appstore", "googleplay", "trustpilot", "rss", "replay"} <= set(SOURCES)


def test_unknown_type_is_not_configured():
    with pytest.raises(NotConfigured, match="unknown type 'mastodon'"):
        build_source("m", "mastodon", {})


@pytest.mark.parametrize("kind", PLATFORMS)
def test_class_describes_itself(kind):
    cls = SOURCES[kind]
    assert cls.type == kind
    assert isinstance(cls.description, str) and len(cls.description) > 20
    assert isinstance(cls.needs, tuple)
    assert issubclass(cls.Options, BaseModel)
    assert cls.Options.model_config.get("extra") == "forbid"
    params = inspect.signature(cls.from_options).parameters
    assert list(params)[:2] == ["name", "options"]
    assert {"env", "client", "brands"} <= set(params)
    assert cls.__doc__ and inspect.getmodule(cls).__doc__


@pytest.mark.parametrize("kind", PLATFORMS)
def test_unknown_option_is_refused(kind):
    harness = HARNESSES[kind]()
    with pytest.raises(NotConfigured, match="not_an_option"):
        build_source(
            harness.name,
            kind,
            {**harness.options, "not_an_option": 1},
            env=harness.env,
            client=harness.client(),
        )


@pytest.mark.parametrize("kind", [k for k in PLATFORMS if SOURCES[k].needs])
def test_missing_env_is_not_configured_naming_the_variable(kind):
    from source_helpers import NIMBUS

    harness = HARNESSES[kind]()
    cls = SOURCES[kind]
    with pytest.raises(NotConfigured) as info:
        cls.from_options(harness.name, harness.options, env={}, brands=[NIMBUS])
    message = str(info.value)
    assert f"{kind} source '{harness.name}'" in message
    assert f"{cls.needs[0]} is not set" in message


@pytest.mark.parametrize("kind", PLATFORMS)
def test_success(kind, fast_retry):
    harness = HARNESSES[kind]()
    with harness.serve("success"):
        source = harness.build(fast_retry)
        assert isinstance(source, Source)
        batch = source.fetch(None)
    assert isinstance(batch, Batch)
    assert batch.mentions, "a recorded page yields mentions"
    for mention in batch.mentions:
        assert isinstance(mention, Mention)
        assert mention.source == harness.name and mention.platform == kind
        assert mention.external_id and isinstance(mention.text, str)
        assert mention.created_at.tzinfo is not None
    ids = [m.external_id for m in batch.mentions]
    assert len(ids) == len(set(ids))
    assert batch.quarantined == []
    assert isinstance(batch.next_cursor, str) and json.loads(batch.next_cursor)
    assert batch.stats["fetched"] == len(batch.mentions)


@pytest.mark.parametrize("kind", PLATFORMS)
def test_success_then_same_page_again_returns_nothing_twice(kind, fast_retry):
    harness = HARNESSES[kind]()
    with harness.serve("success"):
        first = harness.build(fast_retry).fetch(None)
    with harness.serve("success"):
        second = harness.build(fast_retry).fetch(first.next_cursor)
    assert second.mentions == []


@pytest.mark.parametrize("kind", PLATFORMS)
def test_empty(kind, fast_retry):
    harness = HARNESSES[kind]()
    with harness.serve("empty"):
        batch = harness.build(fast_retry).fetch(None)
    assert batch.mentions == [] and batch.quarantined == []
    assert batch.next_cursor is None or isinstance(batch.next_cursor, str)


@pytest.mark.parametrize("kind", PLATFORMS)
def test_rate_limited_is_not_retried(kind, fast_retry, sleeps):
    harness = HARNESSES[kind]()
    with harness.serve("rate_limited") as calls:
        with pytest.raises(RateLimited) as info:
            harness.build(fast_retry).fetch(None)
        assert calls() == 1
    assert info.value.retry_after is not None and info.value.retry_after > 0
    assert sleeps == []


@pytest.mark.parametrize("kind", PLATFORMS)
def test_server_error_retried_then_retryable(kind, fast_retry, sleeps):
    harness = HARNESSES[kind]()
    with harness.serve("server_error") as calls:
        with pytest.raises(RetryableError) as info:
            harness.build(fast_retry).fetch(None)
        assert calls() == 3
    assert not isinstance(info.value, RateLimited)
    assert len(sleeps) == 2 and all(s > 0 for s in sleeps)


@pytest.mark.parametrize("kind", PLATFORMS)
def test_timeout_is_retryable(kind, fast_retry):
    harness = HARNESSES[kind]()
    with harness.serve("timeout"), pytest.raises(RetryableError, match="timed out"):
        harness.build(fast_retry).fetch(None)


@pytest.mark.parametrize("kind", PLATFORMS)
def test_bad_credentials(kind, fast_retry, sleeps):
    harness = HARNESSES[kind]()
    with harness.serve("bad_credentials"), pytest.raises(BadCredentials) as info:
        harness.build(fast_retry).fetch(None)
    assert sleeps == []
    message = str(info.value)
    if SOURCES[kind].needs:
        assert any(var.split("_")[0] in message for var in SOURCES[kind].needs)
    # the platform's word for a refused credential: a 401/403, or Graph's code 190 (HTTP 400)
    codes = getattr(harness, "credential_codes", ("401", "403"))
    assert any(code in message for code in codes)


@pytest.mark.parametrize("kind", PLATFORMS)
def test_malformed_item_quarantined_rest_kept(kind, fast_retry):
    harness = HARNESSES[kind]()
    with harness.serve("malformed_item"):
        batch = harness.build(fast_retry).fetch(None)
    assert batch.mentions, "the good items are kept"
    assert batch.quarantined, "the bad items are quarantined"
    for item in batch.quarantined:
        assert isinstance(item, Quarantined)
        assert item.source == harness.name and item.error and item.payload
    assert batch.stats["quarantined"] == len(batch.quarantined)


@pytest.mark.parametrize("kind", PLATFORMS)
def test_malformed_body_is_retryable(kind, fast_retry):
    harness = HARNESSES[kind]()
    with harness.serve("malformed_body") as calls:
        with pytest.raises(RetryableError) as info:
            harness.build(fast_retry).fetch(None)
        assert calls() == 3
    assert not isinstance(info.value, RateLimited)


def test_build_source_passes_only_what_from_options_accepts(tmp_path):
    from source_helpers import NIMBUS

    path = tmp_path / "m.jsonl"
    path.write_text('{"id": "1", "text": "nimbus"}\n')
    source = build_source("sample", "replay", {"path": str(path)}, env={}, client=object(), brands=[NIMBUS])
    assert source.fetch(None).mentions[0].text == "nimbus"
