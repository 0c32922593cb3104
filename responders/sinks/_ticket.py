"""What a contact-centre ticket says, shared by the Zendesk and Freshdesk sinks.

Why one internal note holds everything (mention, author reach and history, sentiment,
urgency signals, the rule that fired, the suggested reply): the agent must never make the
customer repeat themselves, and must see why the machine escalated. It is one comment
because a ticket is created by one call; a second call for a second note could fail on its
own and break "exactly one ticket, complete". The note is internal (`public: false`): it
is context for the agent, not a message to the customer.

Untrusted text stays text: mention text goes into a plain-text body verbatim (Zendesk
`comment.body`), or HTML-escaped where the vendor wants HTML (Freshdesk `description`).
Lone surrogates (which no vendor's UTF-8 JSON parser accepts) become U+FFFD in tickets so a
single stray code unit cannot dead-letter an escalation; everything else arrives intact.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from jinja2 import TemplateError, TemplateSyntaxError, meta

from responders.replies import make_environment
from responders.types import EscalationPayload
from socialear.errors import PermanentError, RateLimited, RetryableError

PLACEHOLDER_DOMAIN = "social.invalid"  # RFC 2606: never delivers, so ticket triggers mail nobody
PLATFORM_NAMES = {
    "x": "X",
    "twitter": "X",
    "reddit": "Reddit",
    "trustpilot": "Trustpilot",
    "googleplay": "Google Play",
    "appstore": "App Store",
}
FIELD_VARIABLES = frozenset(
    {
        "escalation_id", "idempotency_key", "brand", "competitor", "route", "queue", "priority",
        "mention", "author", "sentiment", "urgency", "urgency_signals", "categories", "tags",
        "suggested_reply", "decision", "history", "repeat_contact", "console_url",
        "handle", "platform", "case_id", "case_ticket", "customer_id",
    }
)  # fmt: skip
_FIELD_ENV = make_environment()
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def scrub_surrogates(text: str) -> str:
    """Join valid surrogate pairs, replace lone surrogates with U+FFFD; other text unchanged."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def scrub(value: Any) -> Any:
    """scrub_surrogates applied through a JSON-like structure."""
    if isinstance(value, str):
        return scrub_surrogates(value)
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def one_line(text: str, limit: int = 120) -> str:
    """Untrusted text made safe for a subject line: no newlines, bidi or zero-width controls."""
    flat = " ".join(_CONTROL.sub(" ", scrub_surrogates(text)).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "\u2026"


def platform_name(payload: EscalationPayload) -> str:
    platform = str(payload.mention.get("platform") or payload.author.get("platform") or "")
    return PLATFORM_NAMES.get(platform, platform.replace("_", " ").title() or "social")


def handle_of(payload: EscalationPayload) -> str:
    return str(payload.author.get("handle") or "").lstrip("@")


def subject(payload: EscalationPayload) -> str:
    """ "[Nimbus Mobile] outage-urgent: @jen_k on X"."""
    brand = payload.brand or ("competitor" if payload.competitor else "socialear")
    who = f"@{handle_of(payload)}" if handle_of(payload) else "someone"
    return one_line(f"[{brand}] {payload.route}: {who} on {platform_name(payload)}", 150)


def normalise_tag(value: str) -> str:
    """Zendesk/Freshdesk tag rules: lowercase, no spaces; keep letters, digits, _ - / : ."""
    tag = re.sub(r"[^\w\-/:.]+", "_", scrub_surrogates(value).strip().lower())
    return tag.strip("_")[:80]


def ticket_tags(payload: EscalationPayload, extra: list[str] | None = None) -> list[str]:
    """Route, categories, source, brand and the decision's tags, normalised and de-duplicated."""
    raw = [
        "socialear",
        payload.route,
        *payload.categories,
        *payload.tags,
        str(payload.mention.get("source") or ""),
        str(payload.mention.get("platform") or ""),
        payload.brand or "",
        *(extra or []),
    ]
    tags: list[str] = []
    for value in raw:
        tag = normalise_tag(value) if value else ""
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def requester(payload: EscalationPayload, domain: str = PLACEHOLDER_DOMAIN) -> dict[str, str]:
    """A stable placeholder identity, so one social author maps to one contact across tickets."""
    platform = normalise_tag(str(payload.author.get("platform") or payload.mention.get("platform") or "social"))
    local = re.sub(r"[^a-z0-9._-]+", "_", handle_of(payload).lower()).strip("._") or "unknown"
    name = one_line(str(payload.author.get("name") or handle_of(payload) or "unknown"), 100)
    return {"name": name, "email": f"{platform}-{local}@{domain}"[:254]}


def _history_line(item: dict[str, Any]) -> str:
    when = item.get("created_at") or item.get("at") or ""
    kind = item.get("kind") or item.get("route") or item.get("source") or ""
    status = item.get("status") or item.get("sentiment") or ""
    text = one_line(str(item.get("text") or item.get("summary") or ""), 160)
    url = item.get("url") or ""
    parts = [str(p) for p in (when, kind, status) if p]
    return "- " + " · ".join(parts) + (f": {text}" if text else "") + (f" {url}" if url else "")


CASE_MARK = "socialear-key: "


def follow_up_text(payload: EscalationPayload) -> str:
    """The comment a case's follow-up post adds to the case's ticket: the post and its
    context, ending with a marker line that lets a retry see the comment is already there."""
    return (f"Follow-up in case {payload.case_id} (another post from the same customer)\n\n"
            f"{context_text(payload)}\n\n{CASE_MARK}{payload.idempotency_key}")


def has_mark(text: str | None, key: str) -> bool:
    """True when a ticket comment is the follow-up for `key` (see `follow_up_text`)."""
    return bool(text) and f"{CASE_MARK}{key}" in str(text)


def context_text(payload: EscalationPayload) -> str:
    """The internal note: everything the agent needs, mention text verbatim (plain text)."""
    m, a, s = payload.mention, payload.author, payload.sentiment
    lines = [
        f"{payload.brand or 'No brand'} · route {payload.route} → queue {payload.queue} · "
        f"priority {payload.priority}" + (" · COMPETITOR mention" if payload.competitor else ""),
    ]
    if payload.customer_id:
        lines.append(f"Customer: {payload.customer_id}")
    if payload.repeat_contact:
        lines.append(f"Repeat contact: {len(payload.history)} earlier contact(s) from this author.")
    lines += ["", f"Mention on {platform_name(payload)} ({m.get('created_at', 'unknown time')})"]
    for key, label in (
        ("url", "Link"),
        ("title", "Title"),
        ("rating", "Rating"),
        ("lang", "Language"),
    ):
        if m.get(key) not in (None, ""):
            lines.append(f"{label}: {m[key]}")
    lines += ["-----", str(m.get("text") or ""), "-----", ""]
    reach = [f"{a['followers']:,} followers" if isinstance(a.get("followers"), int) else ""]
    reach.append("verified" if a.get("verified") else "")
    who = f"{a.get('name') or ''} (@{handle_of(payload)})".strip()
    lines.append("Author: " + " · ".join(p for p in [who, *reach] if p))
    if payload.history:
        lines.append("History:")
        lines += [_history_line(h) for h in payload.history[:10]]
        if len(payload.history) > 10:
            lines.append(f"- … and {len(payload.history) - 10} more")
    lines += ["", f"Sentiment: {s.get('label', '?')} (compound {s.get('compound', '?')})"]
    reasons = s.get("reasons")
    if reasons:
        lines.append("  reasons: " + (", ".join(map(str, reasons)) if isinstance(reasons, list) else str(reasons)))
    lines.append(f"Urgency: {payload.urgency}/100")
    for signal, weight in sorted(payload.urgency_signals.items(), key=lambda kv: -abs(kv[1])):
        lines.append(f"  {signal}: {weight:+g}")
    if payload.categories:
        lines.append("Categories: " + ", ".join(payload.categories))
    rule = payload.decision.get("rule") or payload.route
    lines += ["", f"Rule that fired: {rule}"]
    for key, value in payload.decision.items():
        if key != "rule":
            lines.append(f"  {key}: {value}")
    if payload.console_url:
        lines.append(f"Console: {payload.console_url}")
    lines += [
        "",
        "Suggested reply (a draft: edit it, nothing is posted automatically):",
        payload.suggested_reply or "(none)",
    ]
    return scrub_surrogates("\n".join(lines))


def context_html(payload: EscalationPayload) -> str:
    """The same note for vendors that take HTML: every character escaped, newlines as <br>."""
    escaped = html.escape(context_text(payload), quote=True)
    return "<div>" + escaped.replace("\n", "<br>\n") + "</div>"


def check_field_template(template: str) -> str:
    """Validate a custom-field value template at config load; returns it unchanged."""
    try:
        names = set(meta.find_undeclared_variables(_FIELD_ENV.parse(template)))
    except TemplateSyntaxError as exc:
        raise ValueError(f"template line {exc.lineno}: {exc.message}") from exc
    unknown = names - FIELD_VARIABLES
    if unknown:
        raise ValueError(
            f"unknown variable(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(FIELD_VARIABLES))}"
        )
    return template


K = TypeVar("K")


def check_field_templates(fields: dict[K, str]) -> dict[K, str]:
    """`check_field_template` for each custom field ({field name or id: template}); the
    error names the field. Returns the mapping unchanged."""
    for key, template in fields.items():
        try:
            check_field_template(template)
        except ValueError as exc:
            raise ValueError(f"custom field {key}: {exc}") from exc
    return fields


def check_subdomain(value: str, what: str) -> str:
    """A vendor account's subdomain (the `x` of x.zendesk.com / x.freshdesk.com)."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", value):
        raise ValueError(f"a {what}: lowercase letters, digits and '-' only")
    return value


def render_field(template: str, payload: EscalationPayload) -> str:
    """Render a custom-field value template (sandboxed, strict) from the payload."""
    variables = payload.to_dict()
    variables["handle"] = handle_of(payload)
    variables["platform"] = str(payload.mention.get("platform") or "")
    try:
        rendered = _FIELD_ENV.from_string(template).render(variables)
    except TemplateError as exc:
        raise PermanentError(f"custom field template {template!r}: {exc}") from exc
    return scrub_surrogates(rendered.strip())


@contextmanager
def tracking_ambiguity(ambiguous: set[str], key: str) -> Iterator[None]:
    """A write to the contact centre that may or may not have landed. A retryable failure
    (other than a 429, answered before anything is written) marks `key` ambiguous, so the
    next attempt looks for the earlier write before writing again; success clears it."""
    try:
        yield
    except RateLimited:
        raise
    except RetryableError:
        ambiguous.add(key)
        raise
    ambiguous.discard(key)


def text_or_none(value: Any) -> str | None:
    """A webhook field as stripped text; None when absent or blank."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None
