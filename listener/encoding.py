"""A mention's stored JSON (its score breakdown; an escalation's decision), with the
history-free part encoded ahead by the prescoring worker.

    worker:    sentiment, categories, language, category hits, the brands; the decision
               without its trace, and the trace (in its stored form, socialear.trace)
               split where the urgency is shown
    pipeline:  + urgency and its signals, matched routes, the urgency shown in the
               trace, repeat contact            -> the same text json.dumps would give

Why: encoding that JSON was about a tenth of the pipeline process's CPU (an escalation's
decision is ~1 KB with its trace), and only a few values in it depend on history (the
urgency, which the pile-on window and repeat contact move, and repeat contact itself).
An escalation's decision does not repeat the score: that is its mention's `scoring`,
stored in the same transaction.
The pipeline puts the pieces together as `storage.types.JsonText`, which storage binds
as it is. The text is byte for byte what `json.dumps` (the serializer SQLAlchemy's JSON
type uses; socialear's engines set no other) makes of the dicts the serial path stores
(`tests/listener/test_encoding.py`, and the worker-versus-serial comparison of
`tests/listener/test_prescoring.py`), so both paths store the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from listener.routing import Decision
from listener.scoring import PreScore
from socialear.jsontext import dumps, scalar
from socialear.pickling import by_position
from socialear.terms import stored_terms
from socialear.trace import compact
from storage.types import JsonText

_dumps = dumps  # json.dumps' text, without its per-call set-up (socialear.jsontext)
_scalar = scalar  # json.dumps of an int, a bool, a str or None (socialear.jsontext)
_MARK = "\x00urgency shown here\x00"  # stands for the urgency in the trace while it is encoded
_MARK_TEXT = _dumps(_MARK)


@by_position
@dataclass(frozen=True, slots=True)
class Encoded:
    """The history-free pieces of one mention's JSON (see the module docstring)."""

    brands: str
    categories: str
    score_head: str  # '{"sentiment": ..., "categories": ...'
    score_tail: str  # ', "language": ..., "category_hits": {...}}'
    decision_head: str | None = None  # the decision without trace, open ('{"route": ..., "sinks": ...'); None: no escalation
    trace: tuple[str, ...] = ()  # the trace's text, split where the urgency shown goes
    # a negative post's terms for the reports' sample (storage.rollups `mention_terms`):
    # tokenising was a tenth of the storing transaction's CPU; None: storage computes them
    terms: str | None = None


def encode_ahead(brands: tuple[str, ...], pre: PreScore, decision: Decision | None, text: str,
                 trace: list[str] | None = None) -> Encoded | None:
    """The pieces for a mention the worker analysed; None when they cannot be split
    safely (the pipeline then encodes the whole JSON itself). `trace`: an escalation's
    trace as `listener.routing.trace_text(..., cut="urgency")` encodes it (the decision
    then need not carry it); None: encoded from `decision.trace`."""
    categories = _str_list(pre.categories)
    # each piece written out around one dumps call at most: this runs in the worker for
    # every mention, and a dumps call costs about a microsecond itself
    sentiment = pre.sentiment
    head = f'{{"sentiment": {_dumps(sentiment.to_dict())}, "categories": {categories}'
    hits = pre.category_hits
    tail = (f', "language": {_scalar(pre.language)}, "language_supported": {_scalar(pre.language_supported)}, '
            f'"question": {_scalar(pre.question)}, '
            f'"category_hits": {_dumps({k: list(v) for k, v in hits.items()}) if hits else "{}"}}}')
    terms = stored_terms(text) if sentiment.label == "negative" else None
    if decision is None or not decision.escalate:
        return Encoded(_str_list(brands), categories, head, tail, terms=terms)
    fields = decision.to_dict()
    if next(reversed(fields)) != "trace":  # the stored order puts the trace last; a new field must come before it
        return Encoded(_str_list(brands), categories, head, tail, terms=terms)
    del fields["trace"]
    if trace is not None:
        return Encoded(_str_list(brands), categories, head, tail, _dumps(fields)[:-1], tuple(trace), terms)
    encoded = Encoded(_str_list(brands), categories, head, tail, terms=terms)
    marks = 0
    steps = []
    for step in decision.trace:
        conditions = []
        for c in step["conditions"]:
            if c["condition"] == "urgency":
                c = {**c, "actual": _MARK}
                marks += 1
            conditions.append(c)
        steps.append({**step, "conditions": conditions})
    parts = tuple(_dumps(compact(steps)).split(_MARK_TEXT))
    if len(parts) != marks + 1:
        return encoded  # the mark occurs in the text itself: encode it all in the pipeline
    return Encoded(encoded.brands, categories, head, tail, _dumps(fields)[:-1], parts, terms)


_LISTS: dict[tuple[str, ...], str] = {}  # brands and category lists: a few, in few orders


def _str_list(values: Sequence[str]) -> str:
    """json.dumps(list(values)) of strings, without its call (remembered: the brands and
    the categories of mentions repeat)."""
    key = tuple(values)
    text = _LISTS.get(key)
    if text is None:
        if len(_LISTS) > 4096:  # rules reloaded many times, or many category combinations
            _LISTS.clear()
        text = _dumps(list(values))
        if all(v.__class__ is str for v in values):  # a str subclass could encode otherwise next time
            _LISTS[key] = text
    return text


_MATCHED: dict[tuple[str, ...], str] = {}  # the matched routes' text: a few route names, in few orders


def _matched(names: list[str]) -> str:
    key = tuple(names)
    text = _MATCHED.get(key)
    if text is None:
        if len(_MATCHED) > 4096:  # rules reloaded many times: forget old route names
            _MATCHED.clear()
        text = _MATCHED[key] = _dumps(names)
    return text


def score_text(encoded: Encoded, urgency: int, signals: dict[str, float]) -> str:
    """`json.dumps(score.to_dict())`, from the pieces and the finished urgency."""
    return (f'{encoded.score_head}, "urgency": {_scalar(urgency)}, '
            f'"urgency_signals": {_dumps(signals)}{encoded.score_tail}')


def scoring_text(score: str, decision: Decision) -> JsonText:
    """A mention's `scoring` column: the score with the routes that matched and `ignored`
    (listener.storing.scoring_json, encoded)."""
    return JsonText(f'{score[:-1]}, "matched_routes": {_matched(decision.matched)}, '
                    f'"ignored": {_scalar(decision.ignored)}}}')


def decision_text(encoded: Encoded, shown: Any, repeat_contact: bool) -> JsonText | None:
    """An escalation's `decision` column: the decision with the urgency `shown` in its
    trace, and repeat contact (listener.escalating.escalation_row, encoded)."""
    if encoded.decision_head is None:
        return None
    return JsonText(f'{encoded.decision_head}, "trace": {_scalar(shown).join(encoded.trace)}, '
                    f'"repeat_contact": {_scalar(repeat_contact)}}}')
