"""JSON API under /api/v1: the queue and the same actions as the pages.

Authenticate with `Authorization: Bearer <token>` (`socialear users token NAME`). A
browser session works too, but then state-changing calls need the `X-CSRF-Token` header.
Errors are `{"detail": "..."}` with 401/403/404/409/422/502.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from console.web import actions
from console.web.actions import NotFound
from console.web.auth import Principal
from console.web.deps import api_care_user, api_csrf_user, api_user, get_ctx
from storage import queue as care_queue
from storage.engine import session_scope
from storage.models import Escalation, Label

router = APIRouter(prefix="/api/v1", tags=["escalations"])


class EscalationSummary(BaseModel):
    id: int
    queue: str
    priority: str
    status: str
    assignee: str | None
    sla_due: datetime | None
    created_at: datetime
    route: str
    source: str
    platform: str
    brand: str | None
    author: str | None
    text: str = Field(description="the mention's text, first 280 characters")
    sentiment: str | None
    urgency: int
    categories: list[str]
    url: str | None
    follow_up_of: int | None = Field(None, description="a follow-up closed into this escalation of its case")


class EscalationPage(BaseModel):
    items: list[EscalationSummary]
    page: int
    per_page: int
    total: int = Field(description="matching escalations; see total_capped")
    total_capped: bool = Field(False, description="true when filters on the mention stopped "
                               "counting at 1000 (total is then a lower bound)")
    has_next: bool


class Escalation_(BaseModel):  # noqa: N801 - the name is the OpenAPI schema's; `Escalation` is the table
    id: int
    mention_id: int
    queue: str
    priority: str
    status: str
    assignee: str | None
    claimed_at: datetime | None
    sla_due: datetime | None
    created_at: datetime
    updated_at: datetime
    route: str
    suggested_reply: str | None
    reply_text: str | None
    replied_at: datetime | None
    reply_by: str | None
    reply_external_id: str | None
    resolved_at: datetime | None
    resolution: str | None
    label: str | None
    follow_up_of: int | None = None  # closed into this head escalation of its case (a follow-up)
    tags: list[str]
    decision: dict[str, Any]
    external_ref: str | None


class EscalationDetail(Escalation_):
    mention: dict[str, Any]
    author: dict[str, Any] | None


class ClaimIn(BaseModel):
    take_over: bool = Field(False, description="take it from the agent holding it (recorded)")


class AssignIn(BaseModel):
    assignee: str | None = Field(None, description="user name; null puts it back in the queue")


class ReplyIn(BaseModel):
    text: str = Field(min_length=1)


class ResolveIn(BaseModel):
    resolution: str = ""
    label: Label = Label.correct


class DismissIn(BaseModel):
    reason: Label
    note: str = ""


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=actions.NOTE_MAX)


class Me(BaseModel):
    username: str
    role: str


def _out(esc: Escalation) -> Escalation_:
    return Escalation_.model_validate(
        {k: getattr(esc, k) for k in Escalation_.model_fields} |
        {"priority": str(esc.priority), "status": str(esc.status),
         "label": str(esc.label) if esc.label else None}
    )


@router.get("/me", response_model=Me, tags=["session"])
def me(user: Principal = Depends(api_user)) -> Me:
    return Me(username=user.username, role=user.role.value)


@router.get("/escalations", response_model=EscalationPage)
def list_escalations(
    request: Request,
    queue: str = "", priority: str = "",
    status: str = Query("active", description="active (open+claimed), open, claimed, "
                        "resolved, dismissed or all"),
    brand: str = "", source: str = "", category: str = "",
    assignee: str = Query("", description="a user name, `me` or `none`"),
    q: str = Query("", description="free text in the mention or the author's handle"),
    page: int = Query(1, ge=1, le=10_000),
    user: Principal = Depends(api_care_user),
) -> EscalationPage:
    """Active escalations, most urgent first, then soonest SLA; 50 per page."""
    f = care_queue.QueueFilters.from_params({
        "queue": queue, "priority": priority, "status": status, "brand": brand,
        "source": source, "category": category, "assignee": assignee, "q": q,
        "page": str(page)})
    with session_scope(get_ctx(request).engine) as session:
        problems = care_queue.filter_problems(session, f, get_ctx(request).rules())
        if problems:
            raise actions.ActionError("; ".join(problems))  # 400
        result = care_queue.queue_page(session, f, user.username)
    items = [EscalationSummary(
        id=r["id"], queue=r["queue"], priority=str(r["priority"]), status=str(r["status"]),
        assignee=r["assignee"], sla_due=r["sla_due"], created_at=r["created_at"],
        route=r["route"], source=r["source"], platform=r["platform"], brand=r["brand"],
        author=r["handle"], text=r["text"], sentiment=r["sentiment_label"],
        urgency=r["urgency"], categories=list(r["categories"] or []), url=r["url"],
        follow_up_of=r["follow_up_of"],
    ) for r in result.rows]
    return EscalationPage(items=items, page=result.page, per_page=care_queue.PAGE_SIZE,
                          total=result.total, total_capped=result.capped,
                          has_next=result.has_next)


@router.get("/escalations/{escalation_id}", response_model=EscalationDetail)
def get_escalation(request: Request, escalation_id: int,
                   user: Principal = Depends(api_care_user)) -> EscalationDetail:
    """One escalation with its mention, author and the decision that created it."""
    with session_scope(get_ctx(request).engine) as session:
        detail = care_queue.escalation_detail(session, escalation_id)
    if detail is None:
        raise NotFound(f"no escalation {escalation_id}")
    m = detail.mention
    a = detail.author
    return EscalationDetail(
        **_out(detail.escalation).model_dump(),
        mention={"id": m.id, "source": m.source, "platform": m.platform, "url": m.url,
                 "text": m.text, "title": m.title, "lang": m.lang, "created_at": m.created_at,
                 "brand": m.brand, "sentiment": m.sentiment_label,
                 "compound": m.sentiment_compound, "urgency": m.urgency,
                 "categories": list(m.categories or []), "scoring": dict(m.scoring or {})},
        author=None if a is None else {
            "handle": a.handle, "name": a.name, "platform": a.platform,
            "followers": a.followers, "verified": a.verified,
            "mentions_by_source": detail.author_sources,
            "earlier_escalations": [e["id"] for e in detail.author_escalations]},
    )


@router.post("/escalations/{escalation_id}/claim", response_model=Escalation_)
def claim(request: Request, escalation_id: int, body: ClaimIn | None = None,
          user: Principal = Depends(api_csrf_user)) -> Escalation_:
    """Claim it. 409 if another agent holds it, unless `take_over` is true (recorded)."""
    take_over = body.take_over if body else False
    return _out(actions.claim(get_ctx(request).engine, user, escalation_id, take_over))


@router.post("/escalations/{escalation_id}/release", response_model=Escalation_)
def release(request: Request, escalation_id: int,
            user: Principal = Depends(api_csrf_user)) -> Escalation_:
    """Give it back to the queue."""
    return _out(actions.release(get_ctx(request).engine, user, escalation_id))


@router.post("/escalations/{escalation_id}/assign", response_model=Escalation_)
def assign(request: Request, escalation_id: int, body: AssignIn,
           user: Principal = Depends(api_csrf_user)) -> Escalation_:
    """Leads only: hand it to an agent (or null: back to the queue)."""
    return _out(actions.assign(get_ctx(request).engine, user, escalation_id, body.assignee))


@router.post("/escalations/{escalation_id}/reply", response_model=Escalation_)
def reply(request: Request, escalation_id: int, body: ReplyIn,
          user: Principal = Depends(api_csrf_user)) -> Escalation_:
    """Store the reply and publish it where publishing is enabled (else: copy and send)."""
    ctx = get_ctx(request)
    return _out(actions.reply(ctx.engine, user, escalation_id, body.text, ctx.publisher))


@router.post("/escalations/{escalation_id}/resolve", response_model=Escalation_)
def resolve(request: Request, escalation_id: int, body: ResolveIn | None = None,
            user: Principal = Depends(api_csrf_user)) -> Escalation_:
    body = body or ResolveIn()
    return _out(actions.resolve(get_ctx(request).engine, user, escalation_id,
                                body.resolution, body.label.value))


@router.post("/escalations/{escalation_id}/dismiss", response_model=Escalation_)
def dismiss(request: Request, escalation_id: int, body: DismissIn,
            user: Principal = Depends(api_csrf_user)) -> Escalation_:
    """Not actionable; `reason` labels the machine's decision for scoring quality."""
    return _out(actions.dismiss(get_ctx(request).engine, user, escalation_id,
                                body.reason.value, body.note))


@router.post("/escalations/{escalation_id}/reopen", response_model=Escalation_)
def reopen(request: Request, escalation_id: int,
           user: Principal = Depends(api_csrf_user)) -> Escalation_:
    return _out(actions.reopen(get_ctx(request).engine, user, escalation_id))


@router.post("/escalations/{escalation_id}/notes", status_code=201)
def add_note(request: Request, escalation_id: int, body: NoteIn,
             user: Principal = Depends(api_csrf_user)) -> dict[str, str]:
    """An internal note (kept in the audit log, never published)."""
    actions.add_note(get_ctx(request).engine, user, escalation_id, body.text)
    return {"status": "noted"}
