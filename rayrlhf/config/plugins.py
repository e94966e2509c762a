"""Extension points other packages fill through entry points (docs/extending.md): source kinds, oracle backends,
labelling rules and preference losses. A config value may name a built-in or a name some installed package registers in the group; the
config checks the name only (nothing is imported), and the package that builds the thing loads it when a run needs it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from pydantic_core import core_schema

SOURCE_KINDS = "rayrlhf.source_kinds"
ORACLE_BACKENDS = "rayrlhf.oracle_backends"
LABELLING_RULES = "rayrlhf.labelling_rules"
LOSSES = "rayrlhf.losses"

# the built-in names (rayrlhf.rewards, rayrlhf.annotate.oracle and rayrlhf.labelling register what each builds)
BUILTIN_SOURCE_KINDS = ("rouge", "bertscore", "lm_logprob", "classifier", "python", "http", "judge")
BUILTIN_BACKENDS = ("simulated", "web", "vendor", "python", "judge")


@functools.cache
def plugin_names(group: str) -> tuple[str, ...]:
    """The names installed packages register in entry-point ``group`` (sorted; read once per process)."""
    return tuple(sorted({ep.name for ep in entry_points(group=group)}))


def load_plugin(group: str, name: str) -> Any:
    """The object entry point ``name`` of ``group`` points at (imported now)."""
    found = [ep for ep in entry_points(group=group) if ep.name == name]
    if not found:
        raise ValueError(f"no package registers {name!r} in entry-point group {group}; install the package that does")
    return found[0].load()


def add_to_registry(registry: dict, name: str, item: Any, what: str) -> Any:
    """``registry[name] = item``; a name already there is refused (``what`` names the kind of thing)."""
    if name in registry:
        raise ValueError(f"a {what} named {name!r} is registered already; choose another name")
    registry[name] = item
    return item


def plugin_object(group: str, name: str, expected: type, subclass: bool = False) -> Any:
    """Entry point ``name`` of ``group``, checked to be an ``expected`` (a subclass of it, with ``subclass``) whose
    ``name`` is ``name``."""
    obj = load_plugin(group, name)
    fits = (isinstance(obj, type) and issubclass(obj, expected)) if subclass else isinstance(obj, expected)
    if not fits or obj.name != name:
        what = f"{'a subclass of ' if subclass else 'a '}{expected.__module__}.{expected.__qualname__}"
        raise TypeError(f"entry point {name!r} of {group} must be {what} named {name!r}, got {obj!r}")
    return obj


@dataclass(frozen=True)
class PluginChoice:
    """A config string that must name one of ``builtin`` or an entry point of ``group`` (as ``Annotated`` metadata)."""

    group: str
    builtin: tuple[str, ...]

    def choices(self) -> tuple[str, ...]:
        return self.builtin + tuple(n for n in plugin_names(self.group) if n not in self.builtin)

    def validate(self, value: str) -> str:
        if value not in self.choices():
            listed = ", ".join(f"'{c}'" for c in self.choices())
            raise ValueError(f"must be one of {listed} (or a name a package registers in entry-point group {self.group})")
        return value

    def __get_pydantic_core_schema__(self, source, handler):
        return core_schema.no_info_after_validator_function(self.validate, handler(source))
