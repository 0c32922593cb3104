"""The customer directory: which social identities belong to which contact-centre
customer, and the customer's segment (platinum / gold / standard ...).

Why here (storage): the pipeline routes on the segment, the sinks put the customer id in
the escalation, and the console shows and edits it; all read the same two tables.

* Handles are kept lower-case without "@", and matched that way: "@Jen_K" on X is jen_k.
* An account number is never stored: only a mask with its last four characters.
* Linking and unlinking are audited (`customer.linked` / `customer.unlinked`) with the
  identity, never with post content. Erasing a customer (`erase`) deletes the entry and
  purges the content of every post by its identities (storage.repo.purge_mention_content),
  leaving one `customer.erased` audit row that holds counts only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session, col

from storage.dialect import pairs_in, rowcount, table
from storage.models import AuditEvent, Author, Customer, CustomerIdentity, Mention
from storage.repo import audit, purge_mention_content
from storage.types import utcnow

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")
_SEGMENT_RE = re.compile(r"^[a-z0-9_\-]{1,32}$")
PLATFORMS = ("x", "reddit", "trustpilot", "appstore", "googleplay", "rss")
CI, CU, AU, MT = table(CustomerIdentity), table(Customer), table(Author), table(Mention)


class CustomerError(ValueError):
    """Bad directory input; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class Identity:
    platform: str
    handle: str

    @classmethod
    def parse(cls, platform: str, handle: str) -> Identity:
        p = (platform or "").strip().lower()
        h = (handle or "").strip().lstrip("@").lower()
        if p not in PLATFORMS:
            raise CustomerError(f"platform must be one of {', '.join(PLATFORMS)}, not {platform!r}")
        if not h or len(h) > 255 or any(c.isspace() for c in h):
            raise CustomerError(f"handle {handle!r} is empty, too long or has spaces")
        return cls(p, h)


def check_id(customer_id: str) -> str:
    if not _ID_RE.match(customer_id or ""):
        raise CustomerError(f"customer id {customer_id!r}: letters, digits and . _ : - only "
                            "(at most 128)")
    return customer_id


def check_segment(segment: str | None) -> str | None:
    if segment in (None, ""):
        return None
    segment = segment.strip().lower()
    if not _SEGMENT_RE.match(segment):
        raise CustomerError(f"segment {segment!r}: lower-case letters, digits, _ and - only")
    return segment


def mask_account(number: str | None) -> str | None:
    """"••••1234" for an account number; the number itself is never stored."""
    digits = re.sub(r"\s", "", number or "")
    if not digits:
        return None
    return "••••" + digits[-4:]


def link(session: Session, actor: str, customer_id: str, *, segment: str | None,
         identities: Iterable[Identity], account_number: str | None = None,
         ltv_band: str | None = None, replace: bool = True) -> dict[str, Any]:
    """Create or update a customer and its identities. With `replace`, identities not
    given are unlinked (the API's PUT); without, they are added to (a CSV import's rows).
    An identity linked to another customer moves to this one (audited on both)."""
    check_id(customer_id)
    segment = check_segment(segment)
    wanted = list(dict.fromkeys(identities))
    now = utcnow()
    customer = session.get(Customer, customer_id)
    created = customer is None
    if customer is None:
        customer = Customer(id=customer_id, created_at=now)
    if replace or segment is not None:  # an import row without a segment keeps the one set
        customer.segment = segment
    if account_number is not None:
        customer.account_masked = mask_account(account_number)
    if ltv_band is not None:
        customer.ltv_band = ltv_band.strip()[:32] or None
    customer.updated_at = now
    session.add(customer)
    session.flush()
    current = {Identity(i.platform, i.handle): i for i in session.execute(
        sa.select(CustomerIdentity).where(col(CustomerIdentity.customer_id) == customer_id)
    ).scalars()}
    linked, unlinked = [], []
    for ident in wanted:
        if ident in current:
            continue
        other = session.execute(sa.select(CustomerIdentity).where(
            col(CustomerIdentity.platform) == ident.platform,
            col(CustomerIdentity.handle) == ident.handle)).scalar_one_or_none()
        if other is not None:
            audit(session, actor, "customer.unlinked", "customer", other.customer_id,
                  platform=ident.platform, handle=ident.handle, moved_to=customer_id)
            session.delete(other)
            session.flush()
        session.add(CustomerIdentity(customer_id=customer_id, platform=ident.platform,
                                     handle=ident.handle, linked_at=now))
        audit(session, actor, "customer.linked", "customer", customer_id,
              platform=ident.platform, handle=ident.handle)
        linked.append(ident)
    if replace:
        for ident, row in current.items():
            if ident not in wanted:
                session.delete(row)
                audit(session, actor, "customer.unlinked", "customer", customer_id,
                      platform=ident.platform, handle=ident.handle)
                unlinked.append(ident)
    session.flush()
    if created:
        audit(session, actor, "customer.created", "customer", customer_id, segment=segment)
    return {"id": customer_id, "created": created, "linked": len(linked),
            "unlinked": len(unlinked)}


