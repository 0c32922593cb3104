"""Compiled or source: whether `listener.scoring`'s hot modules (setup.py's GROUPS) run as
their mypyc build; decided here, before any of them is imported (socialear.compiled says
how and why). `ACTIVE`/`STATUS`: the decision, for logs and `bench/quality.py`."""

from __future__ import annotations

from pathlib import Path

from socialear.compiled import guard

ACTIVE, STATUS = guard(__name__.rpartition(".")[0], Path(__file__).resolve().parent)
