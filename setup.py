"""Build step: compile the scorer's hot modules with mypyc when possible (see
`listener/scoring/compiled.py` for why, and how a stale build is never used).

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

# The per-text scoring path: tokens, cues, features, model, reasons, urgency. Not `types`
# (its dataclasses are stored and serialised across the service), nor `language`,
# `categories` and `foreign`, whose time is spent inside lingua and regexes anyway.
NATIVE = ("explain", "features", "matcher", "model", "questions", "scorer", "sentiment", "valence")
PACKAGE = "listener.scoring"
HERE = Path(__file__).resolve().parent


def _say(message: str) -> None:
    print(f"socialear build: {message}", file=sys.stderr)


def _native_extensions() -> list:
    if os.environ.get("SOCIALEAR_PURE_PYTHON", "") not in ("", "0"):
        _say("SOCIALEAR_PURE_PYTHON is set; building pure Python")
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        _say("mypyc is not installed; building pure Python")
        return []
    try:
        return mypycify(
            # The build environment has mypy but not the runtime dependencies (pydantic,
            # lingua, ...), so pyproject's strict [tool.mypy] (the lint's, which expects
            # them installed) is not read here: only the missing imports are tolerated.
            # The generated code is the same; `make lint` checks the types strictly.
            ["--config-file=", "--ignore-missing-imports", *(f"listener/scoring/{name}.py" for name in NATIVE)],
            group_name=f"{PACKAGE}._native",
            opt_level="3",
        )
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - mypyc exits on a type error; pure Python then
        _say(f"mypyc could not compile the scorer ({exc!r}); building pure Python")
        return []


class OptionalNativeBuild(build_ext):
    """Builds the mypyc extensions, then records each source's hash next to them; a
    failed build (no C compiler) leaves a pure-Python package instead of no package."""

    def run(self) -> None:
        if not self.extensions:
            return
        outputs = [Path(self.get_ext_fullpath(ext.name)) for ext in self.extensions]
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - CompileError, LinkError, a missing gcc...
            _say(f"compiling the scorer failed ({exc}); it will run as pure Python")
            for path in outputs:
                path.unlink(missing_ok=True)
            return
        directory = Path(self.get_ext_fullpath(f"{PACKAGE}.{NATIVE[0]}")).parent
        manifest = {
            "modules": {
                name: hashlib.sha256((HERE / "listener" / "scoring" / f"{name}.py").read_bytes()).hexdigest()
                for name in NATIVE
            }
        }
        (directory / "compiled.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        _say(f"compiled {len(NATIVE)} scoring modules with mypyc into {directory}")


setup(ext_modules=_native_extensions(), cmdclass={"build_ext": OptionalNativeBuild})
