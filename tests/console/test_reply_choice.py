"""Several reply templates per route, chosen by category and language with a fallback,
through the real pipeline; the agent sees every option with its variables filled in."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from console.web import create_app
from console.web.auth import create_user
from listener.pipeline import Pipeline
from listener.replies import render_named, reply_variables
from listener.types import Author, Batch, Mention
from responders.publish import PipelineResponders
from socialear.config import parse_rules_text
from socialear.errors import UserError
from storage import models as t
from storage.engine import session_scope
from tests.console.conftest import Client
from tests.listener.conftest import FEED, pipeline_rules_text

EXTRA = """
  roaming_refund:
    en: "Hi {{ author }}, we'll refund the roaming charge: DM {{ brand_handle }} the date."
    de: "Hallo {{ author }}, wir erstatten die Roaming-Gebühr: DM an {{ brand_handle }}."
  outage_postcode: {en: "Hi {{ author }}, send us your postcode so we can check your area."}
"""


def rules_text() -> str:
    text = pipeline_rules_text(FEED, Path("unused.jsonl"))
    text = text.replace("    reply: general\n", "    reply: general\n    reply_by_category: {billing: roaming_refund, outage: outage_postcode}\n", 1)
    return text.replace("replies:\n", "replies:" + EXTRA, 1)


def test_category_and_language_pick_the_template_and_fall_back(db: Engine):
    rules = parse_rules_text(rules_text())
    post = [Mention(source="feed", platform="x", external_id=ext, text=text, lang=lang,
                    created_at=datetime.now(UTC), author=Author(platform="x", handle=h, name=name))
            for ext, h, name, text, lang in (
                ("b1", "bea", "Bea", "Nimbus charged twice for roaming, awful", "en"),
                ("c1", "cy", "Cy", "Nimbus support is awful and rude", "en"))]
    Pipeline(db, lambda: rules, responders=PipelineResponders()).process("feed", Batch(post, None), None)
    et, mt = t.Escalation.__table__, t.Mention.__table__
    with db.connect() as conn:
        rows = {r.external_id: r for r in conn.execute(sa.select(et.c.id, et.c.suggested_reply, et.c.decision, mt.c.external_id, mt.c.lang).select_from(et.join(mt, mt.c.id == et.c.mention_id)))}
    assert rows["b1"].decision["reply_template"] == "roaming_refund"
    assert rows["b1"].suggested_reply.startswith("Hi Bea, we'll refund the roaming charge")
    assert rows["c1"].decision["reply_template"] == "general"  # no category listed: the fallback
    # the language: the template's own, else English
    variables = reply_variables(rules, "Nimbus Mobile", "x", "Gerd", "gerd", ["billing"], "care")
    assert render_named(PipelineResponders.render_reply, rules, "roaming_refund", "de", variables, "x").startswith("Hallo Gerd, wir erstatten")
    assert render_named(PipelineResponders.render_reply, rules, "outage_postcode", "de", variables, "x").startswith("Hi Gerd, send us")

    c = Client(create_app(db, lambda: rules))
    with session_scope(db) as s:
        create_user(s, "ann", "correct horse battery", "agent")
    assert c.login("ann", "correct horse battery").status_code == 303
    page = c.get(f"/escalations/{rows['b1'].id}").text
    assert "Suggested replies (3)" in page
    assert "Hi Bea, we&#39;ll refund the roaming charge: DM @NimbusMobile the date." in page
    assert "Hi Bea, send us your postcode" in page and "Hi Bea, sorry to hear that" in page
    assert page.count('data-fill="#tpl-') == 3 and "for billing" in page and "the route&#39;s general reply" in page


def test_an_unknown_template_in_reply_by_category_is_a_rules_error():
    text = rules_text().replace("outage: outage_postcode", "outage: nope")
    with pytest.raises(UserError) as err:
        parse_rules_text(text)
    assert "reply_by_category.outage: unknown reply template 'nope'" in str(err.value)
