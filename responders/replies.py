"""Suggested replies: rules.yaml templates rendered safely and fitted to each platform.

Why a sandbox: reply templates come from configuration that community managers edit, and
the values put into them (display names, handles) come from strangers on the internet. An
`ImmutableSandboxedEnvironment` refuses attribute tricks such as `{{ ''.__class__ }}`,
`StrictUndefined` turns a typo such as `{{ autor }}` into an error instead of an empty gap,
and autoescape is off because the output is plain text for a social platform, not HTML
(the console escapes it when it shows it).

Why the length rules: X counts a URL as 23 characters and most CJK and emoji as 2
(twitter-text v3 weights), so `len()` is wrong there. A suggested reply is trimmed on a word
boundary with an ellipsis and never through a URL; an *agent's* edited reply that is too
long is refused with the count (`ReplyTooLong`), never cut silently.

Errors:

    TemplateSyntaxError / UndefinedError / SecurityError ──► ReplyTemplateError (PermanentError)
    agent text longer than the platform allows ────────────► ReplyTooLong (PermanentError)
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2 import StrictUndefined, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from socialear.errors import PermanentError

if TYPE_CHECKING:
    from socialear.config import Problem, RulesConfig

ALLOWED_VARIABLES: frozenset[str] = frozenset(
    {"author", "handle", "brand", "brand_handle", "ticket_link", "category", "queue"}
)

# Characters a public reply may hold. None = no limit we know of (the text is not trimmed).
PLATFORM_LIMITS: dict[str, int] = {
    "x": 280,
    "reddit": 10_000,
    "googleplay": 350,  # developer reply to a review
    "appstore": 5_970,  # developer response to a review
    "facebook": 8_000,  # a comment posted as the Page
}

PLATFORM_NAMES: dict[str, str] = {
    "x": "X",
    "reddit": "Reddit",
    "googleplay": "Google Play",
    "appstore": "the App Store",
    "facebook": "Facebook",
}

ELLIPSIS = "\u2026"

# twitter-text v3: code points in these ranges weigh 1, every other one weighs 2; URLs 23.
X_URL_WEIGHT = 23
_X_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
_URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
_URL_TRAILING_PUNCT = ".,:;!?)]}'\""
_VARIATION_SELECTORS = (0xFE0E, 0xFE0F)
_ZWJ = 0x200D


class ReplyTemplateError(PermanentError):
    """A reply template cannot be rendered (syntax, unknown variable, or a sandbox refusal)."""


class ReplyTooLong(PermanentError):
    """An agent's reply is longer than the platform allows; carries the count and the limit."""

    def __init__(self, length: int, limit: int, platform: str):
        self.length = length
        self.limit = limit
        self.platform = platform
        name = PLATFORM_NAMES.get(platform, platform)
        super().__init__(f"reply is {length} characters; {name} allows {limit}")


def _environment() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=False)


_ENV = _environment()


def make_environment() -> ImmutableSandboxedEnvironment:
    """A fresh sandboxed environment, for other plain-text templates (e.g. ticket fields)."""
    return _environment()


def template_variables(source: str) -> set[str]:
    """Variables a template reads; config validation rejects those not in ALLOWED_VARIABLES.

    Raises jinja2.TemplateSyntaxError (with `.lineno`) for a template that does not parse.
    """
    return set(meta.find_undeclared_variables(_ENV.parse(source)))


def unknown_variables(source: str) -> set[str]:
    """Variables a template reads that a reply template may not use."""
    return template_variables(source) - ALLOWED_VARIABLES


def check_rules(cfg: RulesConfig) -> list[Problem]:
    """rules.yaml check (entry point `socialear.checks`): every reply template parses and
    reads only the variables a reply is given."""
    from socialear.config import Problem

    problems = []
    allowed = ", ".join(sorted(ALLOWED_VARIABLES))
    for name, by_lang in cfg.replies.items():
        for lang, text in by_lang.items():
            loc = ("replies", name, lang)
            try:
                unknown = unknown_variables(text)
            except jinja2.TemplateSyntaxError as exc:
                problems.append(Problem(loc, f"replies.{name}.{lang}: template syntax error: {exc.message}"))
                continue
            for var in sorted(unknown):
                problems.append(Problem(loc, f"replies.{name}.{lang}: unknown variable {var!r} (allowed: {allowed})"))
    return problems


def reply_variables(payload: Any, *, brand_handle: str = "", ticket_link: str = "") -> dict[str, str]:
    """The reply variables for an EscalationPayload (plain data, any object with its fields)."""
    author = payload.author or {}
    handle = str(author.get("handle") or "").lstrip("@")
    return {
        "author": str(author.get("name") or handle),
        "handle": f"@{handle}" if handle else "",
        "brand": payload.brand or "",
        "brand_handle": brand_handle,
        "ticket_link": ticket_link or (payload.console_url or ""),
        "category": payload.categories[0] if payload.categories else "",
        "queue": payload.queue,
    }


@functools.lru_cache(maxsize=256)
def _compiled(template: str) -> jinja2.Template:
    """Templates come from rules.yaml and repeat for every escalation: compile each once."""
    return _ENV.from_string(template)


