"""Components are found by entry point, built-ins and plugins alike (socialear.components).

The plugin here is a real installed distribution: a package and its `.dist-info` (METADATA
and entry_points.txt) written to tmp_path and put on `sys.path` (the `install_plugin`
fixture), which is what pip leaves behind. Nothing in socialear names it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from listener.sources import SOURCES, build_source
from listener.types import Batch
from responders.publishers import PUBLISHERS
from responders.sinks import SINKS
from socialear.components import CHECK_GROUP, RULE_CHECKS, SINK_COMPONENTS, SOURCE_COMPONENTS
from socialear.config import parse_rules_text
from socialear.errors import ConfigError, NotConfigured

ROOT = Path(__file__).resolve().parents[2]

PLUGIN = '''
"""A third party's source: reads nothing, says so."""
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from listener.types import Batch


class AcmeSource:
    """Posts from the Acme forum."""

    type: ClassVar[str] = "acme"
    description: ClassVar[str] = "The Acme forum (a plugin source)."
    needs: ClassVar[tuple[str, ...]] = ()
    expected_update_period: ClassVar[float | None] = None

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")
        board: str

    def __init__(self, name: str, board: str):
        self.name = name
        self.board = board

    @classmethod
    def from_options(cls, name, options, *, env=None, client=None, brands=None):
        return cls(name, cls.Options.model_validate(dict(options)).board)

    def fetch(self, cursor):
        return Batch(mentions=[], next_cursor=f"{self.board}:{cursor or 0}")


class Misnamed(AcmeSource):
    type: ClassVar[str] = "not-its-entry-point"
'''

RULES = """\
brands:
  - name: Nimbus
    query: nimbus
sources:
  - name: forum
    type: acme
    options: {board: support}
"""


SOURCE_ENTRY = "[socialear.sources]\nacme = acme_socialear:AcmeSource\n"


@pytest.fixture
def plugin_on_path(install_plugin):
    return install_plugin("acme_socialear", PLUGIN, SOURCE_ENTRY)


def test_a_plugin_source_is_registered_checked_and_built(plugin_on_path):
    assert "acme" in SOURCES and "acme" in SOURCE_COMPONENTS
    cfg = parse_rules_text(RULES)
    assert cfg.sources[0].type == "acme"
    source = build_source("forum", "acme", {"board": "support"})
    batch = source.fetch(None)
    assert isinstance(batch, Batch) and batch.next_cursor == "support:0"


def test_a_plugin_sources_options_are_checked_by_its_own_model(plugin_on_path):
    with pytest.raises(ConfigError) as info:
        parse_rules_text(RULES.replace("{board: support}", "{board: support, colour: red}"))
    assert info.value.errors == ["rules.yaml:7:31: sources[0].options.colour: unknown key 'colour'"]


def test_without_the_plugin_its_type_is_unknown():
    assert "acme" not in SOURCES
    with pytest.raises(ConfigError) as info:
        parse_rules_text(RULES)
    assert any("sources[0].type: unknown type 'acme'" in e for e in info.value.errors)
    with pytest.raises(NotConfigured, match="source 'forum': unknown type 'acme'"):
        build_source("forum", "acme", {})


def test_rules_check_accepts_the_plugins_type_in_a_fresh_process(tmp_path, install_plugin):
    """The CLI, as a user runs it, with the plugin installed on PYTHONPATH."""
    root = install_plugin("acme_socialear", PLUGIN, SOURCE_ENTRY)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)

    def check(pythonpath: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": pythonpath}
        return subprocess.run([sys.executable, "-m", "console.cli", "rules", "check", str(rules)],
                              capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)

    done = check(str(root))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK (1 brands, 1 sources" in done.stdout
    without = check("")
    assert without.returncode == 1
    assert "sources[0].type: unknown type 'acme'" in without.stdout


def test_a_plugin_that_breaks_the_contract_is_refused_with_its_name(install_plugin):
    install_plugin("acme_socialear", PLUGIN, "[socialear.sources]\nacme = acme_socialear:Misnamed\n")
    with pytest.raises(RuntimeError, match=r"source 'acme' .*declares type 'not-its-entry-point'"):
        SOURCES.get("acme")


def test_the_built_ins_are_the_entry_points_in_pyproject():
    """pyproject.toml is the one list of built-ins; the installed metadata must match it
    (a stale install, `pip install -e .` not re-run after editing it, fails here)."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    for group, registry in (("socialear.sources", SOURCES), ("socialear.sinks", SINKS),
                            ("socialear.publishers", PUBLISHERS)):
        assert set(registry) == set(declared[group]), group
        for name, target in declared[group].items():
            module, _, attr = target.partition(":")
            cls = registry[name]
            assert (cls.__module__, cls.__qualname__) == (module, attr)
    assert set(RULE_CHECKS) == set(declared[CHECK_GROUP])
    assert set(SINK_COMPONENTS) == set(SINKS)
