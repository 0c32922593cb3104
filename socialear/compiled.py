"""Compiled or source: which copy of a package's hot modules Python imports.

socialear's per-mention CPU time is plain Python: the scorer (`listener.scoring`), and
around it the prescoring worker's routing and brand matching (`listener`) and the terms
of a negative post (`socialear`). When the package is installed (`pip
install`, `make test`, the Docker build), `setup.py` compiles each package's hot modules
(its GROUPS) to C extensions with mypyc, from the same source, which makes them faster
(the scorer about 1.2-1.5x, CPU time, `bench/quality.py --real`). A compiler is not
required: without one the build says so and everything runs from source.

A compiled copy sits next to its `.py` and Python would import it even after the source
was edited, so a developer's change would silently not run. The build therefore records
each compiled source's SHA-256 in the group's `compiled.json`, and `guard` (called by the
package before any of its compiled modules is imported: `listener.scoring.compiled`,
`listener.compiled`, and this module for `socialear`) checks it: if any compiled module's
source has changed, or the build is incomplete, or `SOCIALEAR_PURE_PYTHON=1` is set,
*every* module of that group loads from source. All or none within a group, because
compiled modules of one group call each other directly: one stale member would keep
running old code for the others. Groups are independent (each is compiled on its own,
and calls another group's modules as any Python module), so each decides for itself.
`make native` rebuilds.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

MANIFEST = "compiled.json"  # written by setup.py after a complete build: {module: sha256}
PURE_ENV = "SOCIALEAR_PURE_PYTHON"


def source_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _compiled_file(directory: Path, module: str) -> Path | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = directory / f"{module}{suffix}"
        if candidate.exists():
            return candidate
    return None


def check(directory: Path, environ: dict[str, str] | None = None) -> tuple[bool, str]:
    """(use the compiled modules of the package in `directory`?, why): a line for logs
    and `bench/quality.py`."""
    active, why, _ = _check(directory, environ)
    return active, why


def _check(directory: Path, environ: dict[str, str] | None = None) -> tuple[bool, str, frozenset[str]]:
    """`check`, and the modules the current build compiled (none when it is not used)."""
    environ = dict(os.environ) if environ is None else environ
    if environ.get(PURE_ENV, "") not in ("", "0"):
        return False, f"source ({PURE_ENV} is set)", frozenset()
    manifest = directory / MANIFEST
    if not manifest.exists():
        return False, "source (no compiled build)", frozenset()
    try:
        recorded = json.loads(manifest.read_text(encoding="utf-8"))
        modules = dict(recorded["modules"])
    except (ValueError, KeyError, TypeError):
        return False, f"source ({MANIFEST} is unreadable)", frozenset()
    for module, digest in sorted(modules.items()):
        source = directory / f"{module}.py"
        if _compiled_file(directory, module) is None:
            return False, f"source (no compiled {module})", frozenset()
        if not source.exists() or source_hash(source) != digest:
            return False, f"source ({module}.py changed since the build; `make native` rebuilds it)", frozenset()
    count = f"{len(modules)} module{'s' if len(modules) != 1 else ''}"
    return True, f"mypyc ({count}: {', '.join(sorted(modules))})", frozenset(modules)


class _SourceFirst(importlib.abc.MetaPathFinder):
    """Imports `<package>.<name>` from `<name>.py` even where a compiled copy exists,
    unless `name` is one of the `compiled` ones the current build recorded (a leftover
    copy of a module that left the group must not run either). Only the package's own
    modules: not its subpackages', which guard themselves."""

    def __init__(self, package: str, directory: Path, compiled: frozenset[str]) -> None:
        self.package = package
        self.directory = directory
        self.compiled = compiled

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package != self.package or name in self.compiled:
            return None
        source = self.directory / f"{name}.py"
        if not source.exists():
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def _any_compiled(directory: Path) -> bool:
    return any(directory.glob(f"*{suffix}") for suffix in importlib.machinery.EXTENSION_SUFFIXES)


def guard(package: str, directory: Path) -> tuple[bool, str]:
    """Decide for `package` (its modules in `directory`) before any of them is imported:
    (compiled?, why). When not, its modules import from source from now on."""
    active, status, compiled = _check(directory)
    if _any_compiled(directory) and not any(
            isinstance(f, _SourceFirst) and f.package == package for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceFirst(package, directory, compiled))
    return active, status


# socialear's own group (terms: see setup.py), decided when `socialear` is imported
ACTIVE, STATUS = guard(__name__.rpartition(".")[0], Path(__file__).resolve().parent)
