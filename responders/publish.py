"""Reply publishing: an approved reply goes back to the platform, once, through the outbox.

Why through the outbox and not straight from the console request: the reply is recorded
and queued in ONE transaction with the escalation's reply fields and an audit event, so an
approved reply is never lost (a platform outage or a restart just delays it), and the
outbox worker's retries, backoff and dead-letter apply to replies exactly as to tickets.

    console ── ReplyPublisher.publish(escalation_id, text, actor)
      refuse before anything is stored:
        publishing off for the source ──────► PublishingOff (NotConfigured)
            "publishing is off for source 'x-main': set publish_replies: true"
        source type cannot post / write
          credentials missing ──────────────► PublishingOff naming what is missing
        longer than the platform allows ────► ReplyTooLong (PermanentError) with the count
        the post was deleted, or a reply was
          already queued or published ──────► PermanentError
      else ONE transaction: escalation.reply_text/reply_by, replied_at (first time only:
        it is the first-response time), outbox row kind="reply", audit "reply.queued"
    outbox worker ── deliver_reply(...) ── responders/publishers/<platform>.py
        posts once (a retry looks for our earlier reply first), then the worker stores
        escalation.reply_external_id and audits "reply.published".

Publishing is never automatic: besides an agent's approval, only a route with
`publish: true` on a source with `publish_replies: true` queues the suggested reply, via
`enqueue_auto_reply(conn, rules, escalation_id)`, which the pipeline calls inside its
batch transaction through `PipelineResponders` (listener.replies.Responders, injected by
the console: the listener does not import responders).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from responders.publishers import (
    PlatformPublisher,
    ReplyJob,
    build_publisher,
    can_publish,
    missing_credentials,
    supported,
)
from responders.replies import PLATFORM_NAMES, check_reply_length, render_reply
from responders.types import DeliveryResult
from socialear.config import RulesConfig, SourceConfig
from socialear.errors import NotConfigured, PermanentError
from storage import replies
from storage.audit import audit
from storage.engine import Connection, Engine
from storage.replies import ReplyTarget
from storage.types import utcnow

log = logging.getLogger(__name__)

AUTO_ACTOR = "system:auto-reply"


class PublishingOff(NotConfigured):
    """Replies cannot be posted for this source: off in the rules, or no write credentials."""


class Publishers:
    """Platform publishers per source, built from the rules and the environment; a source
    whose config changed gets a fresh publisher. Thread-safe."""

    def __init__(
        self,
        rules: Callable[[], RulesConfig],
        env: Mapping[str, str] | None = None,
        clients: Mapping[str, Any] | None = None,
    ):
        self._rules = rules
        self.env: Mapping[str, str] = os.environ if env is None else env
        self._clients = dict(clients or {})
        self._built: dict[str, tuple[SourceConfig, PlatformPublisher]] = {}
        self._lock = threading.Lock()

    def check(self, source: str) -> SourceConfig:
        """The source's config if replies may be posted there; else PublishingOff with why."""
        cfg = self._rules().source(source)
        if cfg is None:
            raise PublishingOff(f"publishing is off: no source named {source!r} in the rules")
        if not cfg.publish_replies:
            raise PublishingOff(f"publishing is off for source {source!r}: set publish_replies: true")
        if not can_publish(cfg.type):
            raise PublishingOff(
                f"publishing is off for source {source!r}: a {cfg.type!r} source cannot post; "
                f"socialear publishes replies on {supported()} only"
            )
        if source not in self._clients:
            missing = missing_credentials(cfg.type, self.env)
            if missing:
                raise PublishingOff(
                    f"publishing is off for source {source!r}: write credentials {', '.join(missing)} not set"
                )
        return cfg

    def get(self, source: str) -> PlatformPublisher:
        cfg = self.check(source)
        with self._lock:
            cached = self._built.get(source)
            if cached is not None and cached[0] == cfg:
                return cached[1]
            try:
                publisher = build_publisher(source, cfg.type, self.env, self._clients.get(source))
            except NotConfigured as exc:
                raise PublishingOff(f"publishing is off for source {source!r}: {exc}") from exc
            self._built[source] = (cfg, publisher)
            return publisher


def reply_key(escalation_key: str) -> str:
    """The reply row's idempotency key, derived from the escalation's."""
    return f"reply-{escalation_key}"


def load_target(conn: Connection, escalation_id: int) -> ReplyTarget:
    found = replies.target(conn, escalation_id)
    if found is None:
        raise PermanentError(f"no escalation #{escalation_id}")
    return found


def _audit(conn: Connection, actor: str, action: str, escalation_id: int, now: datetime, **details: Any) -> None:
    audit(conn, actor, action, "escalation", escalation_id, at=now, **details)


