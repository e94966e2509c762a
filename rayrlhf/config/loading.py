"""YAML config files and dotted ``key=value`` overrides in, the validated :class:`Config` out; the saved YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from rayrlhf.config import checks
from rayrlhf.config.schema import Config


class ConfigError(ValueError):
    """A configuration problem, worded for the person who wrote the config."""


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not of the form key=value (e.g. optim.beta=0.2)")
    key, raw = item.split("=", 1)
    if not key or any(not p for p in key.split(".")):
        raise ConfigError(f"override {item!r} has an empty key part; write e.g. optim.beta=0.2")
    try:
        value = checks.load_yaml(raw) if raw != "" else ""
    except yaml.constructor.ConstructorError as exc:  # e.g. {a: 1, a: 2}
        raise ConfigError(f"override {item!r}: {exc.problem}") from None
    except yaml.YAMLError:
        value = raw
    if isinstance(value, dict | list) and not raw.lstrip().startswith(("[", "{")):
        value = raw  # "Q: {prompt}" is text, not a mapping; write [..] or {..} for collections
    return key.split("."), value


def _default_section(parts: list[str]) -> dict:
    """The default of the section at ``parts`` as a dict ({} if none), so that overriding one key of a section
    the YAML leaves out keeps the rest (``oracle.reward.model=...`` keeps the default oracle's name and kind)."""
    node: Any = Config().model_dump()
    for part in parts:
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Set dotted ``key=value`` items in a nested dict; list elements are addressed by index
    (``sources.0.weight=2``). Values are parsed as YAML scalars (``0.2`` is a float, ``abc`` a string,
    ``null`` is None); a value starting with ``[`` or ``{`` is a YAML collection."""
    for item in overrides:
        parts, value = _parse_override(item)
        node: Any = raw
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            where = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(
                        f"override {item!r}: '{where}' indexes a list of {len(node)} items; "
                        f"use an index 0..{len(node) - 1}"
                    )
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    if node.get(part) is None:  # absent, or an explicit `null` section: start from its defaults
                        node[part] = _default_section(parts[: depth + 1])
                    node = node[part]
            else:
                raise ConfigError(f"override {item!r}: '{'.'.join(parts[:depth])}' is a value, not a section")
    return raw


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Load ``path`` (YAML, safely), apply ``overrides``, validate. Raises :class:`ConfigError`."""
    raw: Any = {}
    origin = "defaults"
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}{' (a directory)' if p.is_dir() else ''} (try examples/quickstart.yaml)")
        try:
            with p.open(encoding="utf-8") as f:  # an open file: marks in messages name it
                raw = checks.load_yaml(f)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p} is not valid YAML: {exc}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{p} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 YAML") from None
        raw = {} if raw is None else raw
        if not isinstance(raw, dict):
            raise ConfigError(f"{p} must hold a mapping of sections (run, data, ...), got {type(raw).__name__}")
        origin = str(p)
    if overrides:
        raw = apply_overrides(raw, list(overrides))
        origin += " + overrides"
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"invalid config ({origin}):\n  " + "\n  ".join(checks.describe_errors(exc, Config))) from None


def dump_config(cfg: Config) -> str:
    """The resolved config as YAML (saved with every run)."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
