"""The config reference, generated from the section models (their docstrings, fields, types, constraints and
descriptions): a config as YAML with each key's description as a comment, and the Markdown table of every key
(``rayrlhf config show [--defaults] [--format markdown]``; ``docs/config.md``)."""

from __future__ import annotations

import inspect
import json
import textwrap
import types
from collections.abc import Iterator
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from rayrlhf.config.plugins import PluginChoice
from rayrlhf.config.schema import Config

WIDTH = 118  # comment lines of the YAML
DOCS_COMMAND = "rayrlhf config show --defaults --format markdown > docs/config.md"
_BOUNDS = ((annotated_types.Gt, "gt", ">"), (annotated_types.Ge, "ge", ">="), (annotated_types.Lt, "lt", "<"),
           (annotated_types.Le, "le", "<="))


def doc_text(model: type[BaseModel]) -> str:
    """A section's docstring as one paragraph, with RST ``code`` written as Markdown `code`."""
    return " ".join(inspect.cleandoc(model.__doc__ or "").split()).replace("``", "`")


def section_model(annotation: Any) -> type[BaseModel] | None:
    """The section model a field holds (``X``, ``X | None`` or ``list[X]``), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = section_model(arg)
        if found is not None:
            return found
    return None


def type_text(annotation: Any) -> str:
    """``int``, ``list of str``, ``one of `a`, `b```, ``float or null``: a field's type in words."""
    origin = get_origin(annotation)
    if annotation is type(None):
        return "null"
    if origin is Literal:
        return "one of " + ", ".join(f"`{v}`" for v in get_args(annotation))
    if origin in (Union, types.UnionType):
        args = get_args(annotation)
        return " or ".join(type_text(a) for a in args if a is not type(None)) + (" or null" if type(None) in args else "")
    if origin is list:
        return f"list of {type_text(get_args(annotation)[0])}"
    if origin is dict:
        key, value = get_args(annotation)
        return f"mapping of {type_text(key)} to {type_text(value)}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return getattr(annotation, "__name__", str(annotation))


def bounds_text(info: FieldInfo) -> str:
    """The field's numeric bounds (``>= 1``, ``> 0, <= 1``), from its ``ge``/``gt``/``le``/``lt`` constraints."""
    parts = [f"{sign} {getattr(m, attr):g}" for kind, attr, sign in _BOUNDS for m in info.metadata if isinstance(m, kind)]
    return ", ".join(parts)


def yaml_value(value: Any) -> str:
    """One value as a single line of YAML (flow style); text that needs several lines is written JSON-quoted."""
    text = yaml.safe_dump(value, default_flow_style=True, width=float("inf"), allow_unicode=True, sort_keys=False)
    text = text.removesuffix("\n...\n").removesuffix("\n")
    return json.dumps(value, ensure_ascii=False) if "\n" in text else text


def _comment(text: str, indent: str) -> list[str]:
    return [f"{indent}# {line}" for line in textwrap.wrap(text, WIDTH - len(indent) - 2, break_on_hyphens=False)] if text else []


def _yaml_lines(model: BaseModel, indent: str, described: bool = True) -> Iterator[str]:
    """``key: value`` lines of a section, each key under its description; sections and lists nest."""
    for name, info in type(model).model_fields.items():
        if described:
            yield from _comment((info.description or "").replace("``", "`"), indent)
        yield from _yaml_entry(name, getattr(model, name), indent, described)


def _yaml_entry(name: str, value: Any, indent: str, described: bool = True) -> Iterator[str]:
    if isinstance(value, BaseModel):
        yield f"{indent}{name}:"
        yield from _yaml_lines(value, indent + "  ", described)
    elif isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
        yield f"{indent}{name}:"
        for i, item in enumerate(value):  # the keys of the first item are described; the others are alike
            lines = list(_yaml_lines(item, indent + "    ", described and i == 0))
            first = next(j for j, line in enumerate(lines) if not line.lstrip().startswith("#"))
            lines[:first] = [f"{indent}  {line.lstrip()}" for line in lines[:first]]
            lines[first] = f"{indent}  - {lines[first].lstrip()}"  # the dash goes on the item's first key
            yield from lines
    else:
        yield f"{indent}{name}: {yaml_value(value)}"


