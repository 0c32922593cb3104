"""The Discourse webhook, `POST /hooks/discourse`: the fast path for `discourse` sources
with `webhook: true`.

Polling reads each new post once (it walks the post ids, listener.sources.discourse) but
only as often as the source is polled. With the webhook the forum pushes each post once,
seconds after it is written, and the source's polling only checks, once per
`webhook_silence` without deliveries, that nothing was missed, reading only the ids the
hook did not deliver.

Set up in Discourse: Admin → API → Webhooks → New: Payload URL
`https://<console>/hooks/discourse`, content type application/json, a secret (the same
value in DISCOURSE_WEBHOOK_SECRET), "Post Event" (created, edited, destroyed). Discourse
sends:

* `X-Discourse-Event-Signature: sha256=<HMAC-SHA256 of the raw body keyed by the
  secret>`: anything unsigned or wrongly signed is refused with 401 before its JSON is read;
* `X-Discourse-Instance: https://forum.example.com`: the delivery is applied to every
  configured `discourse` source with `webhook: true` whose `base_url` is that forum;
* `X-Discourse-Event-Type: post` and `X-Discourse-Event: post_created | post_edited |
  post_destroyed` (`ping` when the webhook is tested), body `{"post": {...}}` with the
  fields `/posts.json` has (`raw` included) plus `topic_archetype`.

A created or edited post is kept as a poll would keep it (brand match or category; not
deleted, hidden, a whisper, a moderator action or a private message) and stored through
the pipeline, which also moves the source's high-water mark to it; a destroyed post is
purged everywhere. An edit of a post already stored stores nothing new (the pipeline
de-duplicates on the post id), like the poll.

Answers: 200 `{"ok": true, "stored", "purged", "ignored"}` (also for a forum we do not
listen to, so Discourse does not keep redelivering); 401 bad signature; 400 not JSON;
413 over 1 MiB; 503 when DISCOURSE_WEBHOOK_SECRET is not set; 500 when storing fails
(Discourse redelivers failed events).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from console.web.source_hook import SourceHook, signed_json
from listener.sources.discourse import DiscourseSource
from socialear.config import RulesConfig
from storage.engine import Engine

log = logging.getLogger(__name__)

SECRET_ENV = "DISCOURSE_WEBHOOK_SECRET"
SIGNATURE = "X-Discourse-Event-Signature"
INSTANCE = "X-Discourse-Instance"
EVENT = "X-Discourse-Event"
STORE_EVENTS = ("post_created", "post_edited", "post_recovered")
PURGE_EVENTS = ("post_destroyed",)


def _forum(url: str | None) -> str:
    return (url or "").strip().rstrip("/").lower()


class DiscourseHook(SourceHook):
    """Applies verified Discourse post events to the `discourse` sources of that forum."""

    source_type = "discourse"

    def apply(self, instance: str, event: str, data: Mapping[str, Any]) -> dict[str, int]:
        counts = {"stored": 0, "purged": 0, "ignored": 0}
        post = data.get("post")
        forum = _forum(instance)
        sources = list(self.sources(
            lambda cfg: bool(cfg.options.get("webhook")) and _forum(cfg.options.get("base_url")) == forum))
        post_id = post.get("id") if isinstance(post, Mapping) else None
        if not sources or not isinstance(post_id, int) or isinstance(post_id, bool) or (
                event not in STORE_EVENTS + PURGE_EVENTS):
            counts["ignored"] += 1
            return counts
        for source in sources:
            if event in PURGE_EVENTS:
                counts["purged"] += self.purge(source.name, str(post_id), "deleted on Discourse (post_destroyed)")
                continue
            stats: dict[str, int] = {}
            try:
                mention = source.mention_from_webhook(dict(post), stats)  # type: ignore[arg-type]  # a Mapping: post_id was read from it
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                log.warning("discourse webhook: unreadable post %s for %s: %s", post_id, source.name, exc)
                counts["ignored"] += 1
                continue
            def advance(cursor: str | None, name: str = source.name, now: datetime = source.clock()) -> str:
                return DiscourseSource.after_delivery(cursor, [post_id], now, name)

            counts["stored"] += self.store(source.name, [mention] if mention else [], advance)
            if mention is None:
                counts["ignored"] += 1
        return counts


def make_discourse_router(engine: Engine, rules: Callable[[], RulesConfig], env: Mapping[str, str]) -> APIRouter:
    """The `/hooks/discourse` route; `env` holds DISCOURSE_WEBHOOK_SECRET."""
    router = APIRouter(prefix="/hooks", tags=["webhooks"])
    hook = DiscourseHook(engine, rules, env)

    @router.post("/discourse", summary="Discourse webhook (X-Discourse-Event-Signature signed)")
    async def receive(request: Request) -> JSONResponse:
        data = await signed_json(request, env, SECRET_ENV, SIGNATURE, "Discourse")
        if isinstance(data, JSONResponse):
            return data
        event = request.headers.get(EVENT) or ""
        if event == "ping":
            return JSONResponse({"ok": True, "stored": 0, "purged": 0, "ignored": 0})
        counts = await run_in_threadpool(hook.apply, request.headers.get(INSTANCE) or "", event, data)
        return JSONResponse({"ok": True, **counts})

    return router
