"""What the platform webhooks (`/hooks/facebook`, `/hooks/discourse`) share: the
HMAC-SHA256 body signature both platforms send as `sha256=<hex>`, the configured sources a
delivery is for (built once per configuration), storing pushed items through the same
pipeline as a polled batch, and purging a deleted item.

Why through the pipeline: a pushed item is scored, routed, grouped into cases and
de-duplicated on (source, external_id) exactly like a polled one, so the poll that reads
it later stores nothing twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from console.web.webhooks import bounded_body
from listener.pipeline import Pipeline
from listener.sources import build_source
from listener.types import Batch, Mention
from responders.publish import PipelineResponders
from socialear.config import RulesConfig, SourceConfig
from socialear.errors import NotConfigured
from storage.engine import Engine, session_scope
from storage.ingest import CursorConflict
from storage.repo import purge_by_external_id
from storage.sources import get_cursor

log = logging.getLogger(__name__)

STORE_ATTEMPTS = 3  # a poll of the same source may move its cursor meanwhile
MAX_BODY = 1 << 20


def signature(secret: str, body: bytes) -> str:
    """`sha256=` and the hex HMAC-SHA256 of the raw body keyed by `secret` (Meta's
    X-Hub-Signature-256 and Discourse's X-Discourse-Event-Signature)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(signature(secret, body), given or "")


async def signed_json(request: Request, env: Mapping[str, str], secret_env: str, header: str,
                      platform: str, max_body: int = MAX_BODY) -> dict[str, Any] | JSONResponse:
    """The delivery's JSON object, or the answer refusing it: 503 when `secret_env` is
    not set, 413 over `max_body`, 401 when `header` is not the body's signature (checked
    before the JSON is read), 400 when the body is not a JSON object."""
    secret = env.get(secret_env)
    if not secret:
        return JSONResponse({"detail": f"{platform} webhooks are off: {secret_env} is not set"}, 503)
    body = await bounded_body(request, max_body)
    if isinstance(body, JSONResponse):
        return body
    if not verify(secret, body, request.headers.get(header)):
        return JSONResponse({"detail": f"missing or wrong {header}"}, 401)
    try:
        data = json.loads(body)
    except ValueError:
        return JSONResponse({"detail": "body is not JSON"}, 400)
    if not isinstance(data, dict):
        return JSONResponse({"detail": "body is not a JSON object"}, 400)
    return data


class SourceHook:
    """Applies verified deliveries for the configured sources of one type."""

    source_type: str = ""

    def __init__(self, engine: Engine, rules: Callable[[], RulesConfig], env: Mapping[str, str]):
        self.engine = engine
        self.rules = rules
        self.env = env
        self.pipeline = Pipeline(engine, rules, responders=PipelineResponders())
        self._sources: dict[str, tuple[Any, Any]] = {}

    def sources(self, wanted: Callable[[SourceConfig], bool]) -> Iterator[Any]:
        """Built, enabled sources of this type whose configuration `wanted` accepts."""
        rules = self.rules()
        for cfg in rules.sources:
            if cfg.type != self.source_type or not cfg.enabled or not wanted(cfg):
                continue
            cached = self._sources.get(cfg.name)
            if cached is None or cached[0] != cfg:
                brands = [b for b in rules.brands if cfg.brands is None or b.name in cfg.brands]
                try:
                    source = build_source(cfg.name, cfg.type, cfg.options, env=self.env, brands=brands)
                except NotConfigured as exc:
                    log.warning("%s webhook: source %s is off: %s", self.source_type, cfg.name, exc)
                    continue
                cached = (cfg, source)
                self._sources[cfg.name] = cached
            yield cached[1]

    def store(self, source: str, mentions: list[Mention],
              advance: Callable[[str | None], str | None] | None = None) -> int:
        """Through the pipeline. The source's cursor stays where the poller put it, or
        moves to `advance(cursor)` in the same transaction (retried when a poll moved it)."""
        for attempt in range(STORE_ATTEMPTS):
            with self.engine.connect() as conn:
                cursor = get_cursor(conn, source)
            batch = Batch(mentions=list(mentions), next_cursor=advance(cursor) if advance else None,
                          stats={"webhook/received": len(mentions)})
            try:
                return self.pipeline.process(source, batch, cursor).stored
            except CursorConflict:
                if attempt == STORE_ATTEMPTS - 1:
                    raise
        return 0

    def purge(self, source: str, external_id: str, reason: str) -> int:
        """Purge a stored item's content everywhere (storage.repo.purge_mention_content)."""
        with session_scope(self.engine) as session:
            return int(purge_by_external_id(session, source, external_id, reason))
