from listener import compiled  # noqa: F401  (before any other submodule: mypyc build or source)
