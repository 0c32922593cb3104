"""The rules.yaml schema, and the loader that refuses a bad file with `PATH:LINE:COL`.

Why this shape:
- Every model forbids unknown keys, so a typo (`escalte:`) is an error, not a silent no-op.
- Validation runs once, at load, in two passes: pydantic checks types and shapes; then
  `_cross_check` checks what pydantic cannot see alone (a route naming an unknown queue,
  template or category; a boolean query or regex that does not compile; a reply template
  using a variable nobody provides; source/sink options against the component's own
  `Options` model). Both passes report *every* problem, each mapped back to the line and
  column of the YAML node it concerns, using ruamel.yaml's position data.
- A reload that fails leaves the last good rules in force (`RulesWatcher`).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from socialear.components import RULE_CHECKS, SINK_COMPONENTS, SOURCE_COMPONENTS, Component, Registry, options_model
from socialear.errors import ConfigError, UserError

log = logging.getLogger(__name__)

Priority = Literal["low", "normal", "high", "urgent"]
SentimentLabel = Literal["negative", "neutral", "positive"]
URGENCY_SIGNALS = (
    "negativity",
    "severity",
    "reach",
    "engagement",
    "addressed",
    "help_request",
    "repeat_contact",
    "pile_on",
    "urgent_words",
)

_DURATION_RE = re.compile(r"^\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$")


def parse_duration(text: str | int | float) -> timedelta:
    """`90s`, `2m`, `1h30m`, `7d` (or a bare number of seconds) as a timedelta."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return timedelta(seconds=float(text))
    match = _DURATION_RE.match(str(text))
    if not match or not any(match.groups()):
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 2m, 1h30m, 7d)")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


# validated durations, parsed once: the pipeline asks for an SLA for every escalation
_cached_duration = lru_cache(maxsize=512, typed=True)(parse_duration)


def _as_list(value: Any) -> Any:
    """Let `source: x-main` stand for `source: [x-main]`."""
    if value is None or isinstance(value, list):
        return value
    return [value]


