"""`PUT /api/v1/customers/{id}`: the contact centre tells socialear who a customer is on
social (identities) and their segment. A PUT replaces: identities not listed are
unlinked. Leads only (it changes how posts are routed and who sees what). Audited by
storage.customers."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from console.web.actions import Forbidden, Invalid
from console.web.auth import Principal
from console.web.deps import api_csrf_user, get_ctx
from storage import customers
from storage.console_models import Role
from storage.engine import session_scope

router = APIRouter(prefix="/api/v1", tags=["customers"])


class IdentityIn(BaseModel):
    platform: str = Field(description="x | reddit | trustpilot | appstore | googleplay | rss")
    handle: str = Field(description="the handle, with or without @ (case is ignored)")


class CustomerIn(BaseModel):
    segment: str | None = Field(default=None, description="e.g. platinum, gold, standard")
    identities: list[IdentityIn] = Field(default_factory=list, max_length=100)
    account_number: str | None = Field(default=None, description="stored masked (last 4 only)")
    ltv_band: str | None = None


class CustomerOut(BaseModel):
    id: str
    created: bool
    linked: int
    unlinked: int


@router.put("/customers/{customer_id}", response_model=CustomerOut)
def put_customer(request: Request, customer_id: str, body: CustomerIn,
                 user: Principal = Depends(api_csrf_user)) -> CustomerOut:
    if not user.can(Role.lead):
        raise Forbidden(f"{user.role.value}s cannot edit the customer directory")
    try:
        idents = [customers.Identity.parse(i.platform, i.handle) for i in body.identities]
        with session_scope(get_ctx(request).engine) as session:
            result = customers.link(session, user.username, customer_id, segment=body.segment,
                                    identities=idents, account_number=body.account_number,
                                    ltv_band=body.ltv_band, replace=True)
    except customers.CustomerError as exc:
        raise Invalid(str(exc)) from None
    return CustomerOut(**result)
