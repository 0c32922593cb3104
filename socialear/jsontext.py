"""`dumps`: the text `json.dumps(value)` gives (default arguments), without its set-up.

Each `json.dumps` call builds a new encoder (a C object, a markers dict, a float
formatter closure) before encoding anything: about a microsecond and a half, more than
encoding a small dict takes. The prescoring worker encodes several small values for
every mention (listener.encoding, listener.routing.trace_text), so it keeps one C encoder
with the default settings and calls it directly. The text is the same
(`tests/socialear/test_jsontext.py`); the one difference is for a value that contains
itself, which json.dumps refuses with ValueError and this with RecursionError (there is
no circular check: a markers dict shared across calls would keep stale entries after an
error).
"""

from __future__ import annotations

import json
import math
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

_DEFAULT = json.JSONEncoder()
_PROBE = {"a": [1, 2.5, None, True, "é\"😡"], "b": {"c": -0.0772, "d": []}, "e": float("inf")}


def _encoder() -> Any:
    """CPython's C encoder with json.dumps' default settings, if it gives json.dumps' text
    (its constructor is private: a Python release may change it); None: use json.dumps."""
    if c_make_encoder is None:
        return None
    try:
        encoder = c_make_encoder(
            None, _DEFAULT.default, encode_basestring_ascii, None,
            _DEFAULT.key_separator, _DEFAULT.item_separator, _DEFAULT.sort_keys,
            _DEFAULT.skipkeys, _DEFAULT.allow_nan)
        return encoder if "".join(encoder(_PROBE, 0)) == json.dumps(_PROBE) else None
    except Exception:  # noqa: BLE001 - a changed signature: json.dumps itself
        return None


_ENCODER = _encoder()



def dumps(value: Any) -> str:
    """`json.dumps(value)`, the same text."""
    if _ENCODER is None or value.__class__ is str:
        return json.dumps(value)
    return "".join(_ENCODER(value, 0))


def scalar(value: Any) -> str:
    """`json.dumps(value)`, without its call for the values encoded most (a str, None, a
    bool, an int, a finite float): the same text (`repr` for numbers, ASCII escapes for
    text). The prescoring worker encodes several for every mention."""
    kind = value.__class__
    if kind is str:
        return encode_basestring_ascii(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    return dumps(value)
