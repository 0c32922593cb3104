"""What agents do to an escalation, shared by the HTML pages and the JSON API.

Each action checks the caller's role, then changes the row with a *guarded* UPDATE
(`WHERE status = <read> AND assignee = <read>`): if someone else changed the escalation
between our read and our write, the update touches no row and the action fails with
`Conflict` instead of silently overwriting them. Every action writes an audit event in
the same transaction.

Collision rule: an escalation claimed by someone else cannot be claimed, replied to,
resolved or dismissed until the caller takes it over explicitly (`take_over`), which is
recorded with the previous holder.

    role check fails ──► Forbidden (403)     unknown id ──► NotFound (404)
    state/holder     ──► Conflict (409)      bad input  ──► Invalid (422)
    publisher raised ──► PublishFailed (502; the reply is kept as a draft in the audit)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from console.web.auth import Principal
from listener import cases
from listener.types import storable_text
from responders.replies import ReplyTooLong, check_reply_length
from socialear.errors import NotConfigured
from storage import queue as care_queue
from storage.audit import audit
from storage.console_models import Role
from storage.engine import Engine, Session, session_scope
from storage.models import Escalation, EscalationStatus, Label
from storage.queue import assignable_users
from storage.types import utcnow

NOTE_MAX = 4000
DISMISS_REASONS: dict[str, str] = {
    "not_a_complaint": "Not a complaint",
    "wrong_sentiment": "Wrong sentiment",
    "wrong_category": "Wrong category",
    "spam": "Spam",
    "correct": "Correct, but no action needed",
}


class Publisher(Protocol):
    """Posts an approved reply on the platform; returns the platform's id for it."""

    def publish(self, escalation_id: int, text: str, actor: str) -> str: ...


class ActionError(Exception):
    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(ActionError):
    status = 404


class Forbidden(ActionError):
    status = 403


class Conflict(ActionError):
    status = 409


class Invalid(ActionError):
    status = 422


class PublishFailed(ActionError):
    status = 502


def _storable(text: str, what: str) -> str:
    """An agent's text, refused (422) if it holds a NUL or half an emoji: PostgreSQL and the
    platforms cannot take them, and the agent can fix the text (a source's text is
    repaired instead, see `listener.types.storable_text`)."""
    if storable_text(text) != text:
        raise Invalid(f"the {what} contains a NUL or a broken character (half an emoji); remove it and try again")
    return text


def _require(actor: Principal, role: Role, what: str) -> None:
    if not actor.can(role):
        raise Forbidden(f"{actor.role.value}s cannot {what}")


def _load(session: Session, escalation_id: int) -> Escalation:
    esc = care_queue.load(session, escalation_id)
    if esc is None:
        raise NotFound(f"no escalation {escalation_id}")
    return esc


def _guarded_update(session: Session, esc: Escalation, **values: Any) -> None:
    """UPDATE the row only if status and assignee are still what we read."""
    if not care_queue.guarded_update(session, esc, **values):
        raise Conflict("someone else changed this escalation just now; reload and try again")


def _is_active(esc: Escalation) -> bool:
    return str(esc.status) in (EscalationStatus.open.value, EscalationStatus.claimed.value)


def _check_holder(esc: Escalation, actor: Principal, what: str) -> None:
    """Refuse to act on an item someone else holds (take it over first)."""
    if not _is_active(esc):
        raise Conflict(f"cannot {what}: the escalation is already {esc.status}")
    if str(esc.status) == EscalationStatus.claimed.value and esc.assignee != actor.username:
        raise Conflict(f"cannot {what}: {esc.assignee} is working on this; take it over first")


def _act(engine: Engine, escalation_id: int, fn: Callable[[Session, Escalation], None]) -> Escalation:
    with session_scope(engine) as session:
        esc = _load(session, escalation_id)
        fn(session, esc)
    with session_scope(engine) as session:
        return _load(session, escalation_id)