_ANY_IDENTITY = sa.select(CI.c.customer_id).limit(1)


def lookup(conn: Connection | Session, keys: Iterable[tuple[str, str]]
           ) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(platform, handle as the platform spells it) -> (customer id, segment)."""
    wanted = {(p, h.lstrip("@").lower()): (p, h) for p, h in keys if h}
    out: dict[tuple[str, str], tuple[str, str | None]] = {}
    for cond in pairs_in(CI.c.platform, CI.c.handle, wanted):
        rows = conn.execute(
            sa.select(CI.c.platform, CI.c.handle, CU.c.id, CU.c.segment)
            .select_from(CI.join(CU, CU.c.id == CI.c.customer_id))
            .where(cond))
        for platform, handle, cid, segment in rows:
            out[wanted[(platform, handle)]] = (cid, segment)
    return out


def annotate(conn: Connection | Session, mentions: Iterable[Any]) -> None:
    """Put the directory's customer id and segment in each mention's `extra`
    (`customer_id`, `customer_segment`), where routes (`when.segment`) and SLAs per
    segment read them: the live pipeline and `rules replay` / the what-if page call this
    one function, so history is re-routed with the segments the pipeline would use."""
    mentions = list(mentions)
    if conn.execute(_ANY_IDENTITY).first() is None:
        return  # no directory (most deployments): one cheap read instead of a look-up per author
    known = lookup(conn, {(m.author.platform, m.author.handle) for m in mentions})
    for m in mentions:
        if (found := known.get((m.author.platform, m.author.handle))) is not None:
            m.extra = {**(m.extra or {}), "customer_id": found[0], "customer_segment": found[1]}


def author_ids(session: Session, customer_id: str) -> list[int]:
    """Authors (platform + handle, case ignored) linked to the customer."""
    idents = session.execute(sa.select(CI.c.platform, CI.c.handle).where(
        CI.c.customer_id == customer_id)).all()
    if not idents:
        return []
    return list(session.execute(sa.select(AU.c.id).where(
        sa.tuple_(AU.c.platform, sa.func.lower(AU.c.handle)).in_([tuple(i) for i in idents])
    )).scalars())


def erase(session: Session, actor: str, customer_id: str) -> dict[str, int]:
    """Remove the customer's entry and the content of every post by its identities; one
    audit row remains, with counts and no content. KeyError when there is no such customer."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise KeyError(customer_id)
    authors = author_ids(session, customer_id)
    mention_ids = list(session.execute(sa.select(MT.c.id).where(
        MT.c.author_id.in_(authors), MT.c.deleted_at.is_(None))).scalars()) if authors else []
    for mid in mention_ids:
        purge_mention_content(session, mid, "customer erased on request", actor=actor)
    n_ident = rowcount(session.execute(sa.delete(CI).where(CI.c.customer_id == customer_id)))
    for aid in authors:  # the handles and names are theirs too
        session.execute(AU.update().where(AU.c.id == aid).values(
            handle=f"erased-{aid}", name=None, external_id=None))
    session.delete(customer)
    # the link history named the handles: keep the events, drop the names
    at = table(AuditEvent)
    for eid, details in session.execute(sa.select(at.c.id, at.c.details).where(
            at.c.subject_type == "customer", at.c.subject_id == customer_id)).all():
        kept = {k: v for k, v in (details or {}).items() if k not in ("handle", "moved_to")}
        session.execute(at.update().where(at.c.id == eid).values(details={**kept, "erased": True}))
    session.flush()
    counts = {"identities": int(n_ident or 0), "posts": len(mention_ids)}
    audit(session, actor, "customer.erased", "customer", customer_id,
          identities=counts["identities"], posts=counts["posts"])
    return counts
