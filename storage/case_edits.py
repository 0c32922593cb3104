"""Agents' edits of care cases: merge one case into another, split a post out of its
case. The console (`console.web.case_actions`) checks roles and input and audits; these
change the rows on the caller's Session and keep each case's size, urgency, head and
status consistent with its escalations.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session

from storage.dialect import table
from storage.models import CareCase, CaseStatus, Escalation, EscalationStatus, Mention
from storage.types import utcnow

ET, CT = table(Escalation), table(CareCase)
ACTIVE = (EscalationStatus.open.value, EscalationStatus.claimed.value)


def get_case(session: Session, case_id: int) -> CareCase | None:
    return session.get(CareCase, case_id)


def recount(session: Session, case_id: int) -> None:
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
        case.status = CaseStatus.resolved
        case.resolved_at = case.resolved_at or utcnow()
    else:
        active = str(head.status) in ACTIVE
        case.status = CaseStatus.open if active else CaseStatus.resolved
        case.resolved_at = None if active else (case.resolved_at or utcnow())
    session.add(case)


def merge(session: Session, case: CareCase, target: CareCase) -> list[int]:
    """Move every post of `case` into `target`; returns the ids of the moved escalations.

    An active head of `case` is resolved as a follow-up of the target's active head, or
    becomes the target's head when the target was closed.
    """
    target_id = int(target.id or 0)
    moved = list(session.execute(sa.select(ET.c.id).where(ET.c.case_id == case.id)).scalars())
    session.execute(ET.update().where(ET.c.case_id == case.id).values(case_id=target_id))
    head = session.get(Escalation, case.head_escalation_id) if case.head_escalation_id else None
    target_head = (session.get(Escalation, target.head_escalation_id)
                   if target.head_escalation_id else None)
    session.expire_all()
    if head is not None and str(head.status) in ACTIVE:
        if target_head is not None and str(target_head.status) in ACTIVE:
            session.execute(ET.update().where(ET.c.id == head.id).values(
                status="resolved", resolved_at=utcnow(), updated_at=utcnow(),
                follow_up_of=target_head.id,
                resolution=f"Merged into case {target_id}: handled with escalation "
                           f"#{target_head.id}"))
        else:  # the target case was closed: the merged-in active item becomes its head
            session.execute(CT.update().where(CT.c.id == target_id).values(
                head_escalation_id=head.id))
    recount(session, target_id)
    recount(session, int(case.id or 0))
    return [int(i) for i in moved]


def split(session: Session, esc: Escalation, case: CareCase) -> int:
    """Take `esc` out of `case` into a new case of its own; returns the new case's id.

    A post that was closed into the old case as a follow-up opens again.
    """
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
    recount(session, new_id)
    recount(session, int(case.id or 0))
    return new_id
