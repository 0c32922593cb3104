"""The care queue's reads: its pages, counts, search, filters and an escalation's detail.

The console's queue pages and the JSON API call these (the audit log's page is in
`storage.audit`, the mention browser's in `storage.mentions`).

Every list is paged and every look-up goes through an index:

    queue          by the agent's order (`SORTS`): escalation(status, priority_rank DESC,
                   urgency DESC, sla_due), (status, sla_due) or (status, created_at)
                   + PK joins to mention/author/care_case for the 50 rows shown
    brand/source   escalation(brand|source, status, priority_rank DESC, sla_due): the
                   mention's brand, source, platform and categories are copied onto the
                   escalation (migration 0003), so no filter needs a join per row
    free text      SQLite: the FTS5 table mention_fts; PostgreSQL: the GIN index on
                   to_tsvector('simple', title || text) (see `search_plan`)
    queue counts   escalation(queue, status)
    author history mention(author_id), escalation.mention_id (unique)
    dashboard      mention(created_at)

Nothing here loads a table whole; the benchmark (`bench/console.py`) holds it to that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self

import sqlalchemy as sa
from sqlmodel import Session, col

from storage.console_models import ConsoleUser, Role
from storage.customers import lookup as customer_lookup
from storage.dialect import rowcount, table
from storage.filters import UrlFilters
from storage.models import (
    PRIORITY_RANK,
    AuditEvent,
    Author,
    CareCase,
    Customer,
    CustomerIdentity,
    Escalation,
    EscalationStatus,
    Mention,
    OutboxItem,
    SourceState,
)
from storage.sources import is_job
from storage.types import as_utc, utcnow
from storage.users import remember

PAGE_SIZE = 50
ACTIVE = (EscalationStatus.open.value, EscalationStatus.claimed.value)
STATUS_CHOICES = ("active", "open", "claimed", "resolved", "dismissed", "all")
PRIORITIES = ("urgent", "high", "normal", "low")
_CATEGORY_RE = re.compile(r"^[a-z0-9_]{1,64}$")

E = table(Escalation)
M = table(Mention)
A = table(Author)
AE = table(AuditEvent)
C = table(CareCase)

# The queue orders an agent can choose (remembered per user, console_user.queue_sort).
SORTS: dict[str, str] = {
    "urgency": "Most urgent first",  # priority, then urgency within it, then SLA
    "sla": "SLA due soonest",
    "age": "Oldest first",
}
DEFAULT_SORT = "urgency"


def sort_order(sort: str) -> tuple[Any, ...]:
    """ORDER BY for `sort`; each is the tail of one (status, ...) index, then id."""
    if sort == "sla":
        return (E.c.sla_due.asc(), E.c.id.asc())
    if sort == "age":
        return (E.c.created_at.asc(), E.c.id.asc())
    return (E.c.priority_rank.desc(), E.c.urgency.desc(), E.c.sla_due.asc(), E.c.id.asc())


_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)


def _sort_key(sort: str, row: Any) -> tuple[Any, ...]:
    """The Python twin of `sort_order` for a row of `_sort_columns(sort)` (+ id last)."""
    if sort == "sla":
        return (as_utc(row[0]) if row[0] else _FAR_FUTURE, row[-1])
    if sort == "age":
        return (as_utc(row[0]), row[-1])
    return (-row[0], -row[1], as_utc(row[2]) if row[2] else _FAR_FUTURE, row[-1])


def _sort_columns(sort: str) -> list[Any]:
    if sort == "sla":
        return [E.c.sla_due]
    if sort == "age":
        return [E.c.created_at]
    return [E.c.priority_rank, E.c.urgency, E.c.sla_due]


@dataclass
class QueueFilters(UrlFilters):
    """The queue's filters, as they appear in the URL (so a refresh keeps them)."""

    queue: str = ""
    priority: str = ""
    status: str = "active"
    brand: str = ""
    source: str = ""
    category: str = ""
    assignee: str = ""  # a user name, "me" or "none"
    q: str = ""
    sort: str = ""  # one of SORTS; "" = the agent's remembered order
    page: int = 1
    unknown: dict[str, str] = field(default_factory=dict, compare=False)  # filter -> refused value

    @classmethod
    def from_params(cls, params: Any) -> Self:
        out = super().from_params(params)
        # An unknown value is reset, so no query ever runs with it, and kept in `unknown`
        # so the API answers 400 and the console says so (see `filter_problems`).
        if out.status not in STATUS_CHOICES:
            out.unknown["status"] = out.status
            out.status = "active"
        if out.priority and out.priority not in PRIORITIES:
            out.unknown["priority"] = out.priority
            out.priority = ""
        if out.category and not _CATEGORY_RE.match(out.category):
            out.unknown["category"] = out.category
            out.category = ""
        if out.sort not in SORTS:
            out.sort = ""
        return out

    @property
    def active(self) -> bool:
        return any(self.params(page=1).values())