@functools.lru_cache(maxsize=256)
def _plain(template: str) -> tuple[tuple[bool, str], ...] | None:
    """A template that is only text and `{{ variable }}`s (every shipped one), as its parts
    (is a variable, text or name), from jinja's own parse; None for anything else (filters,
    tags, expressions), which jinja renders. Jinja outputs such a template as its text and
    its variables' values; rendering it takes a join instead of a new context and a
    generator (it was most of the prescoring worker's reply, ~20 us an escalation)."""
    try:
        tree = _ENV.parse(template)
    except jinja2.TemplateSyntaxError:
        return None  # jinja's path raises it, as ReplyTemplateError
    parts: list[tuple[bool, str]] = []
    for output in tree.body:
        if not isinstance(output, nodes.Output):
            return None
        for node in output.nodes:
            if type(node) is nodes.TemplateData:
                parts.append((False, node.data))
            elif type(node) is nodes.Name and node.ctx == "load":
                parts.append((True, node.name))
            else:
                return None
    return tuple(parts)


def render_template(template: str, variables: Mapping[str, Any]) -> str:
    """Render a reply template in the sandbox, with only the allowed variables visible."""
    plain = _plain(template)
    if plain is not None:  # text and variables: what jinja makes of it, joined here
        out = []
        for is_name, text in plain:
            if not is_name:
                out.append(text)
                continue
            value = variables.get(text) if text in ALLOWED_VARIABLES else None
            if value.__class__ is not str:
                break  # not given (StrictUndefined raises), or not a str: jinja's path
            out.append(value)
        else:
            return "".join(out).strip()
    visible = {k: v for k, v in variables.items() if k in ALLOWED_VARIABLES}
    try:
        return _compiled(template).render(visible).strip()
    except SecurityError as exc:
        raise ReplyTemplateError(f"reply template refused by the sandbox: {exc}") from exc
    except jinja2.UndefinedError as exc:
        raise ReplyTemplateError(
            f"reply template: {exc}; allowed variables: {', '.join(sorted(ALLOWED_VARIABLES))}"
        ) from exc
    except jinja2.TemplateSyntaxError as exc:
        raise ReplyTemplateError(f"reply template line {exc.lineno}: {exc.message}") from exc


def render_reply(template: str, variables: Mapping[str, Any], platform: str) -> str:
    """Render a suggested reply and trim it to the platform's limit."""
    return trim_to_limit(render_template(template, variables), platform)


def _x_code_point_weight(cp: int) -> int:
    for low, high in _X_LIGHT_RANGES:
        if low <= cp <= high:
            return 1
    return 2


def _is_emoji(cp: int) -> bool:
    return cp >= 0x1F000 or 0x2600 <= cp <= 0x27BF


def _x_text_weight(text: str) -> int:
    """Weight of text with no URL in it. Emoji sequences (ZWJ, skin tones, VS16) count once."""
    if text.isascii() or max(text) <= "\u10ff":
        return len(text)  # every code point below U+10FF weighs 1 (the common case, and fast)
    total = 0
    previous_emoji = False
    joined = False
    for ch in text:
        cp = ord(ch)
        if cp in _VARIATION_SELECTORS or 0x1F3FB <= cp <= 0x1F3FF:
            continue  # presentation selector or skin tone: part of the emoji before it
        if cp == _ZWJ and previous_emoji:
            joined = True
            continue
        if joined and _is_emoji(cp):
            joined = False
            continue  # the next part of a ZWJ sequence: the sequence counts once
        joined = False
        previous_emoji = _is_emoji(cp)
        total += _x_code_point_weight(cp)
    return total


def _split_urls(text: str) -> list[tuple[str, bool]]:
    """Split text into (chunk, is_url) parts; trailing punctuation is not part of a URL."""
    parts: list[tuple[str, bool]] = []
    position = 0
    for match in _URL_RE.finditer(text):
        url = match.group(0).rstrip(_URL_TRAILING_PUNCT)
        start, end = match.start(), match.start() + len(url)
        if start > position:
            parts.append((text[position:start], False))
        parts.append((url, True))
        position = end
    if position < len(text):
        parts.append((text[position:], False))
    return parts


def x_weighted_length(text: str) -> int:
    """Length of text as X counts it: NFC, URLs 23, twitter-text v3 code point weights."""
    text = unicodedata.normalize("NFC", text)
    return sum(X_URL_WEIGHT if is_url else _x_text_weight(chunk) for chunk, is_url in _split_urls(text))


def reply_length(text: str, platform: str) -> int:
    """Length of text as the platform counts it."""
    if platform == "x":
        return x_weighted_length(text)
    return len(text)


def check_reply_length(text: str, platform: str) -> None:
    """Refuse an agent's reply that the platform would reject, saying by how much."""
    limit = PLATFORM_LIMITS.get(platform)
    if limit is None:
        return
    length = reply_length(text, platform)
    if length > limit:
        raise ReplyTooLong(length, limit, platform)


def trim_to_limit(text: str, platform: str) -> str:
    """Trim on a word boundary with an ellipsis so the text fits; URLs are kept whole or dropped."""
    limit = PLATFORM_LIMITS.get(platform)
    if limit is None or reply_length(text, platform) <= limit:
        return text
    budget = limit - reply_length(ELLIPSIS, platform)
    tokens = re.findall(r"\s+|\S+", text)
    kept: list[str] = []
    used = 0
    for token in tokens:
        weight = reply_length(token, platform)
        if used + weight > budget:
            if not kept and not _URL_RE.match(token):
                kept.append(_cut_word(token, budget, platform))  # one giant word: cut it
            break
        kept.append(token)
        used += weight
    trimmed = "".join(kept).rstrip()
    if trimmed.endswith((",", ";", ":")):
        trimmed = trimmed[:-1]  # "thanks, …" reads better as "thanks…"; a URL never ends in these
    return trimmed + ELLIPSIS


def _cut_word(word: str, budget: int, platform: str) -> str:
    if platform != "x":
        return word[:budget]
    out = ""
    for ch in word:
        if reply_length(out + ch, platform) > budget:
            break
        out += ch
    return out
