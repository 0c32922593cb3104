"""Cases in the console (the case panel, merge and split by hand, audited) and
`export cases`, through the ASGI app on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from console.export import export_rows
from listener import cases
from storage.engine import session_scope
from storage.models import AuditEvent, CareCase, Escalation
from storage.types import utcnow
from tests.console.conftest import add_escalation


def _grouped(engine: Engine, *esc_ids: int) -> None:
    with engine.begin() as conn:
        cases.group_new(conn, list(esc_ids), utcnow())


def _esc(engine: Engine, esc_id: int) -> Escalation:
    with session_scope(engine) as s:
        esc = s.get(Escalation, esc_id)
        assert esc is not None
        s.expunge(esc)
        return esc


def _case(engine: Engine, case_id: int | None) -> CareCase:
    with session_scope(engine) as s:
        case = s.get(CareCase, case_id)
        assert case is not None
        s.expunge(case)
        return case


def test_merge_and_split_by_hand_are_audited(client_for, db: Engine):
    a = add_escalation(db, "charged twice")
    b = add_escalation(db, "still charged twice, different account")
    _grouped(db, a, b)
    case_a, case_b = _esc(db, a).case_id, _esc(db, b).case_id
    assert case_a != case_b  # different authors: the machine made two cases
    c = client_for("alice")
    r = c.post(f"/escalations/{b}/case/merge", {"into": str(case_a)})
    assert r.status_code == 303
    assert _esc(db, b).case_id == case_a and str(_esc(db, b).status) == "resolved"
    assert _esc(db, b).resolution == f"Merged into case {case_a}: handled with escalation #{a}"
    assert _case(db, case_a).size == 2 and str(_case(db, case_a).status) == "open"
    assert _case(db, case_b).size == 0 and str(_case(db, case_b).status) == "resolved"
    page = c.get(f"/escalations/{a}").text
    assert f"Case {case_a}" in page and "2 posts" in page and f'href="/escalations/{b}"' in page
    # the queue now has one item for the matter, showing its size
    queue = c.get("/queue").text
    assert f'id="row-{a}"' in queue and f'id="row-{b}"' not in queue and ">2 posts</span>" in queue

    r = c.post(f"/escalations/{b}/case/split")
    assert r.status_code == 303
    split = _esc(db, b)
    assert split.case_id not in (case_a, case_b) and str(split.status) == "open"
    assert split.resolution is None and _case(db, case_a).size == 1
    assert _case(db, split.case_id).head_escalation_id == b
    with session_scope(db) as s:
        events = [(e.actor, e.action, e.details.get("into_case")) for e in s.execute(
            sa.select(AuditEvent).where(AuditEvent.action.startswith("case."))  # type: ignore[attr-defined]
            .order_by(AuditEvent.id)).scalars()]  # type: ignore[arg-type]
    assert events == [("alice", "case.merged", case_a), ("alice", "case.split", split.case_id)]


def test_merge_and_split_refuse_bad_input_and_roles(client_for, db: Engine):
    a = add_escalation(db)
    _grouped(db, a)
    c = client_for("alice")
    assert c.post(f"/escalations/{a}/case/merge", {"into": "x"}).status_code == 422
    assert c.post(f"/escalations/{a}/case/merge", {"into": "99999"}).status_code == 422
    own = _esc(db, a).case_id
    assert c.post(f"/escalations/{a}/case/merge", {"into": str(own)}).status_code == 422
    assert c.post(f"/escalations/{a}/case/split").status_code == 409  # the only post
    assert client_for("vic").post(f"/escalations/{a}/case/split").status_code == 403
    loose = add_escalation(db)  # from before cases: not part of one
    assert c.post(f"/escalations/{loose}/case/split").status_code == 409
    assert _case(db, own).size == 1  # nothing changed


def test_resolving_the_head_resolves_the_case_and_reopening_reopens_it(client_for, db: Engine):
    a = add_escalation(db)
    _grouped(db, a)
    c = client_for("alice")
    c.post(f"/escalations/{a}/claim")
    c.post(f"/escalations/{a}/resolve", {"resolution": "refunded"})
    case = _case(db, _esc(db, a).case_id)
    assert str(case.status) == "resolved" and case.resolved_at is not None
    c.post(f"/escalations/{a}/reopen")
    assert str(_case(db, case.id).status) == "open"


def test_export_cases_jsonl_and_csv(db: Engine):
    a = add_escalation(db, handle="dana")
    b = add_escalation(db, handle="eli")
    _grouped(db, a, b)
    with session_scope(db) as s:
        esc = s.get(Escalation, a)
        assert esc is not None
        esc.external_ref = "35436"
    out = io.StringIO()
    assert export_rows(db, "cases", "jsonl", None, out) == 2
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["author"] for r in rows] == ["dana", "eli"]
    assert rows[0]["status"] == "open" and rows[0]["ticket_ref"] == "35436"
    assert rows[0]["mention_external_ids"] and rows[1]["ticket_ref"] is None
    assert {"case_id", "status", "author", "mention_external_ids", "ticket_ref"} <= set(rows[0])
    out = io.StringIO()
    export_rows(db, "cases", "csv", None, out)
    table = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(table) == 2 and json.loads(table[0]["mention_external_ids"]) == rows[0]["mention_external_ids"]


def test_follow_ups_show_as_follow_ups_in_queue_case_view_api_and_exports(client_for, db: Engine):
    """A post that joined its author's open case is closed into the case's head: it is
    shown as a follow-up of that head (not as a resolved item with no label) in the queue,
    on its page, in the case panel, in the API and in both exports."""
    head = add_escalation(db, "charged twice", handle="ben_t")
    follow = add_escalation(db, "still charged twice", handle="ben_t2")
    with session_scope(db) as s:  # the same author wrote both
        first, second = (s.get(Escalation, i) for i in (head, follow))
        assert first is not None and second is not None
        s.execute(sa.text("UPDATE mention SET author_id = (SELECT author_id FROM mention WHERE id = :a) "
                          "WHERE id = :b"), {"a": first.mention_id, "b": second.mention_id})
    _grouped(db, head, follow)
    assert _esc(db, follow).follow_up_of == head and _esc(db, head).follow_up_of is None
    c = client_for("alice")
    queue = c.get("/queue", params={"status": "resolved"}).text
    row = queue.split(f'id="row-{follow}"')[1].split("</tr>")[0]
    assert "follow-up of" in row and f'href="/escalations/{head}"' in row and ">resolved<" not in row
    page = c.get(f"/escalations/{follow}").text
    assert '<span class="status status-follow-up">follow-up</span>' in page
    assert "<h2>Follow-up</h2>" in page and f"escalation #{head}</a>" in page
    panel = c.get(f"/escalations/{head}").text.split('id="case"')[1].split("</section>")[0]
    assert panel.count('class="pill follow-up"') == 1
    api = c.http.get(f"/api/v1/escalations/{follow}").json()
    assert api["follow_up_of"] == head and api["status"] == "resolved"
    out = io.StringIO()
    export_rows(db, "escalations", "csv", None, out)
    rows = {int(r["id"]): r for r in csv.DictReader(io.StringIO(out.getvalue()))}
    assert rows[follow]["follow_up_of"] == str(head) and rows[head]["follow_up_of"] == ""
    out = io.StringIO()
    export_rows(db, "cases", "jsonl", None, out)
    (case,) = [json.loads(line) for line in out.getvalue().splitlines()
               if json.loads(line)["case_id"] == _esc(db, head).case_id]
    assert len(case["mention_external_ids"]) == 2 and len(case["follow_up_external_ids"]) == 1
    # reopened by hand, it is worked on its own: no longer a follow-up
    assert c.post(f"/escalations/{follow}/reopen", {}).status_code == 303
    assert _esc(db, follow).follow_up_of is None