@dataclass
class QueuePage:
    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    has_next: bool
    counts: dict[str, int] = field(default_factory=dict)
    capped: bool = False  # total stopped counting at COUNT_CAP


def _row_columns() -> list[Any]:
    """The columns a queue row shows (text cut to 280 characters in SQL)."""
    return [
        E.c.id, E.c.queue, E.c.priority, E.c.status, E.c.assignee, E.c.sla_due,
        E.c.created_at, E.c.route, E.c.tags, E.c.replied_at, E.c.case_id, E.c.follow_up_of,
        sa.func.coalesce(C.c.size, 1).label("case_size"),
        sa.func.substr(M.c.text, 1, 280).label("text"), M.c.source, M.c.platform,
        M.c.brand, M.c.sentiment_label, M.c.sentiment_compound, E.c.urgency,
        M.c.categories, M.c.url, A.c.handle, A.c.followers, A.c.verified,
    ]


# ------------------------------------------------------------------------------ free text
FTS = sa.table("mention_fts", sa.column("rowid", sa.Integer))  # SQLite, migration 0003
# PostgreSQL: exactly the indexed expression (ix_mention_search), or the index is unused.
PG_TSVECTOR: Any = sa.literal_column(
    "to_tsvector('simple', coalesce(mention.title, '') || ' ' || mention.text)")
MAX_TERMS = 8
MAX_HANDLE_AUTHORS = 50
# SQLite: a search whose words match at most this many mentions is answered from the
# index (matching mentions -> their escalations); a commoner one walks the queue in order
# and checks each escalation's mention against the index, which finds a page quickly
# precisely because the words are common. See `search_plan`.
SEARCH_DRIVE_CAP = 20_000
# Counting a common search stops after this many matching mentions ("N+").
SEARCH_COUNT_SCAN = 50_000

_WORD_RE = re.compile(r"[^\W_]+")
_HANDLE_RE = re.compile(r"^@([\w.\-]{1,64})")


@dataclass(frozen=True)
class TextQuery:
    """The queue's free text: words (each a whole word of the mention's text or title,
    case and accents ignored, all required) and `@handle` terms (the author's handle,
    any of them).

    Whole words, not prefixes: FTS5 answers a prefix term by merging the doclists of
    every word it starts, on every probe, which makes checking one row ~10 ms for a
    common prefix instead of ~50 us.
    """

    words: tuple[str, ...] = ()
    handles: tuple[str, ...] = ()

    @classmethod
    def parse(cls, q: str) -> TextQuery:
        words: list[str] = []
        handles: list[str] = []
        for term in q.split():
            found = _HANDLE_RE.match(term)
            if found:
                handles.append(found.group(1).lower())
            else:
                words += _WORD_RE.findall(term.lower())
        return cls(tuple(dict.fromkeys(words))[:MAX_TERMS],
                   tuple(dict.fromkeys(handles))[:MAX_TERMS])

    def __bool__(self) -> bool:
        return bool(self.words or self.handles)

    def fts5(self) -> str:
        """An FTS5 MATCH expression: every word, quoted (no operators)."""
        return " ".join(f'"{w}"' for w in self.words)

    def tsquery(self) -> str:
        """A PostgreSQL to_tsquery() text: every word."""
        return " & ".join(self.words)


@dataclass
class SearchPlan:
    """How the free text of one queue request is matched.

    `tests` are per-escalation conditions (correlated on escalation.mention_id).
    `hits`, when set, is a small subquery of matching mention ids (column `mid`) to start
    from instead: an @handle's mentions, or on SQLite the mentions with rare words.
    `count_hits` (SQLite, common words) is a bounded walk of the matches for counting.
    `empty` says nothing can match (an @handle nobody has, a word in no mention).
    """

    tests: list[Any] = field(default_factory=list)
    hits: Any = None
    count_hits: Any = None
    empty: bool = False


