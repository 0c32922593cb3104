"""Merging and splitting cases by hand (the machine's grouping, `listener.cases`, is a
guess; an agent who knows better corrects it). Both are audited on every escalation they
move, with who and from which case.

    merge  this escalation's case into case N: every post moves to N; if both cases are
           being worked, this case's head is closed into N's (one queue item remains)
    split  this post out into a case of its own; a post that had been closed into the
           case's head is opened again as the new case's queue item

Tickets already created at the sinks stay as they are: a merge does not join two tickets
and a split does not open one (the follow-up's comment is already on the old ticket);
posts that reach a sink after the change follow the new grouping.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from console.web.actions import Conflict, Invalid, NotFound, _require
from console.web.auth import Principal, audit
from storage.console_models import Role
from storage.dialect import table
from storage.engine import session_scope
from storage.models import CareCase, Escalation, EscalationStatus, Mention
from storage.types import utcnow

ET, CT, MT = table(Escalation), table(CareCase), table(Mention)  # type: ignore[attr-defined]
ACTIVE = (EscalationStatus.open.value, EscalationStatus.claimed.value)


def _case_of(session: Session, escalation_id: int) -> tuple[Escalation, CareCase]:
    esc = session.get(Escalation, escalation_id)
    if esc is None:
        raise NotFound(f"no escalation {escalation_id}")
    if esc.case_id is None or (case := session.get(CareCase, esc.case_id)) is None:
        raise Conflict("this escalation is not part of a case")
    return esc, case


def _recount(session: Session, case_id: int) -> None:
    """size and urgency from the case's escalations; status from its head."""
    size, urgency = session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.max(ET.c.urgency), 0))
        .where(ET.c.case_id == case_id)).one()
    case = session.get(CareCase, case_id)
    assert case is not None
    case.size, case.urgency = int(size), int(urgency)
    head = session.get(Escalation, case.head_escalation_id) if case.head_escalation_id else None
    if case.size == 0 or head is None or head.case_id != case_id:
        case.head_escalation_id = None
        case.status = "resolved"  # type: ignore[assignment]
        case.resolved_at = case.resolved_at or utcnow()
    else:
        active = str(head.status) in ACTIVE
        case.status = ("open" if active else "resolved")  # type: ignore[assignment]
        case.resolved_at = None if active else (case.resolved_at or utcnow())
    session.add(case)


def merge(engine: Engine, actor: Principal, escalation_id: int, into: str) -> int:
    """Move every post of this escalation's case into case `into`; returns `into`."""
    _require(actor, Role.agent, "merge cases")
    if not into.strip().lstrip("#").isdigit():
        raise Invalid("give the number of the case to merge into")
    target_id = int(into.strip().lstrip("#"))
    with session_scope(engine) as session:
        esc, case = _case_of(session, escalation_id)
        target = session.get(CareCase, target_id)
        if target is None:
            raise Invalid(f"there is no case {target_id}")
        if target.id == case.id:
            raise Invalid("that is this escalation's own case")
        moved = list(session.execute(sa.select(ET.c.id).where(ET.c.case_id == case.id)).scalars())
        session.execute(ET.update().where(ET.c.case_id == case.id).values(case_id=target.id))
        head = session.get(Escalation, case.head_escalation_id) if case.head_escalation_id else None
        target_head = (session.get(Escalation, target.head_escalation_id)
                       if target.head_escalation_id else None)
        session.expire_all()
        if head is not None and str(head.status) in ACTIVE:
            if target_head is not None and str(target_head.status) in ACTIVE:
                session.execute(ET.update().where(ET.c.id == head.id).values(
                    status="resolved", resolved_at=utcnow(), updated_at=utcnow(),
                    follow_up_of=target_head.id,
                    resolution=f"Merged into case {target.id}: handled with escalation "
                               f"#{target_head.id}"))
            else:  # the target case was closed: the merged-in active item becomes its head
                session.execute(CT.update().where(CT.c.id == target.id).values(
                    head_escalation_id=head.id))
        _recount(session, target_id)
        _recount(session, int(case.id or 0))
        for eid in moved:
            audit(session, actor.username, "case.merged", "escalation", eid,
                  from_case=case.id, into_case=target_id)
        return target_id


def split(engine: Engine, actor: Principal, escalation_id: int) -> int:
    """Take this post out of its case into a new one; returns the new case id."""
    _require(actor, Role.agent, "split cases")
    with session_scope(engine) as session:
        esc, case = _case_of(session, escalation_id)
        if case.size <= 1:
            raise Conflict("this post is the only one in its case")
        mention = session.get(Mention, esc.mention_id)
        new = CareCase(author_id=mention.author_id if mention else None,
                       conversation_id=mention.conversation_id if mention else None,
                       head_escalation_id=esc.id, size=1, urgency=esc.urgency,
                       updated_at=mention.created_at if mention else utcnow())
        session.add(new)
        session.flush()
        values: dict[str, object] = {"case_id": new.id, "updated_at": utcnow(), "follow_up_of": None}
        if str(esc.status) not in ACTIVE and esc.follow_up_of is not None:  # closed into the old case
            values |= {"status": "open", "resolved_at": None, "resolution": None,
                       "assignee": None}
        session.execute(ET.update().where(ET.c.id == esc.id).values(**values))
        if case.head_escalation_id == esc.id:  # the case needs another head: its latest post
            other = session.execute(sa.select(ET.c.id).where(ET.c.case_id == case.id)
                                    .order_by(ET.c.id.desc()).limit(1)).scalar()
            session.execute(CT.update().where(CT.c.id == case.id).values(head_escalation_id=other))
        session.expire_all()
        new_id = int(new.id or 0)
        _recount(session, new_id)
        _recount(session, int(case.id or 0))
        audit(session, actor.username, "case.split", "escalation", esc.id,
              from_case=case.id, into_case=new_id)
        return new_id
