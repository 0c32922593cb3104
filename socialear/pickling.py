"""Faster pickling for the plain data one process hands another (the prescoring worker's
results, listener.prescoring).

A dataclass pickles by its `__getstate__`/`__setstate__`, which for a frozen slots class
are written in Python and call `dataclasses.fields()` on every object, on both sides:
unpickling a batch's results cost the pipeline's process ~50 us a mention, most of it
there. `by_position` pickles an object as its class and its field values, in order:
unpickling calls the class with them (its `__init__`, a few attribute stores). Only for
classes whose `__init__` takes every field, in order, and does nothing else
(`tests/socialear/test_pickling.py` checks the classes it is used on round-trip).
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from operator import attrgetter
from typing import Any, TypeVar

T = TypeVar("T")


def by_position(cls: type[T]) -> type[T]:
    """Class decorator (outside `@dataclass`): pickle as `(cls, (field values...))`."""
    if not is_dataclass(cls):
        raise TypeError(f"{cls.__name__} is not a dataclass")
    names = tuple(f.name for f in fields(cls))
    if any(not f.init for f in fields(cls)):
        raise TypeError(f"{cls.__name__}: every field must be an __init__ argument")
    if len(names) == 1:
        one = attrgetter(names[0])

        def reduce(self: Any) -> tuple[Any, tuple[Any, ...]]:
            return cls, (one(self),)
    else:
        values = attrgetter(*names)  # a tuple of the values, in C

        def reduce(self: Any) -> tuple[Any, tuple[Any, ...]]:
            return cls, values(self)

    cls.__reduce__ = reduce  # type: ignore[method-assign]
    return cls