def _fts_match(query: TextQuery) -> Any:
    return sa.literal_column("mention_fts").op("MATCH")(sa.bindparam("fts_q", query.fts5()))


def search_plan(session: Session, query: TextQuery) -> SearchPlan:
    """Decide how to match `query` (see `SEARCH_DRIVE_CAP`)."""
    plan = SearchPlan()
    if not query:
        return plan
    sqlite = session.get_bind().dialect.name == "sqlite"
    if query.handles:
        authors = list(session.execute(
            sa.select(A.c.id).where(sa.func.lower(A.c.handle).in_(query.handles))
            .limit(MAX_HANDLE_AUTHORS)).scalars())
        if not authors:
            return SearchPlan(empty=True)
        plan.hits = sa.select(M.c.id.label("mid")).where(M.c.author_id.in_(authors)
                                                          ).subquery("hits")
    if not query.words:
        return plan
    if not sqlite:
        tsq = sa.func.to_tsquery(sa.literal_column("'simple'"), query.tsquery())
        plan.tests.append(E.c.mention_id.in_(
            sa.select(M.c.id).where(PG_TSVECTOR.op("@@")(tsq))))
        return plan
    # ~50 us per escalation checked against the index (one doclist seek per word).
    plan.tests.append(sa.exists(sa.select(sa.literal(1)).select_from(FTS)
                                .where(_fts_match(query), FTS.c.rowid == E.c.mention_id)))
    if plan.hits is not None:
        return plan  # an author's few mentions are the smaller start
    matches = sa.select(FTS.c.rowid.label("mid")).where(_fts_match(query))
    n = int(session.execute(sa.select(sa.func.count()).select_from(
        matches.limit(SEARCH_DRIVE_CAP + 1).subquery())).scalar_one())
    if n == 0:
        return SearchPlan(empty=True)
    if n <= SEARCH_DRIVE_CAP:
        plan.hits, plan.tests = matches.subquery("hits"), []
    else:
        plan.count_hits = matches.limit(SEARCH_COUNT_SCAN + 1).subquery("hits")
    return plan


def _unindexed(column: Any) -> Any:
    """`column` wrapped so the planner cannot pick its index (see `_page_ids`)."""
    return sa.func.coalesce(column, "")


def _queue_where(f: QueueFilters, me: str, *, ordered: bool = False,
                 probe_only: bool = False) -> tuple[list[Any], bool]:
    """WHERE clauses on the escalation for `f` (all but the free text, see
    `search_plan`); the flag says whether any of them cannot be counted from an index.

    With `ordered`, the queue/assignee tests are kept off their indexes: the page query
    is fastest walking (status, priority_rank DESC, sla_due) in order and stopping after
    51 matches, but a planner offered `queue = ?` or `assignee = ?` prefers those indexes
    and then sorts every match (150 ms for an agent holding 10,000 items). Brand and
    source have indexes that keep the queue order, so they stay indexed. Counting has no
    order, so it keeps them all. With `probe_only` (starting from search hits) every
    test is kept off the indexes, so the only way in is escalation.mention_id.
    """
    where: list[Any] = []
    off = _unindexed if probe_only else (lambda c: c)
    q_col = _unindexed(E.c.queue) if ordered or probe_only else E.c.queue
    a_col = _unindexed(E.c.assignee) if ordered or probe_only else E.c.assignee
    if f.status == "active":
        where.append(off(E.c.status).in_(ACTIVE))
    elif f.status != "all":
        where.append(off(E.c.status) == f.status)
    if f.queue:
        where.append(q_col == f.queue)
    if f.priority:  # priority_rank is in the queue index; priority is not
        where.append(off(E.c.priority_rank) == PRIORITY_RANK[f.priority])
    if f.assignee == "me":
        where.append(a_col == me)
    elif f.assignee == "none":
        where.append(E.c.assignee.is_(None))
    elif f.assignee:
        where.append(a_col == f.assignee)
    if f.brand:
        where.append(off(E.c.brand) == f.brand)
    if f.source:
        where.append(off(E.c.source) == f.source)
    unindexed = False
    if f.category:
        # Category names are [a-z0-9_]+, so a match on the JSON text is exact and works
        # on both databases; the queue filters on the small active set first.
        where.append(sa.cast(E.c.categories, sa.Text).like(f'%"{f.category}"%'))
        unindexed = True
    return where, unindexed