def claim(engine: Engine, actor: Principal, escalation_id: int, take_over: bool = False
          ) -> Escalation:
    """Claim an open escalation; with `take_over`, also one somebody else holds."""
    _require(actor, Role.agent, "claim escalations")

    def do(session: Session, esc: Escalation) -> None:
        if not _is_active(esc):
            raise Conflict(f"cannot claim: the escalation is already {esc.status}")
        if str(esc.status) == EscalationStatus.claimed.value:
            if esc.assignee == actor.username:
                return  # already mine: claiming twice is harmless
            if not take_over:
                raise Conflict(f"{esc.assignee} is working on this; take it over to claim it")
            _guarded_update(session, esc, assignee=actor.username, claimed_at=utcnow())
            audit(session, actor.username, "escalation.taken_over", "escalation", esc.id,
                  previous=esc.assignee)
            return
        _guarded_update(session, esc, status=EscalationStatus.claimed.value,
                        assignee=actor.username, claimed_at=utcnow())
        audit(session, actor.username, "escalation.claimed", "escalation", esc.id)

    return _act(engine, escalation_id, do)


def release(engine: Engine, actor: Principal, escalation_id: int) -> Escalation:
    """Give a claimed escalation back to the queue (holder, or a lead)."""
    _require(actor, Role.agent, "release escalations")

    def do(session: Session, esc: Escalation) -> None:
        if str(esc.status) != EscalationStatus.claimed.value:
            raise Conflict("cannot release: nobody holds this escalation")
        if esc.assignee != actor.username and not actor.can(Role.lead):
            raise Conflict(f"cannot release: {esc.assignee} is working on this")
        _guarded_update(session, esc, status=EscalationStatus.open.value, assignee=None,
                        claimed_at=None)
        audit(session, actor.username, "escalation.released", "escalation", esc.id,
              previous=esc.assignee)

    return _act(engine, escalation_id, do)


def assign(engine: Engine, actor: Principal, escalation_id: int, assignee: str | None
           ) -> Escalation:
    """A lead hands an escalation to someone (or back to the queue with None)."""
    _require(actor, Role.lead, "assign escalations")
    assignee = _storable((assignee or "").strip(), "assignee") or None

    def do(session: Session, esc: Escalation) -> None:
        if not _is_active(esc):
            raise Conflict(f"cannot assign: the escalation is already {esc.status}")
        if assignee is not None and assignee not in assignable_users(session):
            raise Invalid(f"{assignee!r} is not an agent or lead who can take escalations")
        if assignee == esc.assignee:
            return
        if assignee is None:
            _guarded_update(session, esc, status=EscalationStatus.open.value, assignee=None,
                            claimed_at=None)
        else:
            _guarded_update(session, esc, status=EscalationStatus.claimed.value,
                            assignee=assignee, claimed_at=utcnow())
        audit(session, actor.username, "escalation.assigned", "escalation", esc.id,
              assignee=assignee, previous=esc.assignee)

    return _act(engine, escalation_id, do)


def reply(engine: Engine, actor: Principal, escalation_id: int, text: str,
          publisher: Publisher | None = None) -> Escalation:
    """Store the agent's reply; publish it when a publisher is configured.

    Without a publisher the reply is stored for the agent to copy and send by hand.
    An unclaimed escalation is claimed by the replying agent first (recorded).
    """
    _require(actor, Role.agent, "reply")
    text = _storable(text.replace("\r\n", "\n").strip(), "reply")
    if not text:
        raise Invalid("the reply is empty")
    with session_scope(engine) as session:
        esc = _load(session, escalation_id)
        _check_holder(esc, actor, "reply")
        mention = care_queue.mention_of(session, esc)
        platform = mention.platform if mention else ""
        try:
            check_reply_length(text, platform)
        except ReplyTooLong as exc:
            raise Invalid(str(exc)) from None
        if str(esc.status) == EscalationStatus.open.value:
            _guarded_update(session, esc, status=EscalationStatus.claimed.value,
                            assignee=actor.username, claimed_at=utcnow())
            audit(session, actor.username, "escalation.claimed", "escalation", esc.id,
                  via="reply")
    manual_reason: str | None = None
    if publisher is not None:
        try:
            status = publisher.publish(escalation_id, text, actor.username)
        except NotConfigured as exc:  # publishing is off for this source, or no write credentials
            manual_reason = str(exc)
        except Exception as exc:  # noqa: BLE001 - any failure is reported, the draft kept
            with session_scope(engine) as session:
                audit(session, actor.username, "escalation.reply_failed", "escalation",
                      escalation_id, error=str(exc)[:500], draft=text)
            raise PublishFailed(f"publishing the reply failed: {exc}") from None
        else:
            # The publisher stored the reply (first-response time included) and queued it;
            # the outbox worker records the platform's reply id once it is posted.
            with session_scope(engine) as session:
                audit(session, actor.username, "escalation.replied", "escalation", escalation_id,
                      published="queued", status=status, length=len(text))
            with session_scope(engine) as session:
                return _load(session, escalation_id)
    with session_scope(engine) as session:
        esc = _load(session, escalation_id)
        _check_holder(esc, actor, "reply")
        # replied_at is the first-response time: a later edit does not move it
        _guarded_update(session, esc, reply_text=text, replied_at=esc.replied_at or utcnow(),
                        reply_by=actor.username)
        audit(session, actor.username, "escalation.replied", "escalation", esc.id,
              published=False, reason=manual_reason or "no publisher", length=len(text))
    with session_scope(engine) as session:
        return _load(session, escalation_id)


