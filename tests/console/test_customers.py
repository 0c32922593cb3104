"""The customer directory on SQLite and PostgreSQL: CSV import and the PUT API (audited
links), routing and SLAs by segment through the real pipeline (a platinum customer's
post jumps the queue), the customer id in the escalation payload, the author card, and
erasure on request."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from console.customers_io import import_csv
from listener.pipeline import Pipeline
from listener.types import Author, Batch, Mention
from responders.payloads import build_payload
from responders.publish import PipelineResponders
from socialear.config import parse_rules_text
from socialear.trace import expand
from storage import models as t
from storage.engine import session_scope
from tests.listener.conftest import FEED, pipeline_rules_text

CSV = """customer_id,platform,handle,segment,account_number,ltv_band
C-100,x,@Plat_Pam,platinum,4111 1111 1111 1234,top
C-100,reddit,pam_on_reddit,,,
C-200,x,gold_gus,gold,,
C-300,myspace,tom,standard,,
,x,nobody,gold,,
"""


def _audit(engine: Engine, prefix: str) -> list[tuple[str, str, dict]]:
    at = t.AuditEvent.__table__
    with engine.connect() as conn:
        return [(r.action, r.subject_id, r.details) for r in conn.execute(
            sa.select(at).where(at.c.action.startswith(prefix)).order_by(at.c.id))]


def test_csv_import_links_identities_masks_the_account_and_reports_bad_rows(db: Engine, tmp_path: Path):
    path = tmp_path / "customers.csv"
    path.write_text(CSV)
    result = import_csv(db, path)
    assert result["customers"] == 2 and result["linked"] == 3
    assert [e.split(": ", 1)[0].rsplit(":", 1)[1] for e in result["errors"]] == ["5", "6"]
    assert "platform must be one of" in result["errors"][0] and "customer id ''" in result["errors"][1]
    with session_scope(db) as s:
        pam = s.get(t.Customer, "C-100")
        assert pam is not None and pam.segment == "platinum" and pam.account_masked == "••••1234"
        assert pam.ltv_band == "top"
        idents = sorted((i.platform, i.handle) for i in s.execute(sa.select(t.CustomerIdentity)).scalars())
    assert idents == [("reddit", "pam_on_reddit"), ("x", "gold_gus"), ("x", "plat_pam")]
    assert "4111" not in json.dumps([d for _, _, d in _audit(db, "customer.")])  # never the number
    assert [a for a, _, _ in _audit(db, "customer.linked")] == ["customer.linked"] * 3
    # importing again adds nothing and keeps the segment
    assert import_csv(db, path)["linked"] == 0


def test_cli_import_and_erase(tmp_path: Path):
    from console.cli import app

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    path = tmp_path / "customers.csv"
    path.write_text(CSV)
    runner = CliRunner()
    res = runner.invoke(app, ["customers", "import", str(path), "--database-url", url])
    assert res.exit_code == 1 and "customers 2, identities linked 3, rows refused 2" in res.output
    res = runner.invoke(app, ["customers", "erase", "C-200", "--database-url", url])
    assert res.exit_code == 0 and "erased customer C-200: 1 identities, 0 posts purged" in res.output
    res = runner.invoke(app, ["customers", "erase", "C-200", "--database-url", url])
    assert res.exit_code != 0 and "no customer 'C-200'" in str(res.exception)  # main() prints it


def test_put_customer_replaces_identities_for_leads_only(client_for, db: Engine):
    lead, agent = client_for("lena"), client_for("alice")
    body = {"segment": "Gold", "identities": [{"platform": "x", "handle": "@Dana"}, {"platform": "reddit", "handle": "dana_r"}]}
    headers = {"x-csrf-token": lead.csrf}
    r = lead.http.put("/api/v1/customers/C-9", json=body, headers=headers)
    assert r.status_code == 200 and r.json() == {"id": "C-9", "created": True, "linked": 2, "unlinked": 0}
    r = lead.http.put("/api/v1/customers/C-9", json={"segment": "platinum", "identities": [{"platform": "x", "handle": "dana"}]}, headers=headers)
    assert r.json() == {"id": "C-9", "created": False, "linked": 0, "unlinked": 1}
    assert [(a, d["handle"]) for a, _, d in _audit(db, "customer.") if a != "customer.created"] == [
        ("customer.linked", "dana"), ("customer.linked", "dana_r"), ("customer.unlinked", "dana_r")]
    assert agent.http.put("/api/v1/customers/C-9", json=body, headers={"x-csrf-token": agent.csrf}).status_code == 403
    bad = lead.http.put("/api/v1/customers/C-9", json={"identities": [{"platform": "fax", "handle": "x"}]}, headers=headers)
    assert bad.status_code == 422 and "platform must be one of" in bad.json()["detail"]
    assert lead.http.put("/api/v1/customers/bad id!", json=body, headers=headers).status_code == 422
    with session_scope(db) as s:
        assert s.get(t.Customer, "C-9").segment == "platinum"  # type: ignore[union-attr]


def _rules():
    text = pipeline_rules_text(FEED, Path("unused.jsonl"))
    text = text.replace("routes:\n", "routes:\n  - name: platinum\n    when: {brand: own, segment: platinum, sentiment: negative}\n"
                                      "    escalate: {queue: care, priority: urgent}\n    reply: general\n", 1)
    text = text.replace("queues: [urgent, care]", "queues: [urgent, care]\nsla: {segments: {platinum: {urgent: 10m}}}")
    return parse_rules_text(text)


def _post(ext: str, handle: str, text: str, platform: str = "x") -> Mention:
    return Mention(source="feed", platform=platform, external_id=ext, text=text, created_at=datetime.now(UTC),
                   author=Author(platform=platform, handle=handle))


def test_a_platinum_customers_post_jumps_the_queue_and_carries_the_customer_id(client_for, db: Engine, tmp_path: Path):
    path = tmp_path / "c.csv"
    path.write_text(CSV)
    import_csv(db, path)
    rules = _rules()
    pipe = Pipeline(db, lambda: rules, responders=PipelineResponders())
    pipe.process("feed", Batch([_post("n1", "norm_nora", "Nimbus charged twice this month, awful."),
                                _post("n2", "norm_ned", "Nimbus charged twice again, terrible.")], None), None)
    pipe.process("feed", Batch([_post("p1", "PLAT_PAM", "Nimbus charged twice this month, awful.")], None), None)
    et, mt = t.Escalation.__table__, t.Mention.__table__
    with db.connect() as conn:
        rows = {r.external_id: r for r in conn.execute(sa.select(et, mt.c.external_id).select_from(et.join(mt, mt.c.id == et.c.mention_id)))}
        payload = build_payload(conn, rows["p1"].id)
        other = build_payload(conn, rows["n1"].id)
    pam = rows["p1"]
    assert pam.route == "platinum" and str(getattr(pam.priority, "value", pam.priority)) == "urgent"
    assert abs((pam.sla_due - pam.created_at) - timedelta(minutes=10)) < timedelta(seconds=1)  # the segment's SLA
    assert str(getattr(rows["n1"].priority, "value", rows["n1"].priority)) == "normal"
    assert payload.customer_id == "C-100" and other.customer_id is None
    trace = next(c for step in expand(pam.decision["trace"]) if step["route"] == "platinum" for c in step["conditions"] if c["condition"] == "segment")
    assert trace["actual"] == "platinum" and trace["ok"]
    c = client_for("alice")
    ids = [int(i) for i in re.findall(r'id="row-(\d+)"', c.get("/queue").text)]
    assert ids[0] == pam.id  # first in the queue, ahead of the earlier posts
    # the author card: customer, segment, every identity and the history across platforms
    pipe.process("feed", Batch([_post("r1", "pam_on_reddit", "nimbus app works fine now", "reddit")], None), None)
    page = c.get(f"/escalations/{pam.id}").text
    assert "Customer C-100" in page and "segment-platinum" in page and "••••1234" in page
    # the routing trace, stored positionally (socialear.trace), shown as rules and conditions
    assert "<strong>platinum</strong> matched" in page
    assert "<tr><td>segment</td><td>[&#39;platinum&#39;]</td><td>platinum</td><td>✓</td></tr>" in page
    assert "@pam_on_reddit" in page and "nimbus app works fine now" in page


def test_erase_removes_the_entry_and_the_content_and_keeps_an_audit_row_without_it(db: Engine, tmp_path: Path):
    from storage import customers

    path = tmp_path / "c.csv"
    path.write_text(CSV)
    import_csv(db, path)
    rules = _rules()
    Pipeline(db, lambda: rules, responders=PipelineResponders()).process("feed", Batch([_post("p1", "plat_pam", "Nimbus charged twice, my number is 07700900123, awful")], None), None)
    with session_scope(db) as s:
        counts = customers.erase(s, "lena", "C-100")
    assert counts == {"identities": 2, "posts": 1}
    mt, at = t.Mention.__table__, t.Author.__table__
    with db.connect() as conn:
        m = conn.execute(sa.select(mt)).one()
        assert m.text == "" and m.deleted_at is not None
        assert conn.execute(sa.select(sa.func.count()).select_from(t.Customer.__table__)).scalar_one() == 1  # C-200 stays
        handles = [h.lower() for h in conn.execute(sa.select(at.c.handle)).scalars()]
        assert "plat_pam" not in handles and any(h.startswith("erased-") for h in handles)
        dump = json.dumps([list(map(str, r)) for r in conn.execute(sa.select(t.AuditEvent.__table__))])
        assert "07700900123" not in dump and "plat_pam" not in dump.lower() and "charged twice" not in dump
    erased = _audit(db, "customer.erased")
    assert erased == [("customer.erased", "C-100", {"identities": 2, "posts": 1})]


def test_a_customers_posts_on_two_platforms_are_one_case_and_export_names_the_customer(db: Engine, tmp_path: Path):
    import io

    from console.export import export_rows

    path = tmp_path / "c.csv"
    path.write_text(CSV)
    import_csv(db, path)
    pipe = Pipeline(db, lambda: _rules(), responders=PipelineResponders())
    pipe.process("feed", Batch([_post("x1", "plat_pam", "Nimbus charged twice this month, awful.")], None), None)
    pipe.process("feed", Batch([_post("r1", "pam_on_reddit", "Nimbus charged me twice, awful and no answer", "reddit"),
                                _post("o1", "someone", "Nimbus charged twice, awful.")], None), None)
    out = io.StringIO()
    export_rows(db, "cases", "jsonl", None, out)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    pam = next(r for r in rows if r["customer_id"] == "C-100")
    assert sorted(pam["mention_external_ids"]) == ["r1", "x1"] and len(rows) == 2
    assert next(r for r in rows if r is not pam)["customer_id"] is None
