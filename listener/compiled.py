"""Compiled or source: whether `listener`'s own hot modules (the prescoring worker's
routing and brand matching: setup.py's GROUPS) run as their mypyc build;
decided here, imported first by `listener` (socialear.compiled says how and why; the
scorer, `listener.scoring`, decides for itself). `ACTIVE`/`STATUS`: the decision."""

from __future__ import annotations

from pathlib import Path

from socialear.compiled import guard

ACTIVE, STATUS = guard(__name__.rpartition(".")[0], Path(__file__).resolve().parent)