def resolve(engine: Engine, actor: Principal, escalation_id: int, resolution: str = "",
            label: str | None = None) -> Escalation:
    """Close an escalation as handled; `label` judges the machine's decision."""
    _require(actor, Role.agent, "resolve escalations")
    resolution = _storable(resolution.strip()[:NOTE_MAX], "resolution")
    lab = _label(label) if label else Label.correct

    def do(session: Session, esc: Escalation) -> None:
        _check_holder(esc, actor, "resolve")
        _guarded_update(session, esc, status=EscalationStatus.resolved.value,
                        assignee=esc.assignee or actor.username, resolved_at=utcnow(),
                        resolution=resolution or None, label=lab.value)
        audit(session, actor.username, "escalation.resolved", "escalation", esc.id,
              label=lab.value, resolution=resolution or None)
        cases.sync_status(session.connection(), int(esc.id or 0), utcnow())

    return _act(engine, escalation_id, do)


def dismiss(engine: Engine, actor: Principal, escalation_id: int, reason: str,
            note: str = "") -> Escalation:
    """Close an escalation as not actionable; the reason feeds scoring quality."""
    _require(actor, Role.agent, "dismiss escalations")
    lab = _label(reason)
    note = _storable(note.strip()[:NOTE_MAX], "note")

    def do(session: Session, esc: Escalation) -> None:
        _check_holder(esc, actor, "dismiss")
        _guarded_update(session, esc, status=EscalationStatus.dismissed.value,
                        assignee=esc.assignee or actor.username, resolved_at=utcnow(),
                        resolution=note or DISMISS_REASONS[lab.value], label=lab.value)
        audit(session, actor.username, "escalation.dismissed", "escalation", esc.id,
              label=lab.value, note=note or None)
        cases.sync_status(session.connection(), int(esc.id or 0), utcnow())

    return _act(engine, escalation_id, do)


def reopen(engine: Engine, actor: Principal, escalation_id: int) -> Escalation:
    """Put a resolved or dismissed escalation back in the queue."""
    _require(actor, Role.agent, "reopen escalations")

    def do(session: Session, esc: Escalation) -> None:
        if _is_active(esc):
            raise Conflict("cannot reopen: the escalation is still open")
        _guarded_update(session, esc, status=EscalationStatus.open.value, assignee=None,
                        claimed_at=None, resolved_at=None)
        audit(session, actor.username, "escalation.reopened", "escalation", esc.id,
              previous=str(esc.status), label=str(esc.label) if esc.label else None)
        cases.sync_status(session.connection(), int(esc.id or 0), utcnow())

    return _act(engine, escalation_id, do)


def add_note(engine: Engine, actor: Principal, escalation_id: int, text: str) -> None:
    """An internal note (never published), kept in the audit log."""
    _require(actor, Role.agent, "add notes")
    text = _storable(text.strip(), "note")
    if not text:
        raise Invalid("the note is empty")
    if len(text) > NOTE_MAX:
        raise Invalid(f"notes are limited to {NOTE_MAX} characters")
    with session_scope(engine) as session:
        esc = _load(session, escalation_id)
        audit(session, actor.username, "escalation.noted", "escalation", esc.id, note=text)


def _label(value: str) -> Label:
    try:
        return Label(value)
    except ValueError:
        raise Invalid(
            f"reason must be one of {', '.join(m.value for m in Label)}"
        ) from None
