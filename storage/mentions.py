"""Reads of stored mentions outside the care queue: the mention browser's page, the
history that `rules replay` and the what-if page re-run, and the candidates of the
retention and deletion sweeps (their purge is `storage.repo.purge_mention_content`).

Every read walks an index (mention(created_at), mention(source, ...), the primary key)
and is bounded by a limit or streamed in chunks.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage.dialect import table
from storage.filters import UrlFilters, parse_day
from storage.models import Author, Escalation, Mention
from storage.queue import FTS, PG_TSVECTOR, TextQuery

M, A, E = table(Mention), table(Author), table(Escalation)
PAGE_SIZE = 50


# ------------------------------------------------------------------------------ browser
@dataclass
class MentionFilters(UrlFilters):
    ALIASES: ClassVar[dict[str, str]] = {"start": "from", "end": "to"}

    brand: str = ""
    platform: str = ""
    sentiment: str = ""
    category: str = ""
    start: str = ""  # YYYY-MM-DD
    end: str = ""  # YYYY-MM-DD, included
    q: str = ""
    page: int = 1


def mention_page(session: Session, f: MentionFilters) -> tuple[list[Any], bool, list[str]]:
    """One page of mentions, newest first, through mention(created_at) and the search
    index; returns (rows, has_next, problems with the filters)."""
    problems: list[str] = []
    where: list[Any] = [M.c.deleted_at.is_(None)]
    if f.brand:
        where.append(M.c.brand == f.brand)
    if f.platform:
        where.append(M.c.platform == f.platform)
    if f.sentiment:
        where.append(M.c.sentiment_label == f.sentiment)
    if f.category:
        # categories is a JSON list; its text holds the quoted name on both databases
        where.append(sa.cast(M.c.categories, sa.Text).like(
            '%"' + f.category.replace("%", "").replace("_", "\\_") + '"%', escape="\\"))
    for text, end in ((f.start, False), (f.end, True)):
        if not text:
            continue
        day = parse_day(text)
        if day is None:
            problems.append(f"{'to' if end else 'from'}: {text!r} is not a date (YYYY-MM-DD)")
        elif end:
            where.append(M.c.created_at < day + timedelta(days=1))
        else:
            where.append(M.c.created_at >= day)
    query = TextQuery.parse(f.q)
    if query.handles:
        authors = sa.select(A.c.id).where(sa.func.lower(A.c.handle).in_(query.handles))
        where.append(M.c.author_id.in_(authors))
    if query.words:
        if session.get_bind().dialect.name == "sqlite":
            match = sa.literal_column("mention_fts").op("MATCH")(query.fts5())
            where.append(M.c.id.in_(sa.select(FTS.c.rowid).where(match)))
        else:
            tsq = sa.func.to_tsquery(sa.literal_column("'simple'"), query.tsquery())
            where.append(PG_TSVECTOR.op("@@")(tsq))
    rows = list(session.execute(
        sa.select(M.c.id, M.c.platform, M.c.source, M.c.brand, M.c.competitor, M.c.text,
                  M.c.title, M.c.url, M.c.created_at, M.c.sentiment_label, M.c.categories,
                  M.c.engagement, M.c.urgency, A.c.handle, A.c.followers)
        .select_from(M.outerjoin(A, A.c.id == M.c.author_id))
        .where(*where).order_by(M.c.created_at.desc(), M.c.id.desc())
        .offset((f.page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)))
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE, problems


def platforms(session: Session, limit: int = 50) -> list[str]:
    """The platforms stored mentions come from (the browser's drop-down), sorted."""
    return sorted(p for p in session.execute(sa.select(M.c.platform).distinct().limit(limit)).scalars() if p)


# ------------------------------------------------------------------------------ replay
@dataclass(frozen=True)
class HistoryRow:
    """A stored mention as replay re-analyses it, with its author and stored decision."""

    source: str
    platform: str
    external_id: str
    text: str
    created_at: datetime
    url: str | None
    lang: str | None
    rating: int | None
    in_reply_to: str | None
    conversation_id: str | None
    engagement: int
    title: str | None
    handle: str | None
    author_name: str | None
    followers: int
    verified: bool
    route: str | None  # the escalation's route, else the route stored on the mention
    escalated: bool
    sentiment_label: str | None


def history(engine: Engine, since: datetime | None, chunk: int) -> Iterator[list[HistoryRow]]:
    """The window's live mentions (all of them when `since` is None) in id order,
    streamed `chunk` at a time."""
    q = (
        sa.select(
            M,
            A.c.handle,
            A.c.name.label("author_name"),
            A.c.followers,
            A.c.verified,
            E.c.id.label("esc_id"),
            E.c.route.label("esc_route"),
        )
        .select_from(M.outerjoin(A, A.c.id == M.c.author_id).outerjoin(E, E.c.mention_id == M.c.id))
        .where(M.c.deleted_at.is_(None))
        .order_by(M.c.id)
    )
    if since is not None:
        q = q.where(M.c.created_at >= since)
    with engine.connect() as conn:
        for part in conn.execution_options(yield_per=chunk).execute(q).partitions(chunk):
            yield [
                HistoryRow(
                    source=r.source, platform=r.platform, external_id=r.external_id, text=r.text,
                    created_at=r.created_at, url=r.url, lang=r.lang, rating=r.rating,
                    in_reply_to=r.in_reply_to, conversation_id=r.conversation_id,
                    engagement=r.engagement or 0, title=r.title, handle=r.handle,
                    author_name=r.author_name, followers=r.followers or 0, verified=bool(r.verified),
                    route=r.esc_route if r.esc_id else r.route, escalated=r.esc_id is not None,
                    sentiment_label=r.sentiment_label,
                )
                for r in part
            ]


def window_start(engine: Engine, since: datetime, cap: int) -> tuple[datetime, int, bool]:
    """Where to start so that at most `cap` live mentions since `since` are read:
    (start, mentions in the window up to cap + 1, capped?).

    Both queries walk mention(created_at) and stop after cap + 1 rows.
    """
    live = [M.c.created_at >= since, M.c.deleted_at.is_(None)]
    with engine.connect() as conn:
        sub = sa.select(M.c.id).where(*live).limit(cap + 1).subquery()
        n = int(conn.execute(sa.select(sa.func.count()).select_from(sub)).scalar_one())
        if n <= cap:
            return since, n, False
        newest_first = (sa.select(M.c.created_at).where(*live)
                        .order_by(M.c.created_at.desc()).offset(cap - 1).limit(1))
        start = conn.execute(newest_first).scalar_one()
    return start, n, True


# ------------------------------------------------------------------------------ sweeps
def expired_ids(session: Session, cutoff: datetime, limit: int, *, platform: str | None = None,
                other_than: Collection[str] = ()) -> list[int]:
    """Ids of live mentions created before `cutoff`, oldest id first, at most `limit`:
    of `platform`, or (platform None) of every platform not in `other_than`."""
    which = M.c.platform == platform if platform is not None else M.c.platform.not_in(list(other_than))
    return [int(i) for i in session.execute(
        sa.select(M.c.id)
        .where(which, M.c.created_at < cutoff, M.c.deleted_at.is_(None))
        .order_by(M.c.id)
        .limit(limit)
    ).scalars()]


def fetched_since(engine: Engine, source: str, after_id: int, since: datetime, limit: int) -> list[tuple[int, str]]:
    """(id, external id) of one source's live mentions fetched since `since`, after
    mention id `after_id`, in id order, at most `limit` (the deletion sweep's next batch)."""
    stmt = (
        sa.select(M.c.id, M.c.external_id)
        .where(
            M.c.source == source,
            M.c.id > after_id,
            M.c.fetched_at >= since,
            M.c.deleted_at.is_(None),
        )
        .order_by(M.c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [(int(i), str(e)) for i, e in conn.execute(stmt)]
