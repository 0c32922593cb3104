"""Build step: compile the hot modules with mypyc when possible (see
`socialear/compiled.py` for why, and how a stale build is never used).

Metadata lives in pyproject.toml; this file only adds the optional C extensions. Without
mypyc or a C compiler, or with SOCIALEAR_PURE_PYTHON=1, the package builds as pure
Python and runs the same code from source.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

# Per package (one mypyc group each, checked all-or-none by the package's guard:
# socialear.compiled), the modules compiled. Each group is compiled on its own, and calls
# another group's modules as it would any Python module.
GROUPS: dict[str, tuple[str, ...]] = {
    # The per-text scoring path: tokens, cues, features, model, reasons, urgency. Not
    # `types` (its dataclasses are stored and serialised across the service), nor
    # `language`, `categories` and `foreign`, whose time is spent inside lingua and regexes.
    "listener.scoring": ("explain", "features", "matcher", "model", "questions", "scorer", "sentiment", "valence"),
    # The prescoring worker's CPU around the scorer (listener.prescoring): the route and
    # its trace text (~1.5 and ~1 us a mention less compiled), the brand match (~0.9).
    # Not `encoding`, `analysis` (the staged batch) nor socialear's `jsontext`: their
    # time is in calls to generic objects and the C JSON encoder, and compiled they
    # measured no faster (`analysis.complete` a little slower).
    "listener": ("matching", "routing"),
    # A negative post's terms (~0.7 us a mention less compiled; the worker computes them).
    "socialear": ("terms",),
}
HERE = Path(__file__).resolve().parent


def _say(message: str) -> None:
    print(f"socialear build: {message}", file=sys.stderr)


def _source(package: str, module: str) -> Path:
    return HERE.joinpath(*package.split("."), f"{module}.py")


def _native_extensions() -> list:
    if os.environ.get("SOCIALEAR_PURE_PYTHON", "") not in ("", "0"):
        _say("SOCIALEAR_PURE_PYTHON is set; building pure Python")
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        _say("mypyc is not installed; building pure Python")
        return []
    extensions = []
    for package, modules in GROUPS.items():
        try:
            extensions += mypycify(
                # The build environment has mypy but not the runtime dependencies (pydantic,
                # lingua, ...), so pyproject's strict [tool.mypy] (the lint's, which expects
                # them installed) is not read here: only the missing imports are tolerated.
                # The generated code is the same; `make lint` checks the types strictly.
                ["--config-file=", "--ignore-missing-imports",
                 *(str(_source(package, name).relative_to(HERE)) for name in modules)],
                group_name=f"{package}._native",
                opt_level="3",
            )
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - mypyc exits on a type error; pure Python then
            _say(f"mypyc could not compile {package} ({exc!r}); it will run as pure Python")
    return extensions


class OptionalNativeBuild(build_ext):
    """Builds the mypyc extensions, then records each group's source hashes next to them;
    a failed build (no C compiler) leaves a pure-Python package instead of no package."""

    def run(self) -> None:
        if not self.extensions:
            return
        outputs = [Path(self.get_ext_fullpath(ext.name)) for ext in self.extensions]
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - CompileError, LinkError, a missing gcc...
            _say(f"compiling the hot modules failed ({exc}); they will run as pure Python")
            for path in outputs:
                path.unlink(missing_ok=True)
            return
        built = {ext.name for ext in self.extensions}
        for package, modules in GROUPS.items():
            if not all(f"{package}.{name}" in built for name in modules):
                continue  # mypyc refused this group: no manifest, so it runs from source
            directory = Path(self.get_ext_fullpath(f"{package}.{modules[0]}")).parent
            manifest = {"modules": {name: hashlib.sha256(_source(package, name).read_bytes()).hexdigest()
                                    for name in modules}}
            (directory / "compiled.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n",
                                                     encoding="utf-8")
            _say(f"compiled {len(modules)} {package} modules with mypyc into {directory}")


setup(ext_modules=_native_extensions(), cmdclass={"build_ext": OptionalNativeBuild})