StrList = Annotated[list[str], BeforeValidator(_as_list)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Duration(str):
    """A duration string validated at load."""


def _check_duration(value: Any) -> str:
    parse_duration(value)
    return str(value)


DurationStr = Annotated[str, BeforeValidator(_check_duration)]


class Brand(Strict):
    name: str = Field(min_length=1)
    query: str = Field(
        min_length=1, description='Boolean query: terms, "phrases", AND/OR/NOT, -term, (), @handle, #tag, word*, NEAR/n'
    )
    handles: dict[str, str] = Field(
        default_factory=dict, description="platform -> handle without @, e.g. {x: NimbusMobile}"
    )
    competitor: bool = False


class Schedule(Strict):
    every: DurationStr | None = None
    cron: str | None = None
    jitter: DurationStr = "0s"

    @field_validator("cron")
    @classmethod
    def _cron_ok(cls, value: str | None) -> str | None:
        if value is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(value)
            except ValueError as exc:
                raise ValueError(f"invalid cron expression {value!r}: {exc}") from None
        return value

    def model_post_init(self, _: Any) -> None:
        if (self.every is None) == (self.cron is None):
            raise ValueError("schedule needs exactly one of `every` or `cron`")


class SourceConfig(Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    type: str
    schedule: Schedule = Field(default_factory=lambda: Schedule(every="2m"))
    enabled: bool = True
    brands: StrList | None = Field(default=None, description="brand names this source listens for; default all")
    publish_replies: bool = Field(default=False, description="post approved replies on the platform")
    options: dict[str, Any] = Field(default_factory=dict)
    expected_update_period: str | None = Field(
        default=None,
        description="e.g. 3d: longer than this with nothing stored shows the source as silent "
        "(default: the source type's own period)",
    )

    @field_validator("expected_update_period")
    @classmethod
    def _period(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value).total_seconds() <= 0:
            raise ValueError("must be a positive duration such as 12h or 7d")
        return value


class Category(Strict):
    name: str = Field(min_length=1, pattern=r"^[a-z0-9_]+$")
    severity: int = Field(ge=1, le=5, description="1 general .. 5 safety/outage")
    phrases: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list, description="regular expressions (RE2 syntax, case-insensitive)")
    description: str = ""


class Range(Strict):
    min: float | None = None
    max: float | None = None

    def contains(self, value: float | None) -> bool:
        if value is None:
            return False
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


class ProbabilityRange(Range):
    """A range of a probability (0..1)."""

    min: float | None = Field(default=None, ge=0.0, le=1.0)
    max: float | None = Field(default=None, ge=0.0, le=1.0)


OperatorKind = Literal["brand", "member", "range", "flag", "any_of", "regex"]


@dataclass(frozen=True)
class Operator:
    """How a `when:` condition tests the mention's routing fact of the same name. Declared
    once, on the `When` field (`Annotated[..., Operator(...)]`), next to its help text (the
    field's description): routing (`listener.routing`) compiles each kind into one
    predicate used by both the fast and the explained path, and the JSON Schema and the
    README's list of conditions (`when_help`) are derived from the same fields.

    brand    own | competitor | any | brand names      member  the fact is one of the values
    range    {min, max}, either optional               flag    the fact equals true/false
    any_of   the fact (a list) shares a value          regex   RE2 search, case-insensitive
    """

    kind: OperatorKind
    digits: int | None = None  # round the fact to this many digits when explaining


class When(Strict):
    """Conditions of a route; all that are set must hold. Explanations list them in this order."""

    brand: Annotated[StrList | None, Operator("brand")] = Field(
        default=None, description="own | competitor | any | brand names")
    source: Annotated[StrList | None, Operator("member")] = Field(
        default=None, description="configured source names")
    platform: Annotated[StrList | None, Operator("member")] = Field(
        default=None, description="platforms, e.g. x, reddit, appstore")
    sentiment: Annotated[Annotated[list[SentimentLabel], BeforeValidator(_as_list)] | None, Operator("member")] = Field(
        default=None, description="sentiment labels: negative, neutral, positive")
    compound: Annotated[Range | None, Operator("range", digits=3)] = Field(
        default=None, description="the care-adjusted sentiment score, -1..1, e.g. {max: -0.5}")
    negative_probability: Annotated[ProbabilityRange | None, Operator("range")] = Field(
        default=None,
        description="the scorer's calibrated P(negative), 0..1, e.g. {min: 0.7}; never matches a mention "
        "without probabilities (rules-only scoring, a language the model does not score)",
    )
    urgency: Annotated[Range | None, Operator("range")] = Field(
        default=None, description="the urgency score, 0..100, e.g. {min: 60}")
    categories: Annotated[StrList | None, Operator("any_of")] = Field(
        default=None, description="matches if any of these categories")
    followers: Annotated[Range | None, Operator("range")] = Field(
        default=None, description="the author's followers, e.g. {min: 10000}")
    verified: Annotated[bool | None, Operator("flag")] = Field(
        default=None, description="the author's account is verified")
    language: Annotated[StrList | None, Operator("member")] = Field(
        default=None, description="detected languages, e.g. [en, de]")
    question: Annotated[bool | None, Operator("flag")] = Field(
        default=None, description="the mention asks a question")
    segment: Annotated[StrList | None, Operator("member")] = Field(
        default=None, description="the author's customer segment (customer directory), e.g. platinum")
    text: Annotated[str | None, Operator("regex")] = Field(
        default=None, description="regular expression (RE2 syntax), case-insensitive")


def when_operators() -> dict[str, Operator]:
    """Each `when:` condition's operator, in declaration (and explanation) order."""
    out: dict[str, Operator] = {}
    for name, info in When.model_fields.items():
        found = [m for m in info.metadata if isinstance(m, Operator)]
        if len(found) != 1:
            raise TypeError(f"When.{name} must declare exactly one Operator")
        out[name] = found[0]
    return out


def when_help() -> str:
    """The README's list of `when:` conditions, derived from `When` (a test keeps the
    README equal to it)."""
    lines = []
    for name, operator in when_operators().items():
        description = When.model_fields[name].description or ""
        lines.append(f"  - `{name}` ({operator.kind.replace('_', ' ')}): {description}")
    return "\n".join(lines)


class Escalate(Strict):
    queue: str
    priority: Priority = "normal"


class Route(Strict):
    name: str = Field(min_length=1)
    when: When = Field(default_factory=When)
    escalate: Escalate | None = None
    reply: str | None = Field(default=None, description="name of a template under `replies`")
    reply_by_category: dict[str, str] = Field(
        default_factory=dict,
        description="category -> template name: the mention's first category listed here picks "
                    "the suggested reply; `reply` is the fallback. The agent can pick any of them.")
    tags: list[str] = Field(default_factory=list)
    alert: bool = False
    ignore: bool = False
    publish: bool = Field(default=False, description="auto-post the reply in public (off unless explicit)")
    sinks: StrList | None = Field(default=None, description="sink names; default all enabled sinks")
    continue_: bool = Field(default=False, alias="continue")


class SinkRetry(Strict):
    """How long a sink's escalations are retried and when its circuit breaker opens."""

    max_age: DurationStr = Field(default="24h", description="retry a delivery until it is this old, then dead-letter it")
    open_after: int = Field(default=3, ge=1, description="consecutive failures that open the breaker (a 429 opens it at once)")
    probe_max: DurationStr = Field(default="15s", description="longest wait between probes while the sink is down")


class SinkConfig(Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    type: str
    enabled: bool = True
    options: dict[str, Any] = Field(default_factory=dict)
    retry: SinkRetry = Field(default_factory=SinkRetry)


class ReportDigest(Strict):
    """A scheduled competitor report (`reports:`): who gets which report when."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    schedule: str = Field(description="cron expression, UTC, e.g. '0 8 * * MON'")
    period: DurationStr = Field(default="7d", description="the report covers the last PERIOD")
    brands: StrList | None = Field(default=None, description="brand names; default all")
    interval: Literal["hour", "day", "week"] | None = None
    recipients: list[str] = Field(
        default_factory=list, description="apprise URLs (mailto://, slack://, msteams://, ...)")
    recipients_env: str | None = Field(
        default=None, description="environment variable with more apprise URLs (they hold secrets)")
    format: Literal["auto", "html", "summary"] = Field(
        default="auto", description="auto: the HTML report to email URLs, a summary with a link to chat")
    enabled: bool = True

    @field_validator("schedule")
    @classmethod
    def _cron_ok(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value)
        except ValueError as exc:
            raise ValueError(f"invalid cron expression {value!r}: {exc}") from None
        return value


class UrgencyWeights(Strict):
    negativity: float = 30
    severity: float = 20
    reach: float = 12
    engagement: float = 6
    addressed: float = 8
    help_request: float = 6
    repeat_contact: float = 8
    pile_on: float = 6
    urgent_words: float = 4


class Urgency(Strict):
    weights: UrgencyWeights = Field(default_factory=UrgencyWeights)
    pile_on_window: DurationStr = "1h"
    pile_on_threshold: int = Field(default=5, ge=2)
    reach_followers_high: int = Field(default=100_000, ge=1, description="followers that count as full reach")
    engagement_high: int = Field(default=1000, ge=1, description="likes+reposts+replies that count as fully spread")


class Scoring(Strict):
    sentiment: Literal["learned", "rules"] = Field(
        default="learned",
        description="learned: a logistic layer trained on labelled posts decides the label from the cues "
        "(better recall and macro-F1; ~20% slower); rules: the sign of the care-adjusted compound",
    )


class Sla(Strict):
    urgent: DurationStr = "30m"
    high: DurationStr = "2h"
    normal: DurationStr = "8h"
    low: DurationStr = "24h"
    segments: dict[str, dict[Priority, DurationStr]] = Field(
        default_factory=dict,
        description="per customer segment, SLAs that replace the ones above, e.g. "
                    "{platinum: {urgent: 10m, high: 30m}}")

    def due_after(self, priority: str, segment: str | None = None) -> timedelta:
        # a plain str priority (stored rows carry strings); the keys are its Literal values
        override = self.segments.get(segment or "", {}).get(priority)  # type: ignore[call-overload]
        return _cached_duration(override or getattr(self, priority))


class RulesConfig(Strict):
    """The whole rules.yaml."""

    version: Literal[1] = 1
    brands: list[Brand] = Field(min_length=1)
    sources: list[SourceConfig] = Field(default_factory=list)
    lexicon: dict[str, float] = Field(
        default_factory=dict, description="word or phrase -> valence (-4..4), added to VADER's"
    )
    categories: list[Category] = Field(default_factory=list)
    urgency: Urgency = Field(default_factory=Urgency)
    scoring: Scoring = Field(default_factory=Scoring)
    queues: list[str] = Field(default_factory=lambda: ["care"])
    sla: Sla = Field(default_factory=Sla)
    routes: list[Route] = Field(default_factory=list)
    replies: dict[str, dict[str, str]] = Field(default_factory=dict, description="template name -> {language: text}")
    sinks: list[SinkConfig] = Field(default_factory=list)
    console_url: str | None = Field(default=None, description="base URL used for ticket links")
    reports: list[ReportDigest] = Field(
        default_factory=list, description="scheduled competitor reports (digests) and their recipients")
    retention: dict[str, Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict,
        description="days to keep mention text per platform (x, reddit, ...; `default` for the rest); "
        "unset keeps it forever. Applied daily; audit rows are kept",
    )

    @field_validator("lexicon")
    @classmethod
    def _valence_range(cls, value: dict[str, float]) -> dict[str, float]:
        for word, valence in value.items():
            if not -4.0 <= valence <= 4.0:
                raise ValueError(f"valence of {word!r} is {valence}; VADER valences lie in -4..4")
        return value

    # -- lookups used across the code base ------------------------------------------
    def brand(self, name: str) -> Brand | None:
        return next((b for b in self.brands if b.name == name), None)

    def category(self, name: str) -> Category | None:
        return next((c for c in self.categories if c.name == name), None)

    def source(self, name: str) -> SourceConfig | None:
        return next((s for s in self.sources if s.name == name), None)


# ---------------------------------------------------------------------------------------
# Loading: YAML with positions -> pydantic -> cross-checks -> PATH:LINE:COL errors
# ---------------------------------------------------------------------------------------

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    loc: Loc
    message: str
    at_key: bool = False  # point at the key (unknown key) rather than its value
    offset: int = 0  # column offset inside the value (e.g. a query's parse error column)


def _position(data: Any, loc: Loc, *, at_key: bool) -> tuple[int, int]:
    """Line/column (1-based) of the YAML node at `loc`; the nearest ancestor if it is absent."""
    line, col = 0, 0
    node = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, CommentedMap) and part in node:
            pos = node.lc.key(part) if (last and at_key) else node.lc.value(part)
            line, col = pos[0], pos[1]
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line, col = node.lc.item(part)
            node = node[part]
        else:
            if i == 0 and hasattr(node, "lc"):
                line, col = node.lc.line, node.lc.col
            break
    return line + 1, col + 1


def _format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _pydantic_problems(exc: ValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if isinstance(p, int | str))
        # drop pydantic's synthetic union/function labels that are not keys in the file
        loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
        kind = err["type"]
        msg = err["msg"]
        if kind == "extra_forbidden":
            msg = f"unknown key {loc[-1]!r}"
        elif kind == "missing":
            msg = f"missing required key {loc[-1]!r}"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        where = _format_loc(loc)
        problems.append(Problem(loc, f"{where}: {msg}" if where else msg, at_key=kind == "extra_forbidden"))
    return problems


def _dup_names(items: Iterable[Any], section: str) -> list[Problem]:
    seen: set[str] = set()
    problems = []
    for i, item in enumerate(items):
        if item.name in seen:
            problems.append(Problem((section, i, "name"), f"{section}[{i}].name: duplicate name {item.name!r}"))
        seen.add(item.name)
    return problems


Checker = Callable[[RulesConfig], list[Problem]]


def _cross_check(cfg: RulesConfig) -> list[Problem]:
    problems: list[Problem] = []
    for section in ("brands", "sources", "routes", "sinks", "categories"):
        problems += _dup_names(getattr(cfg, section), section)

    for i, cat in enumerate(cfg.categories):
        for j, pattern in enumerate(cat.patterns):
            if err := _regex_error(pattern):
                problems.append(
                    Problem(("categories", i, "patterns", j), f"categories[{i}].patterns[{j}]: invalid regex (RE2): {err}")
                )

    brand_names = {b.name for b in cfg.brands}
    source_names = {s.name for s in cfg.sources}
    sink_names = {s.name for s in cfg.sinks}
    category_names = {c.name for c in cfg.categories}
    for i, route in enumerate(cfg.routes):
        at = ("routes", i)
        w = route.when
        for name in w.brand or []:
            if name not in {"own", "competitor", "any"} | brand_names:
                problems.append(
                    Problem(
                        (*at, "when", "brand"),
                        f"routes[{i}].when.brand: unknown brand {name!r} (use own, competitor, any or a brand name)",
                    )
                )
        for name in w.source or []:
            if name not in source_names:
                problems.append(Problem((*at, "when", "source"), f"routes[{i}].when.source: unknown source {name!r}"))
        for name in w.categories or []:
            if name not in category_names:
                problems.append(
                    Problem((*at, "when", "categories"), f"routes[{i}].when.categories: unknown category {name!r}")
                )
        if w.text is not None and (err := _regex_error(w.text)):
            problems.append(Problem((*at, "when", "text"), f"routes[{i}].when.text: invalid regex (RE2): {err}"))
        if route.escalate and route.escalate.queue not in cfg.queues:
            problems.append(
                Problem(
                    (*at, "escalate", "queue"),
                    f"routes[{i}].escalate.queue: unknown queue {route.escalate.queue!r} (queues: {', '.join(cfg.queues)})",
                )
            )
        if route.reply is not None and route.reply not in cfg.replies:
            problems.append(Problem((*at, "reply"), f"routes[{i}].reply: unknown reply template {route.reply!r}"))
        for category, template in route.reply_by_category.items():
            if template not in cfg.replies:
                problems.append(Problem((*at, "reply_by_category", category),
                                        f"routes[{i}].reply_by_category.{category}: unknown reply template {template!r}"))
        for name in route.sinks or []:
            if name not in sink_names:
                problems.append(Problem((*at, "sinks"), f"routes[{i}].sinks: unknown sink {name!r}"))
        if route.ignore and (route.escalate or route.reply):
            problems.append(Problem(at, f"routes[{i}]: `ignore: true` cannot be combined with escalate or reply"))

    problems += _check_components(cfg)
    problems += _check_digests(cfg)
    # what the layers above know and this one may not import: a brand query parses (the
    # listener's query language), a reply template uses known variables (responders)...
    for name in RULE_CHECKS:
        problems += RULE_CHECKS[name](cfg)
    return problems


def _check_digests(cfg: RulesConfig) -> list[Problem]:
    """`reports:` digests name known brands and recipients apprise can use."""
    problems = _dup_names(cfg.reports, "reports")
    brand_names = {b.name for b in cfg.brands}
    for i, digest in enumerate(cfg.reports):
        for name in digest.brands or []:
            if name not in brand_names:
                problems.append(Problem(("reports", i, "brands"),
                                        f"reports[{i}].brands: unknown brand {name!r}"))
        if not digest.recipients and not digest.recipients_env:
            problems.append(Problem(("reports", i), f"reports[{i}]: needs `recipients` (apprise "
                                    "URLs) or `recipients_env`"))
        if digest.recipients:
            import apprise

            for j, url in enumerate(digest.recipients):
                if not apprise.Apprise().add(url):  # never echo the URL: it may hold a secret
                    problems.append(Problem(("reports", i, "recipients", j),
                                            f"reports[{i}].recipients[{j}]: apprise cannot use this URL"))
        try:
            parse_duration(digest.period)
        except ValueError:
            pass  # DurationStr already reported it
        else:
            if parse_duration(digest.period).total_seconds() < 3600:
                problems.append(Problem(("reports", i, "period"),
                                        f"reports[{i}].period: at least 1h"))
    return problems


def _regex_error(pattern: str) -> str | None:
    from socialear.patterns import pattern_error

    return pattern_error(pattern)


def _check_components(cfg: RulesConfig) -> list[Problem]:
    """Source and sink types against their registries (socialear.components: entry points,
    so a plugin's type is known); options against each component's own model."""
    problems: list[Problem] = []
    sections: tuple[tuple[str, Sequence[SourceConfig | SinkConfig], Registry[type[Component]]], ...] = (
        ("sources", cfg.sources, SOURCE_COMPONENTS),
        ("sinks", cfg.sinks, SINK_COMPONENTS),
    )
    for section, items, registry in sections:
        for i, item in enumerate(items):
            cls = registry.get(item.type)
            if cls is None:
                problems.append(
                    Problem(
                        (section, i, "type"),
                        f"{section}[{i}].type: unknown type {item.type!r} (known: {', '.join(registry)})",
                    )
                )
                continue
            try:
                options_model(cls).model_validate(item.options)
            except ValidationError as exc:
                for p in _pydantic_problems(exc):
                    loc = (section, i, "options", *p.loc)
                    msg = f"{section}[{i}].options.{p.message}"
                    problems.append(Problem(loc, msg, at_key=p.at_key))
    return problems


_yaml = YAML(typ="rt")


def parse_rules_text(text: str, path: str = "rules.yaml") -> RulesConfig:
    """Validate rules given as text; raise ConfigError listing every problem as PATH:LINE:COL."""
    try:
        data = _yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise ConfigError([f"{path}:{line}:{col}: YAML syntax error: {exc.problem or exc}"]) from None
    if not isinstance(data, CommentedMap):
        raise ConfigError([f"{path}:1:1: expected a mapping at the top level (brands:, routes:, ...)"])
    try:
        cfg = RulesConfig.model_validate(data)
    except ValidationError as exc:
        problems = _pydantic_problems(exc)
    else:
        problems = _cross_check(cfg)
    if problems:
        lines = []
        for p in problems:
            line, col = _position(data, p.loc, at_key=p.at_key)
            lines.append(f"{path}:{line}:{col + p.offset}: {p.message}")
        raise ConfigError(sorted(set(lines), key=_line_sort_key))
    return cfg


def _line_sort_key(text: str) -> tuple[int, int, str]:
    parts = text.split(":")
    try:
        return int(parts[1]), int(parts[2]), text
    except (IndexError, ValueError):
        return 0, 0, text


CONSOLE_URL_ENV = "SOCIALEAR_CONSOLE_URL"


def load_rules(path: str | Path) -> RulesConfig:
    """Read and validate a rules file. A missing file is a UserError; a bad one a ConfigError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"rules file not found: {p}") from None
    except OSError as exc:
        raise UserError(f"cannot read rules file {p}: {exc.strerror}") from None
    cfg = parse_rules_text(text, str(path))
    # where the console is reachable is a deployment fact, not a rule: the environment wins
    console_url = os.environ.get(CONSOLE_URL_ENV, "").strip()
    return cfg.model_copy(update={"console_url": console_url}) if console_url else cfg


class RulesWatcher:
    """Holds the rules in force; `refresh()` reloads a changed file, keeping the last good rules
    when the new file is invalid (invariant 3)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.rules = load_rules(self.path)
        self._mtime = self._stat()
        self.last_error: str | None = None

    def _stat(self) -> float:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0

    def refresh(self) -> bool:
        """Reload if the file changed; True when new rules took effect."""
        mtime = self._stat()
        if mtime == self._mtime:
            return False
        self._mtime = mtime
        try:
            self.rules = load_rules(self.path)
        except (ConfigError, UserError) as exc:
            self.last_error = str(exc)
            log.error("rules reload refused, keeping the last good rules:\n%s", exc)
            return False
        self.last_error = None
        log.info("rules reloaded from %s", self.path)
        return True