COUNT_CAP = 1000  # unindexed filters (category, free text) count at most this many rows
STATUSES = tuple(s.value for s in EscalationStatus)


def _page_ids(session: Session, f: QueueFilters, me: str,
              plan: SearchPlan | None = None) -> list[int]:
    """Ids for page `f.page` (+1 to tell whether there is a next page), in queue order.

    Each status is read separately: the index (status, priority_rank DESC, sla_due) then
    yields rows already in order, so the database stops after enough matches instead of
    sorting every row (or testing every row against the search index); the ordered
    streams are merged here. A search with few hits (an @handle, rare words) starts from
    its matching mentions instead, one probe of escalation(mention_id) each, and sorts
    what it finds.
    """
    plan = plan or SearchPlan()
    if plan.empty:
        return []
    sort = f.sort or DEFAULT_SORT
    order = sort_order(sort)
    if plan.hits is not None:
        where, _ = _queue_where(f, me, probe_only=True)
        source = plan.hits.join(E, E.c.mention_id == plan.hits.c.mid)
        return list(session.execute(
            sa.select(E.c.id).select_from(source).where(*where, *plan.tests)
            .order_by(*order).limit(PAGE_SIZE + 1).offset((f.page - 1) * PAGE_SIZE)).scalars())
    where, _ = _queue_where(f, me, ordered=True)
    if f.status in STATUSES:
        return list(session.execute(
            sa.select(E.c.id).where(*where, *plan.tests).order_by(*order)
            .limit(PAGE_SIZE + 1).offset((f.page - 1) * PAGE_SIZE)).scalars())
    others = where[1:] if f.status == "active" else where  # drop status IN (...)
    statuses: tuple[str, ...] = ACTIVE if f.status == "active" else STATUSES
    if f.assignee == "none":  # the workflow keeps open <=> nobody assigned
        statuses = tuple(s for s in statuses if s != EscalationStatus.claimed.value)
    elif f.assignee:
        statuses = tuple(s for s in statuses if s != EscalationStatus.open.value)
    want = f.page * PAGE_SIZE + 1
    merged: list[tuple[Any, ...]] = []
    for status in statuses:
        merged += [tuple(r) for r in session.execute(
            sa.select(*_sort_columns(sort), E.c.id)
            .where(E.c.status == status, *others, *plan.tests).order_by(*order).limit(want))]
    merged.sort(key=lambda r: _sort_key(sort, r))
    return [r[-1] for r in merged[(f.page - 1) * PAGE_SIZE: want]]


