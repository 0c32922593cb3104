"""socialear.pickling.by_position: what the prescoring worker hands back unpickles equal,
field for field, for every class that pickles by position."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, fields

import pytest

from listener.analysis import Failed, Prepared
from listener.encoding import Encoded
from listener.routing import Decision
from listener.scoring.types import PreScore, Sentiment
from socialear.pickling import by_position


def _filled(cls: type) -> object:
    """An instance whose every field holds a value of its own (none the default)."""
    sentiment = Sentiment("negative", -0.5, ["'bill' (-2, money)"], {"negative": 0.8, "neutral": 0.1, "positive": 0.1})
    if cls is Sentiment:
        return sentiment
    if cls is PreScore:
        return PreScore(sentiment, ["billing"], {"billing": ["bill"]}, {"negativity": 20.0}, 5.0, "en", True, True)
    if cls is Decision:
        return Decision("billing", ["tag", "billing"], True, "billing", "high", "billing", ["vip"], True, False,
                        True, ["local"], [{"route": "billing", "matched": True, "conditions": []}])
    if cls is Encoded:
        return Encoded("[]", '["billing"]', "{", "}", '{"route": "billing"', ("[", "]"), "bill\tcharged")
    if cls is Prepared:
        return Prepared(("Nimbus",), "Nimbus", False, _filled(PreScore), _filled(Decision),  # type: ignore[arg-type]
                        (40, "gold"), "Hi", _filled(Encoded))  # type: ignore[arg-type]
    if cls is Failed:
        return Failed("analysis failed: ValueError: x")
    raise AssertionError(cls)


@pytest.mark.parametrize("cls", [Sentiment, PreScore, Decision, Encoded, Prepared, Failed])
def test_round_trip_is_field_for_field(cls: type) -> None:
    value = _filled(cls)
    assert type(value).__reduce__ is not object.__reduce__  # pickled by position
    back = pickle.loads(pickle.dumps(value))
    assert type(back) is cls and back == value
    for f in fields(cls):
        assert getattr(back, f.name) == getattr(value, f.name), f.name


def test_only_classes_whose_init_takes_every_field() -> None:
    from dataclasses import field

    with pytest.raises(TypeError, match="__init__"):
        @by_position
        @dataclass
        class Derived:
            a: int
            b: int = field(init=False, default=0)
    with pytest.raises(TypeError, match="not a dataclass"):
        by_position(int)
