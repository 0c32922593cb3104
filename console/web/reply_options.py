"""The replies an agent can choose from on an escalation's page: every template its route
offers (the category-specific ones and the fallback), each rendered with this mention's
variables, so the agent sees exactly what would be sent (#16: a roaming refund routed as
an outage got "send us your postcode")."""

from __future__ import annotations

from typing import Any

from listener.replies import render_named, reply_variables
from responders.replies import render_reply
from socialear.config import RulesConfig
from storage.models import Author, Escalation, Mention


def reply_options(rules: RulesConfig, esc: Escalation, mention: Mention,
                  author: Author | None) -> list[dict[str, Any]]:
    decision = esc.decision or {}
    route = next((r for r in rules.routes if r.name == (decision.get("route") or esc.route)), None)
    names: list[str] = []
    for name in (decision.get("reply_template"), route.reply if route else None,
                 *(route.reply_by_category.values() if route else ())):
        if name and name in rules.replies and name not in names:
            names.append(name)
    handle = author.handle if author else ""
    variables = reply_variables(rules, mention.brand, mention.platform,
                                (author.name or author.handle) if author else "", handle,
                                list(mention.categories or []), esc.queue)
    by_category = {v: k for k, v in (route.reply_by_category.items() if route else ())}
    out = []
    for name in names:
        text = render_named(render_reply, rules, name, mention.lang, variables, mention.platform)
        if not text:
            continue
        why = (f"for {by_category[name].replace('_', ' ')}" if name in by_category
               else "the route's general reply")
        out.append({"name": name, "text": text, "why": why,
                    "chosen": name == decision.get("reply_template")})
    return out
