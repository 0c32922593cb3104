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

from console.web.actions import Conflict, Invalid, NotFound, _require
from console.web.auth import Principal
from storage import case_edits
from storage.audit import audit
from storage.console_models import Role
from storage.engine import Engine, Session, session_scope
from storage.models import CareCase, Escalation
from storage.queue import load


def _case_of(session: Session, escalation_id: int) -> tuple[Escalation, CareCase]:
    esc = load(session, escalation_id)
    if esc is None:
        raise NotFound(f"no escalation {escalation_id}")
    if esc.case_id is None or (case := case_edits.get_case(session, esc.case_id)) is None:
        raise Conflict("this escalation is not part of a case")
    return esc, case


def merge(engine: Engine, actor: Principal, escalation_id: int, into: str) -> int:
    """Move every post of this escalation's case into case `into`; returns `into`."""
    _require(actor, Role.agent, "merge cases")
    if not into.strip().lstrip("#").isdigit():
        raise Invalid("give the number of the case to merge into")
    target_id = int(into.strip().lstrip("#"))
    with session_scope(engine) as session:
        _esc, case = _case_of(session, escalation_id)
        target = case_edits.get_case(session, target_id)
        if target is None:
            raise Invalid(f"there is no case {target_id}")
        if target.id == case.id:
            raise Invalid("that is this escalation's own case")
        moved = case_edits.merge(session, case, target)
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
        new_id = case_edits.split(session, esc, case)
        audit(session, actor.username, "case.split", "escalation", esc.id,
              from_case=case.id, into_case=new_id)
        return new_id