def commented_yaml(cfg: Config, origin: str) -> str:
    """``cfg`` as YAML that loads back to the same config, every key under its description as a comment."""
    one_line = origin.replace("\r", "\\r").replace("\n", "\\n")  # an override's text may span lines
    lines = [*_comment(f"rayrlhf config: {one_line}", ""),
             "# Every key with its description (`rayrlhf config show`; reference: docs/config.md).", ""]
    for name in Config.model_fields:
        value = getattr(cfg, name)
        model = section_model(Config.model_fields[name].annotation)
        lines += [*_comment(f"{name}: {doc_text(model)}", ""), *_yaml_entry(name, value, ""), ""]
    return "\n".join(lines)


def _cell(text: str) -> str:
    """Table-cell Markdown: pipes escaped; outside `code`, ``*`` and ``<`` cannot start emphasis or HTML."""
    parts = text.replace("``", "`").split("`")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("*", r"\*").replace("<", "&lt;")
    return "`".join(parts).replace("|", r"\|")


def _default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        inner = value.model_dump(mode="json", exclude_defaults=True)
        return f"`{yaml_value(inner)}`" if inner else "(its keys' defaults)"
    return f"`{yaml_value(value)}`"


def _sections(model: type[BaseModel], path: str, seen: dict[type, str]) -> Iterator[tuple[str, type[BaseModel]]]:
    """(dotted path, model) of a section and of the sections inside it, each model once (where it first appears)."""
    seen[model] = path
    yield path, model
    for name, info in model.model_fields.items():
        inner = section_model(info.annotation)
        if inner is not None and inner not in seen:
            yield from _sections(inner, f"{path}.{name}", seen)


def _row(path: str, name: str, info: FieldInfo, seen: dict[type, str]) -> str:
    kind = type_text(info.annotation)
    for choice in (m for m in info.metadata if isinstance(m, PluginChoice)):
        kind = "one of " + ", ".join(f"`{v}`" for v in choice.builtin) + f", or a plugin's (entry points `{choice.group}`)"
    bounds = bounds_text(info)
    kind += f" ({bounds})" if bounds else ""
    text = info.description or ""
    inner = section_model(info.annotation)
    if inner is not None and seen.get(inner) != f"{path}.{name}":
        text += f"; its keys are those of `{seen[inner]}`"
    elif inner is not None:
        text += f"; its keys are listed under `{path}.{name}`"
    return f"| `{path}.{name}` | {_cell(kind)} | {_cell(_default_text(info))} | {_cell(text)} |"


def markdown_reference() -> str:
    """Every key of every section with its type, bounds, default and description (``docs/config.md``)."""
    seen: dict[type, str] = {}
    sections = []
    for name, info in Config.model_fields.items():
        list_of = get_origin(info.annotation) is list
        sections += _sections(section_model(info.annotation), f"{name}.<i>" if list_of else name, seen)
    out = [
        f"<!-- Generated by `{DOCS_COMMAND}` from the section models in rayrlhf/config/; edit the descriptions "
        "there, not here (tests/config/test_config_reference.py checks that this file is current). -->",
        "", "# Configuration reference", "",
        "Every key of a rayrlhf config, with its type, bounds, default and meaning. A config is a YAML file of these "
        "sections; any key not written takes its default, and dotted `key=value` overrides follow the file on the "
        "command line (`sources.<i>.*` addresses the i-th source: `sources.0.weight=2`). "
        "`rayrlhf config show CONFIG [key=value ...]` prints a config resolved, each key with its description; "
        "`rayrlhf config show --defaults` prints the defaults. Unknown keys and out-of-range values are refused "
        "before any work starts.", "",
    ]
    for path, model in sections:
        out += [f"## `{path}`", "", _cell(doc_text(model)), "", "| key | type | default | description |", "|---|---|---|---|"]
        out += [_row(path, name, info, seen) for name, info in model.model_fields.items()]
        out.append("")
    return "\n".join(out)

