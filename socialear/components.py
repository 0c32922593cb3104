"""Component registries: sources, sinks, publishers and rules checks, found by entry point.

Why entry points: the shared layer must know every component type to validate rules.yaml
(`rules check` refuses an unknown source type and checks its options against the type's
own `Options` model), yet it may not import `listener` or `responders` (the layering of
docs/architecture.md, enforced by import-linter). So a component is named by an entry
point, and the shared layer loads it by name through `importlib.metadata`, never by an
import statement. Built-ins are registered exactly as a third party registers one (as
datasette registers its default plugins): socialear's own `pyproject.toml` declares

    [project.entry-points."socialear.sources"]
    x = "listener.sources.x:XSource"

and a plugin package declares the same group in its own metadata. The entry point's name
is the `type` written in rules.yaml, and must equal the class's `type`.

Each registry is typed by the contract its consumers need: `Component` (what config
validation reads) here, `SourceClass` in `listener.types`, `SinkClass` in
`responders.types`, `PublisherClass` in `responders.publishers`. Loading checks every
entry point against that contract, so a broken plugin fails with its name at start-up
instead of an AttributeError on the first poll.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast

from pydantic import BaseModel

from socialear.errors import NotConfigured

SOURCE_GROUP = "socialear.sources"
SINK_GROUP = "socialear.sinks"
PUBLISHER_GROUP = "socialear.publishers"
CHECK_GROUP = "socialear.checks"  # callables (RulesConfig) -> list[Problem], see socialear.config


class Component(Protocol):
    """What every source and sink class declares about itself, read without building it.
    Registries hold classes, so `type[Component]`; `Options`, the nested pydantic model of
    its rules.yaml `options:` (`extra="forbid"`), is read through `options_model` because
    mypy cannot match a nested class against a protocol member."""

    type: ClassVar[str]  # the `type:` that names it in rules.yaml (its entry point's name)
    description: ClassVar[str]  # one sentence for `socialear sources`/`sinks` and the JSON Schema
    needs: ClassVar[tuple[str, ...]]  # environment variables it cannot run without


def options_model(component: Any) -> type[BaseModel]:
    """The component's `Options` model; TypeError when it has none (checked at load)."""
    model = getattr(component, "Options", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"{component!r} has no `Options` pydantic model")
    return model


C = TypeVar("C")
_REGISTRIES: list[Registry[Any]] = []


def reload_all() -> None:
    """Forget every registry's components (after a plugin was installed on `sys.path`)."""
    for registry in _REGISTRIES:
        registry.reload()


class Registry(Generic[C]):
    """The components of one entry-point group, loaded once on first use.

    `members` are the attribute names of the contract each loaded object must have (a
    Protocol with class variables cannot be checked by isinstance on a class); `kind`
    ("source", "sink") words the errors. Tests that install a plugin on `sys.path` call
    `reload_all()`.
    """

    def __init__(self, group: str, kind: str, members: tuple[str, ...], *, typed: bool = True):
        self.group = group
        self.kind = kind
        self.members = members  # what each loaded object must have (its contract's members)
        self.typed = typed  # its `type` must equal its entry point's name
        self._items: dict[str, C] | None = None
        self._lock = threading.Lock()
        _REGISTRIES.append(self)

    def _load(self) -> dict[str, C]:
        items: dict[str, C] = {}
        for ep in sorted(entry_points(group=self.group), key=lambda e: e.name):
            if ep.name in items:
                continue  # the same distribution seen twice on sys.path: first wins
            items[ep.name] = self._checked(ep)
        if not items:
            raise RuntimeError(
                f"no {self.kind}s registered under the entry-point group {self.group!r}: "
                "socialear's package metadata is missing (run `pip install -e .`)"
            )
        return items

    def _checked(self, ep: EntryPoint) -> C:
        where = f"{self.kind} {ep.name!r} ({ep.value}, entry point group {self.group!r})"
        try:
            obj = ep.load()
        except Exception as exc:  # a plugin's import error, reported with its name
            raise RuntimeError(f"{where}: cannot be loaded: {type(exc).__name__}: {exc}") from exc
        missing = [m for m in self.members if not hasattr(obj, m)]
        if missing or not callable(obj):
            raise RuntimeError(f"{where}: not a {self.kind}: it lacks {', '.join(missing) or '__call__'}")
        if self.typed and obj.type != ep.name:
            raise RuntimeError(f"{where}: declares type {obj.type!r}, but is registered as {ep.name!r}")
        if "Options" in self.members:
            try:
                options_model(obj)
            except TypeError as exc:
                raise RuntimeError(f"{where}: {exc}") from None
        return cast(C, obj)  # its members checked just above; mypy checks the built-ins

    @property
    def items(self) -> Mapping[str, C]:
        if self._items is None:
            with self._lock:
                if self._items is None:
                    self._items = self._load()
        return self._items

    def reload(self) -> None:
        """Forget what was loaded; the next use scans the entry points again."""
        with self._lock:
            self._items = None

    def get(self, type_: str) -> C | None:
        return self.items.get(type_)

    def require(self, type_: str, name: str) -> C:
        """The component for `type_`; NotConfigured naming the known types otherwise, so the
        service turns that one component off and carries on (as for missing credentials)."""
        found = self.items.get(type_)
        if found is None:
            known = ", ".join(sorted(self.items))
            raise NotConfigured(f"{self.kind} '{name}': unknown type {type_!r} (known: {known})")
        return found

    def __contains__(self, type_: object) -> bool:
        return type_ in self.items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.items))

    def __getitem__(self, type_: str) -> C:
        return self.items[type_]

    def __len__(self) -> int:
        return len(self.items)


# What config validation needs: each source's and sink's type, needs and Options, and the
# checks other layers contribute (a brand query parses, a reply template uses known
# variables): entry points of the group `socialear.checks`, each a callable
# `(RulesConfig) -> list[socialear.config.Problem]`.
COMPONENT_MEMBERS = ("type", "description", "needs", "Options")
SOURCE_COMPONENTS: Registry[type[Component]] = Registry(SOURCE_GROUP, "source", COMPONENT_MEMBERS)
SINK_COMPONENTS: Registry[type[Component]] = Registry(SINK_GROUP, "sink", COMPONENT_MEMBERS)
RULE_CHECKS: Registry[Callable[..., Any]] = Registry(CHECK_GROUP, "rules check", (), typed=False)