def enqueue_reply(conn: Connection, target: ReplyTarget, text: str, actor: str, now: datetime | None = None) -> int:
    """Record the approved reply and queue its outbox row, on the caller's transaction.

    One public reply per escalation: refused while one is queued or once one is published;
    a dead-lettered reply row is re-armed with the new text. Returns the outbox row id.
    """
    now = now or utcnow()
    if target.deleted:
        raise PermanentError("the post was deleted on the platform: there is nothing to reply to")
    job = ReplyJob(
        key=reply_key(target.idempotency_key), source=target.source, platform=target.platform,
        in_reply_to=target.external_id, text=text, actor=actor, escalation_id=target.escalation_id,
        conversation_id=target.conversation_id,
    )
    existing = replies.existing_reply(conn, target.escalation_id)
    if existing is not None:
        state = existing.state
        if state == "sent":
            raise PermanentError(f"a reply to this post was already published ({existing.external_ref})")
        if state != "dead":
            raise PermanentError(f"a reply to this post is already queued (outbox #{existing.id}, {state})")
        if not replies.rearm(conn, existing.id, job.to_payload(), now):
            raise PermanentError("a reply to this post was queued meanwhile")
        outbox_id = existing.id
    else:
        try:  # a concurrent approval loses on the (escalation_id, sink, kind) unique key
            outbox_id = replies.queue(conn, target, job.key, job.to_payload(), now)
        except replies.ReplyConflict:  # the caller's transaction rolls back; nothing half-done
            raise PermanentError("a reply to this post was queued meanwhile") from None
    replies.record_text(conn, target.escalation_id, text, actor, now)
    _audit(conn, actor, "reply.queued", target.escalation_id, now, outbox_id=outbox_id, source=target.source,
           platform=target.platform, in_reply_to=target.external_id, length=len(text))
    return outbox_id


class ReplyPublisher:
    """What the console calls when an agent approves a reply (`publish(id, text, actor)`)."""

    def __init__(
        self,
        engine: Engine,
        rules: Callable[[], RulesConfig],
        *,
        env: Mapping[str, str] | None = None,
        clients: Mapping[str, Any] | None = None,
        publishers: Publishers | None = None,
    ):
        self.engine = engine
        self.publishers = publishers or Publishers(rules, env, clients)

    def publish(self, escalation_id: int, text: str, actor: str) -> str:
        """Check, record and queue the reply; returns a status line for the agent.

        The platform's id of the reply is stored in escalation.reply_external_id by the
        outbox worker once it is posted (usually within a second).
        """
        text = text.replace("\r\n", "\n").strip()
        if not text:
            raise PermanentError("the reply is empty")
        with self.engine.begin() as conn:
            target = load_target(conn, escalation_id)
            self.publishers.check(target.source)
            check_reply_length(text, target.platform)
            outbox_id = enqueue_reply(conn, target, text, actor)
        where = PLATFORM_NAMES.get(target.platform, target.platform)
        return f"queued: reply #{outbox_id} will be posted on {where} in reply to {target.external_id}"


def enqueue_auto_reply(
    conn: Connection,
    rules: RulesConfig,
    escalation_id: int,
    *,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> int | None:
    """Queue the suggested reply of a route with `publish: true`, inside the caller's transaction.

    For the pipeline: call it for each new escalation right after inserting it (same
    `conn`, same transaction). Never raises for a reply that may not go out: it returns
    None and audits "reply.auto_skipped" with the reason (source not publishing, no
    credentials, no suggested reply, too long). Returns the outbox row id when queued.
    """
    target = load_target(conn, escalation_id)
    route = next((r for r in rules.routes if r.name == target.route), None)
    if route is None or not route.publish:
        return None
    now = now or utcnow()
    env = os.environ if env is None else env
    cfg = rules.source(target.source)
    reason: str | None = None
    if cfg is None or not cfg.publish_replies:
        reason = f"publishing is off for source {target.source!r}: set publish_replies: true"
    elif not can_publish(cfg.type):
        reason = f"a {cfg.type!r} source cannot post replies"
    elif missing := missing_credentials(cfg.type, env):
        reason = f"write credentials {', '.join(missing)} not set"
    elif not target.suggested_reply.strip():
        reason = "the route has no suggested reply"
    else:
        try:
            check_reply_length(target.suggested_reply, target.platform)
            return enqueue_reply(conn, target, target.suggested_reply.strip(), AUTO_ACTOR, now)
        except PermanentError as exc:
            reason = str(exc)
    _audit(conn, AUTO_ACTOR, "reply.auto_skipped", escalation_id, now, route=target.route, reason=reason)
    log.info("escalation %d: auto-reply skipped: %s", escalation_id, reason)
    return None


class PipelineResponders:
    """responders' side of `listener.replies.Responders`: the suggested reply rendered
    (sandboxed, fitted to the platform) and auto-replies queued, in the pipeline's batch
    transaction. Stateless, so it pickles by reference (the prescoring worker renders
    with `render_reply` too)."""

    render_reply = staticmethod(render_reply)

    @staticmethod
    def queue_auto_replies(conn: Connection, rules: RulesConfig, escalation_ids: Sequence[int]) -> None:
        for escalation_id in escalation_ids:
            enqueue_auto_reply(conn, rules, escalation_id)


def deliver_reply(engine: Engine, publishers: Publishers, key: str, payload: Mapping[str, Any], attempt: int) -> DeliveryResult:
    """Post one queued reply (the outbox worker's `kind="reply"` path)."""
    job = ReplyJob.from_payload(key, payload)
    if replies.post_deleted(engine, job.escalation_id):
        raise PermanentError("the post was deleted on the platform before the reply went out")
    return publishers.get(job.source).post(job, attempt=attempt)


def record_published(conn: Connection, escalation_id: int, result: DeliveryResult, payload: Mapping[str, Any]) -> None:
    """Store the platform's id of the reply and audit it (the worker's success path)."""
    now = utcnow()
    replies.record_published(conn, escalation_id, result.external_ref, now)
    _audit(conn, "system", "reply.published", escalation_id, now, external_id=result.external_ref, url=result.url,
           created=result.created, approved_by=payload.get("actor"), source=payload.get("source"))
