"""Cross-cutting pieces every side of socialear shares: the rules.yaml schema, env settings
and the project's exception tree. Kept apart so `listener`, `responders`, `storage` and
`console` can all import them without importing each other."""

__version__ = "0.1.0"

from socialear import compiled  # noqa: F401  (before any other submodule: mypyc build or source)