def queue_page(session: Session, f: QueueFilters, me: str) -> QueuePage:
    """One page of the queue in the agent's order (`SORTS`).

    Two steps, so that only the 50 rows shown are joined and read: the ids come from
    the escalation indexes (and the search index for free text), then their columns are
    fetched by primary key.
    """
    plan = search_plan(session, TextQuery.parse(f.q))
    ids = _page_ids(session, f, me, plan)
    has_next = len(ids) > PAGE_SIZE
    ids = ids[:PAGE_SIZE]
    rows: list[dict[str, Any]] = []
    if ids:
        joins = (E.join(M, M.c.id == E.c.mention_id).outerjoin(A, A.c.id == M.c.author_id)
                 .outerjoin(C, C.c.id == E.c.case_id))
        by_id = {r.id: dict(r._mapping) for r in session.execute(
            sa.select(*_row_columns()).select_from(joins).where(E.c.id.in_(ids)))}
        rows = [by_id[i] for i in ids if i in by_id]
    total, capped = queue_total(session, f, me, plan)
    pages = max(1, -(-total // PAGE_SIZE))
    return QueuePage(rows, total, f.page, pages, has_next, queue_counts(session), capped)


def queue_total(session: Session, f: QueueFilters, me: str,
                plan: SearchPlan | None = None) -> tuple[int, bool]:
    """How many escalations match; (count, True) when it stopped counting early.

    Escalation-column filters (queue, priority, status, assignee, brand, source) are
    counted exactly from the indexes. A category or free-text filter tests each row, so
    it stops counting at COUNT_CAP (the page says "1000+"); a search for common words
    counts among its first SEARCH_COUNT_SCAN matching mentions only.
    """
    if plan is None:
        plan = search_plan(session, TextQuery.parse(f.q))
    if plan.empty:
        return 0, False
    hits = plan.hits if plan.hits is not None else plan.count_hits
    where, unindexed = _queue_where(f, me, probe_only=hits is not None)
    if not unindexed and hits is None and not plan.tests:
        stmt = sa.select(sa.func.count()).select_from(E).where(*where)
        return int(session.execute(stmt).scalar_one()), False
    source: Any = E
    if hits is not None:  # start from the matching mentions, one probe each
        source = hits.join(E, E.c.mention_id == hits.c.mid)
        if plan.hits is not None:
            where += plan.tests
    else:
        where += plan.tests
    sub = sa.select(E.c.id).select_from(source).where(*where).limit(COUNT_CAP + 1).subquery()
    n = int(session.execute(sa.select(sa.func.count()).select_from(sub)).scalar_one())
    if n > COUNT_CAP:
        return COUNT_CAP, True
    if plan.count_hits is not None:  # did the walk stop before the last match?
        scanned = int(session.execute(
            sa.select(sa.func.count()).select_from(plan.count_hits)).scalar_one())
        return n, scanned > SEARCH_COUNT_SCAN
    return n, False


def queue_counts(session: Session) -> dict[str, int]:
    """Active (open + claimed) escalations per queue."""
    # Grouping by (queue, status) reads only the (queue, status) index; filtering on
    # status in SQL would make the planner read every active row instead.
    counts: dict[str, int] = {}
    stmt = sa.select(E.c.queue, E.c.status, sa.func.count()).group_by(E.c.queue, E.c.status)
    for queue, status, n in session.execute(stmt):
        if str(status) in ACTIVE:
            counts[queue] = counts.get(queue, 0) + int(n)
    return dict(sorted(counts.items()))


def urgent_pulse(session: Session) -> dict[str, int]:
    """How many urgent items wait unclaimed, and the newest one's id (the browser compares
    it with what it saw to announce new ones). Both read the open+urgent slice of
    ix_escalation_status_priority_urgency_sla."""
    where = (E.c.status == EscalationStatus.open.value, E.c.priority_rank == PRIORITY_RANK["urgent"])
    n, newest = session.execute(sa.select(sa.func.count(), sa.func.max(E.c.id)).where(*where)).one()
    return {"urgent_open": int(n), "newest_urgent_id": int(newest or 0)}


def remember_sort(session: Session, user_id: int, sort: str) -> str:
    """The queue order to use: `sort` when the agent chose one (then remembered for them),
    else the one they chose last, else `DEFAULT_SORT`."""
    return remember(session, user_id, "queue_sort", sort, SORTS) or DEFAULT_SORT


def filter_problems(session: Session, f: QueueFilters, rules: Any) -> list[str]:
    """One message per filter whose value names nothing: the same for every filter.

    Before, an unknown priority, status or category was silently dropped (the queue
    showed everything) while an unknown brand or source matched nothing. A value is known
    when the rules name it or, for values that outlive a rules edit (a renamed queue, a
    removed brand, source or category), when a stored escalation still carries it.
    """
    problems = [
        f"unknown {name} {value!r} (one of: {', '.join(choices)})"
        for name, value, choices in (
            ("status", f.unknown.get("status"), STATUS_CHOICES),
            ("priority", f.unknown.get("priority"), PRIORITIES),
        )
        if value is not None
    ]
    if "category" in f.unknown:
        problems.append(f"unknown category {f.unknown['category']!r} "
                        f"(one of: {', '.join(c.name for c in rules.categories) or 'none configured'})")
    stored: dict[str, Any] = {
        "queue": (f.queue, list(rules.queues), E.c.queue == f.queue),
        "brand": (f.brand, [b.name for b in rules.brands], E.c.brand == f.brand),
        "source": (f.source, [s.name for s in rules.sources], E.c.source == f.source),
        "category": (f.category, [c.name for c in rules.categories],
                     sa.cast(E.c.categories, sa.Text).like(f'%"{f.category}"%')),
    }
    for name, (value, known, test) in stored.items():
        if not value or value in known:
            continue
        if session.execute(sa.select(E.c.id).where(test).limit(1)).first() is None:
            problems.append(f"unknown {name} {value!r} (one of: {', '.join(known) or 'none configured'})")
    return problems


def filter_choices(session: Session) -> dict[str, list[str]]:
    """Values for the filter drop-downs that are cheap to find."""
    users = session.execute(
        sa.select(col(ConsoleUser.username))
        .where(col(ConsoleUser.disabled).is_(False))
        .order_by(ConsoleUser.username)
    ).scalars().all()
    sources = session.execute(sa.select(col(SourceState.source)).order_by(SourceState.source)
                              ).scalars().all()
    return {"users": list(users), "sources": [s for s in sources if not is_job(s)]}


def assignable_users(session: Session) -> list[str]:
    stmt = (
        sa.select(col(ConsoleUser.username))
        .where(col(ConsoleUser.disabled).is_(False),
               col(ConsoleUser.role).in_([Role.agent.value, Role.lead.value]))
        .order_by(ConsoleUser.username)
    )
    return list(session.execute(stmt).scalars().all())


# ------------------------------------------------------------------------------ detail
@dataclass
class Detail:
    escalation: Escalation
    mention: Mention
    author: Author | None
    author_mentions: list[dict[str, Any]]
    author_sources: dict[str, int]
    author_escalations: list[dict[str, Any]]
    events: list[AuditEvent]
    reply_delivery: str | None = None  # state of the queued public reply: pending/sending/retry/sent/dead
    case: CareCase | None = None
    case_posts: list[dict[str, Any]] = field(default_factory=list)  # every post of the case
    customer: Customer | None = None
    identities: list[dict[str, Any]] = field(default_factory=list)  # platform, handle, posts
    customer_history: list[dict[str, Any]] = field(default_factory=list)  # all identities' posts


def escalation_detail(session: Session, escalation_id: int) -> Detail | None:
    esc = session.get(Escalation, escalation_id)
    if esc is None:
        return None
    mention = session.get(Mention, esc.mention_id)
    if mention is None:  # FK makes this impossible; be explicit rather than crash
        return None
    author = session.get(Author, mention.author_id) if mention.author_id else None
    history: list[dict[str, Any]] = []
    sources: dict[str, int] = {}
    earlier: list[dict[str, Any]] = []
    if author is not None:
        history = [dict(r._mapping) for r in session.execute(
            sa.select(M.c.id, M.c.source, M.c.platform, M.c.created_at, M.c.url,
                      M.c.sentiment_label, sa.func.substr(M.c.text, 1, 160).label("text"))
            .where(M.c.author_id == author.id, M.c.id != mention.id)
            .order_by(M.c.id.desc()).limit(10))]
        sources = {s: int(n) for s, n in session.execute(
            sa.select(M.c.source, sa.func.count()).where(M.c.author_id == author.id)
            .group_by(M.c.source))}
        earlier = [dict(r._mapping) for r in session.execute(
            sa.select(E.c.id, E.c.status, E.c.queue, E.c.priority, E.c.created_at, E.c.label,
                      E.c.assignee)
            .select_from(E.join(M, M.c.id == E.c.mention_id))
            .where(M.c.author_id == author.id, E.c.id != esc.id)
            .order_by(E.c.id.desc()).limit(10))]
    events = list(session.execute(
        sa.select(AuditEvent)
        .where(col(AuditEvent.subject_type) == "escalation",
               col(AuditEvent.subject_id) == str(esc.id))
        .order_by(col(AuditEvent.at).desc()).limit(100)
    ).scalars())
    ot = table(OutboxItem)
    reply_delivery = session.execute(
        sa.select(ot.c.state).where(ot.c.escalation_id == esc.id, ot.c.kind == "reply").order_by(ot.c.id.desc()).limit(1)
    ).scalar()
    state = getattr(reply_delivery, "value", reply_delivery)
    case = session.get(CareCase, esc.case_id) if esc.case_id is not None else None
    posts: list[dict[str, Any]] = []
    if case is not None:  # ix_escalation_case_id; a case is a handful of posts
        posts = [dict(r._mapping) for r in session.execute(
            sa.select(E.c.id, E.c.status, E.c.priority, E.c.urgency, E.c.external_ref, E.c.follow_up_of,
                      M.c.created_at, M.c.platform, M.c.url,
                      sa.func.substr(M.c.text, 1, 280).label("text"))
            .select_from(E.join(M, M.c.id == E.c.mention_id))
            .where(E.c.case_id == case.id).order_by(M.c.created_at, E.c.id).limit(200))]
    detail = Detail(esc, mention, author, history, sources, earlier, events, state, case, posts)
    if author is not None:
        _add_customer(session, detail, author)
    return detail


def _add_customer(session: Session, detail: Detail, author: Author) -> None:
    """The author's customer (directory), its identities and their posts across platforms."""
    found = customer_lookup(session, [(author.platform, author.handle)]).get(
        (author.platform, author.handle))
    if found is None:
        return
    detail.customer = session.get(Customer, found[0])
    ci = table(CustomerIdentity)
    idents = session.execute(sa.select(ci.c.platform, ci.c.handle).where(
        ci.c.customer_id == found[0]).order_by(ci.c.platform, ci.c.handle)).all()
    authors = {(p, h): i for i, p, h in session.execute(
        sa.select(A.c.id, A.c.platform, sa.func.lower(A.c.handle)).where(
            sa.tuple_(A.c.platform, sa.func.lower(A.c.handle)).in_([tuple(x) for x in idents])))}
    counts = {aid: int(n) for aid, n in session.execute(
        sa.select(M.c.author_id, sa.func.count()).where(M.c.author_id.in_(list(authors.values())))
        .group_by(M.c.author_id))} if authors else {}
    detail.identities = [{"platform": p, "handle": h, "posts": counts.get(authors.get((p, h), -1), 0)}
                         for p, h in idents]
    if authors:
        detail.customer_history = [dict(r._mapping) for r in session.execute(
            sa.select(M.c.id, M.c.platform, M.c.created_at, A.c.handle,
                      sa.func.substr(M.c.text, 1, 160).label("text"))
            .select_from(M.join(A, A.c.id == M.c.author_id))
            .where(M.c.author_id.in_(list(authors.values())), M.c.id != detail.mention.id)
            .order_by(M.c.created_at.desc()).limit(15))]


# ------------------------------------------------------------------------------ dashboard
def dashboard(session: Session, start: datetime, now: datetime | None = None) -> dict[str, Any]:
    """Mention counts since `start` (the period picker's, console.web.periods); open
    escalations and those past their SLA now."""
    now = now or utcnow()
    today = M.c.created_at >= start
    volume = int(session.execute(sa.select(sa.func.count()).where(today)).scalar_one())
    sentiment = {str(k or "unscored"): int(n) for k, n in session.execute(
        sa.select(M.c.sentiment_label, sa.func.count()).where(today)
        .group_by(M.c.sentiment_label))}
    brands = {str(k or "—"): int(n) for k, n in session.execute(
        sa.select(M.c.brand, sa.func.count()).where(today).group_by(M.c.brand)
        .order_by(sa.func.count().desc()).limit(10))}
    by_queue: dict[str, dict[str, int]] = {}
    for q, prio, n in session.execute(
        sa.select(E.c.queue, E.c.priority, sa.func.count()).where(E.c.status.in_(ACTIVE))
        .group_by(E.c.queue, E.c.priority)
    ):
        by_queue.setdefault(q, {})[str(prio)] = int(n)
    overdue = int(session.execute(
        sa.select(sa.func.count()).where(E.c.status.in_(ACTIVE), E.c.sla_due < now)
    ).scalar_one())
    return {"start": start,
            "volume": volume, "sentiment": sentiment, "brands": brands,
            "by_queue": by_queue, "overdue": overdue,
            "open_total": sum(sum(v.values()) for v in by_queue.values())}


def queue_row(session: Session, escalation_id: int) -> dict[str, Any] | None:
    """One queue row (same columns as `queue_page`), for in-place htmx updates."""
    stmt = (
        sa.select(*_row_columns())
        .select_from(E.join(M, M.c.id == E.c.mention_id).outerjoin(A, A.c.id == M.c.author_id)
                     .outerjoin(C, C.c.id == E.c.case_id))
        .where(E.c.id == escalation_id)
    )
    row = session.execute(stmt).first()
    return dict(row._mapping) if row else None


# ------------------------------------------------------------------------------ actions
def load(session: Session, escalation_id: int) -> Escalation | None:
    return session.get(Escalation, escalation_id)


def mention_of(session: Session, esc: Escalation) -> Mention | None:
    return session.get(Mention, esc.mention_id)


def guarded_update(session: Session, esc: Escalation, **values: Any) -> bool:
    """UPDATE the row only if status and assignee are still what we read (`esc`); False
    when someone else changed it in between (no row touched). Sets updated_at."""
    holder = E.c.assignee.is_(None) if esc.assignee is None else E.c.assignee == esc.assignee
    stmt = (
        sa.update(Escalation)
        .where(E.c.id == esc.id, E.c.status == str(esc.status), holder)
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return rowcount(session.execute(stmt)) == 1
