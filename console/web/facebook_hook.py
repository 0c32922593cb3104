"""The Facebook Page webhook, `/hooks/facebook`: the fast path for the `facebook` source.

Polling a Page every few minutes is the fallback; with the webhook a comment or a
visitor's post reaches the queue seconds after it is written, and a removed one is purged
at once (`verb: remove`), as Meta's platform terms ask.

* `GET /hooks/facebook?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...`: the
  subscription check Meta sends when the webhook is set up. Answered with the challenge
  when the token equals FACEBOOK_VERIFY_TOKEN, else 403.
* `POST /hooks/facebook`: change notifications. The body must carry
  `X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body keyed by FACEBOOK_APP_SECRET>`;
  anything unsigned or wrongly signed is refused with 401 before its JSON is read.
  `{"object": "page", "entry": [{"id": <page id>, "changes": [{"field": "feed" |
  "mention", "value": {...}}]}]}`: for every configured `facebook` source whose
  `page_id` is the entry's, a comment or visitor post (`verb` add/edited) is stored
  through the same pipeline as a polled batch (scored, routed, de-duplicated on
  (source, external_id), so the poll that reads it later stores nothing twice), and a
  `verb: remove` purges the stored mention's content everywhere
  (storage.repo.purge_mention_content). A change with no text (a like, a photo without
  caption, a mention notice without its message) is left to the poll.

Answers: 200 `{"ok": true, "stored", "purged", "ignored"}` (also for a page we do not
listen to, so Meta does not disable the subscription); 401 bad signature; 400 not JSON;
413 over 1 MiB; 503 when FACEBOOK_APP_SECRET / FACEBOOK_VERIFY_TOKEN is not set; 500 when
storing fails (Meta retries the delivery).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from console.web.source_hook import SourceHook, signature, signed_json, verify
from listener.types import Mention
from socialear.config import RulesConfig
from storage.engine import Engine

if TYPE_CHECKING:
    from listener.sources.facebook import FacebookSource

log = logging.getLogger(__name__)

SECRET_ENV = "FACEBOOK_APP_SECRET"
VERIFY_ENV = "FACEBOOK_VERIFY_TOKEN"
SIGNATURE = "X-Hub-Signature-256"
MAX_BODY = 1 << 20
PURGE_REASON = "deleted on Facebook (Page webhook, verb remove)"

__all__ = ["FacebookHook", "make_facebook_router", "signature", "verify"]


class FacebookHook(SourceHook):
    """Applies verified Page webhook bodies: stores new items, purges removed ones."""

    source_type = "facebook"

    def sources_for(self, page_id: str) -> list[Any]:
        """Built `facebook` sources listening to `page_id` (one per configured source)."""
        return list(self.sources(lambda cfg: str(cfg.options.get("page_id")) == page_id))

    def apply(self, data: Mapping[str, Any]) -> dict[str, int]:
        counts = {"stored": 0, "purged": 0, "ignored": 0}
        if data.get("object") != "page":
            counts["ignored"] += 1
            return counts
        for entry in data.get("entry") or []:
            if not isinstance(entry, Mapping):
                counts["ignored"] += 1
                continue
            sources = self.sources_for(str(entry.get("id") or ""))
            changes = [c for c in entry.get("changes") or [] if isinstance(c, Mapping)]
            if not sources:
                counts["ignored"] += len(changes) or 1
                continue
            for source in sources:
                new: list[Mention] = []
                for change in changes:
                    value = change.get("value")
                    if not isinstance(value, Mapping) or change.get("field") not in ("feed", "mention"):
                        counts["ignored"] += 1
                        continue
                    item_id = str(value.get("comment_id") or value.get("post_id") or "")
                    if value.get("verb") == "remove":
                        counts["purged"] += self.purge(source.name, item_id, PURGE_REASON)
                        continue
                    mention = self.mention(source, change["field"], value)
                    if mention is None:
                        counts["ignored"] += 1
                    else:
                        new.append(mention)
                if new:
                    counts["stored"] += self.store(source.name, new)
        return counts

    @staticmethod
    def mention(source: FacebookSource, field: str, value: Mapping[str, Any]) -> Mention | None:
        if field == "mention":
            if not isinstance(value.get("message"), str):
                return None  # a bare notice: the `tagged` poll reads the post itself
            value = {
                **value,
                "from": {"id": value.get("sender_id"), "name": value.get("sender_name")},
                "item": "comment" if value.get("item") == "comment" else "mention",
            }
        try:
            mention = source.mention_from_webhook(value)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("facebook webhook: unreadable change for %s: %s", source.name, exc)
            return None
        if mention is not None and field == "mention" and mention.extra.get("kind") == "visitor_post":
            mention.extra["kind"] = "mention"
        return mention

def make_facebook_router(engine: Engine, rules: Callable[[], RulesConfig], env: Mapping[str, str]) -> APIRouter:
    """The `/hooks/facebook` routes; `env` holds FACEBOOK_APP_SECRET and FACEBOOK_VERIFY_TOKEN
    (and the Page token the sources need)."""
    router = APIRouter(prefix="/hooks", tags=["webhooks"])
    hook = FacebookHook(engine, rules, env)

    @router.get("/facebook", summary="Facebook webhook subscription check")
    async def challenge(request: Request) -> Response:
        token = env.get(VERIFY_ENV)
        if not token:
            return JSONResponse({"detail": f"Facebook webhooks are off: {VERIFY_ENV} is not set"}, 503)
        query = request.query_params
        given = query.get("hub.verify_token") or ""
        if query.get("hub.mode") != "subscribe" or not hmac.compare_digest(given.encode(), token.encode()):
            return JSONResponse({"detail": "wrong hub.mode or hub.verify_token"}, 403)
        return PlainTextResponse(query.get("hub.challenge") or "")

    @router.post("/facebook", summary="Facebook Page webhook (X-Hub-Signature-256 signed)")
    async def receive(request: Request) -> JSONResponse:
        data = await signed_json(request, env, SECRET_ENV, SIGNATURE, "Facebook", MAX_BODY)
        if isinstance(data, JSONResponse):
            return data
        counts = await run_in_threadpool(hook.apply, data)
        return JSONResponse({"ok": True, **counts})

    return router
