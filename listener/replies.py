"""What the pipeline asks of responders, and the suggested reply it stores with each escalation.

Why an interface: the listener takes mentions in and responders send things out, and the
two do not import each other (pyproject.toml's `listener-responders` contract). Yet a new
escalation's suggested reply must be rendered, and a `publish: true` route's reply
queued, in the batch's own transaction, so nothing is stored without them. So the
pipeline asks for exactly that through `Responders`, a Protocol written here, on the side
that uses it; `responders.publish.PipelineResponders` implements it, and the console
(the layer that assembles everything: `socialear run`, `import`, `collect`, the push
webhooks) and the benchmarks hand it to `Pipeline` and `Collector`. The pipeline passes
plain data: a template with its variables, escalation ids.

`render_reply` is also what the prescoring worker renders with (listener.prescoring):
it is handed over pickled, by reference to a module-level function, so the worker needs
nothing built in the parent.

The template choice and its variables are the listener's (the route's template in the
mention's language, falling back to English): the pipeline and the console's template
picker (console.web.reply_options) fill them the same way here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from socialear.config import RulesConfig

if TYPE_CHECKING:
    from listener.analysis import Scored
    from storage.engine import Connection

Render = Callable[[str, Mapping[str, str], str], str]
"""(template, variables, platform) -> the text, fitted to the platform's length."""


class Responders(Protocol):
    """What happens to a batch's new escalations in the batch's transaction, besides storage."""

    def render_reply(self, template: str, variables: Mapping[str, str], platform: str) -> str:
        """A reply template rendered with `variables` and fitted to `platform` (sandboxed)."""
        ...

    def queue_auto_replies(self, conn: Connection, rules: RulesConfig, escalation_ids: Sequence[int]) -> None:
        """Queue the suggested reply of each of these new escalations (their route says
        `publish: true`) on `conn`, or audit why it may not go out."""
        ...


def suggested_reply(render: Render, rules: RulesConfig, s: Scored) -> str:
    """Render the route's template in the mention's language (falling back to English)."""
    variables = reply_variables(rules, s.brand, s.mention.platform,
                                s.mention.author.name or s.mention.author.handle,
                                s.mention.author.handle, list(s.score.categories),
                                s.decision.queue)
    return render_named(render, rules, s.decision.reply_template, s.score.language, variables,
                        s.mention.platform)


def reply_variables(rules: RulesConfig, brand_name: str | None, platform: str, author: str,
                    handle: str, categories: list[str], queue: str | None) -> dict[str, str]:
    """The variables a reply template may use (responders.replies.ALLOWED_VARIABLES); the
    pipeline and the console's template picker fill them the same way."""
    brand = rules.brand(brand_name) if brand_name else None
    brand_handle = ""
    if brand is not None:
        found = brand.handles.get(platform) or next(iter(brand.handles.values()), "")
        brand_handle = f"@{found}" if found else ""
    return {
        "author": author,
        "handle": f"@{handle}",
        "brand": brand_name or "",
        "brand_handle": brand_handle,
        "ticket_link": rules.console_url or "",
        "category": categories[0] if categories else "",
        "queue": queue or "",
    }


def render_named(render: Render, rules: RulesConfig, name: str | None, language: str | None,
                 variables: dict[str, str], platform: str) -> str:
    """Template `name` in `language`, else English, else its first language; "" if none."""
    if not name or name not in rules.replies:
        return ""
    by_lang = rules.replies[name]
    template = by_lang.get(language or "en") or by_lang.get("en") or next(iter(by_lang.values()))
    return render(template, variables, platform)
