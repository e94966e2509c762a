"""Value checks and the strict YAML loader behind :mod:`rayrlhf.config`.

Kept apart so that the section modules hold the schema (sections, fields, defaults) and little else.
"""

from __future__ import annotations

import difflib
import re
import reprlib
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from yaml.constructor import ConstructorError

SOURCE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
MAX_NAME_LENGTH = 64


def check_template(template: str) -> str:
    """A prompt template must substitute ``{prompt}`` and nothing else."""
    if "{prompt}" not in template:
        raise ValueError(f"must contain '{{prompt}}', got {template!r}")
    try:
        template.format(prompt="")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"only '{{prompt}}' may be substituted; write literal braces as '{{{{' and '}}}}' ({exc})") from None
    return template


def check_source_name(name: str) -> str:
    """Source names become directory and file names (``rayrlhf compare`` writes ``fixed_<name>/``), Ray
    placement-bundle names and metric keys, so they are plain identifiers: letters, digits, ``_ - .``."""
    fix = "use letters, digits, '_', '-' and '.', e.g. 'judge_lm'"
    if not name:
        raise ValueError(f"a source needs a non-empty name; {fix}")
    if "/" in name or "\\" in name:
        raise ValueError(f"{name!r} contains a path separator; {fix}")
    if ".." in name or name.startswith("."):
        raise ValueError(f"{name!r} starts with '.' or contains '..' (it would name a hidden or parent directory); {fix}")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"{name[:20]!r}... is {len(name)} characters long; keep it to {MAX_NAME_LENGTH}")
    if not SOURCE_NAME.fullmatch(name):
        bad = sorted({c for c in name if not re.fullmatch(r"[A-Za-z0-9_.-]", c)})
        raise ValueError(f"{name!r} contains {''.join(bad)!r}; {fix}")
    return name


LOOPBACK_HOSTS = {"localhost", "::1", "[::1]"}


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or re.fullmatch(r"127(\.\d{1,3}){3}", host) is not None


def check_endpoint_url(url: str, allow_http: bool) -> str:
    """A reward endpoint's URL: https (TLS verified), or plain http to this machine only unless ``allow_http``; no
    credentials in it (they would land in config.yaml): a token comes from the environment (``token_env``)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http:// or https:// URL with a host, got {url!r}")
    if parts.username or parts.password:
        raise ValueError("holds credentials (user:password@), which would be written to config.yaml and logs; put the "
                         "token in an environment variable and name it in endpoint.token_env")
    if parts.scheme == "http" and not allow_http and not is_loopback(parts.hostname):
        raise ValueError(f"is plain http to {parts.hostname}, which sends scores and the token unencrypted; use "
                         "https://, or set endpoint.allow_http=true on a network you trust")
    return url


def check_rouge_type(rouge_type: str) -> str:
    """The ROUGE variants ``rouge_score`` computes (its error would only surface inside a reward actor)."""
    if not re.fullmatch(r"rouge[1-9]|rougeL|rougeLsum", rouge_type):
        raise ValueError(f"must be one of rouge1..rouge9, rougeL, rougeLsum; got {rouge_type!r}")
    return rouge_type


def check_seed(seed: int) -> int:
    """Seeds reach NumPy, whose legacy seeding (used by vLLM) takes 0 <= seed < 2**32."""
    if not 0 <= seed < 2**32:
        raise ValueError(f"must be between 0 and 2**32 - 1 (NumPy's seed range), got {seed}")
    return seed


def check_resources(resources: dict[str, float]) -> dict[str, float]:
    """Custom Ray resources: non-negative amounts of names other than the built-in CPU/GPU/memory."""
    for name, amount in resources.items():
        if name in ("CPU", "GPU", "memory", "object_store_memory"):
            raise ValueError(f"{name!r} is set by num_cpus / num_gpus, not as a custom resource; remove it from resources")
        if amount < 0:
            raise ValueError(f"{name!r}: a resource amount cannot be negative (got {amount})")
    return resources


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key written twice in one mapping (PyYAML keeps the last one and
    silently drops the first: two ``optim:`` sections would lose the first section's settings). Keys merged
    in with ``<<: *anchor`` may still be overridden."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Mark] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:  # unhashable: SafeLoader reports it
                    continue
                if first is not key_node.start_mark:
                    raise ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"found key {key!r} twice (first on line {first.line + 1}); write it once (merge the two)",
                        key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def load_yaml(stream: Any) -> Any:
    """Parse YAML text or an open file safely, refusing duplicate keys (raises ``yaml.YAMLError``)."""
    return yaml.load(stream, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def _model_at(root: type[BaseModel], path: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that owns the field at ``path`` (ints index lists)."""
    model = root
    for part in path[:-1]:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part)
        if info is None:
            return None
        inner = getattr(info.annotation, "__args__", None)
        candidate = inner[0] if inner else info.annotation
        if not (isinstance(candidate, type) and issubclass(candidate, BaseModel)):
            return None
        model = candidate
    return model


_SHORT = reprlib.Repr()  # bad values, shown in messages, cut short
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlevel = 120, 120, 2


def _is_key(part) -> bool:
    """Config keys and list indices; not the union members pydantic adds to a location (``list[str]``, ``str``)."""
    return isinstance(part, int) or (str(part).isidentifier() and str(part).islower() and str(part) not in _TYPE_TAGS)


_TYPE_TAGS = {"str", "int", "float", "bool", "list", "dict", "none"}


def _describe(err: dict, root: type[BaseModel]) -> str:
    loc = tuple(p for p in err["loc"] if _is_key(p))
    if err["type"] == "extra_forbidden" and err["loc"]:  # the last part is the unknown key, whatever it is written as
        loc = tuple(p for p in err["loc"][:-1] if _is_key(p)) + (err["loc"][-1],)
    key = ".".join(str(p) for p in loc)
    if err["type"] == "extra_forbidden":
        owner = _model_at(root, loc)
        valid = list(owner.model_fields) if owner else []
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
        hint = f"; did you mean '{'.'.join(str(p) for p in loc[:-1] + (close[0],))}'?" if close else ""
        return f"unknown key '{key}'{hint} (valid keys here: {', '.join(valid)})"
    if err["type"] == "value_error":  # our validators already show the value
        msg = err["msg"].removeprefix("Value error, ")
        return f"{key}: {msg}" if key else msg
    value = err.get("input")
    shown = _SHORT.repr(value) if not isinstance(value, dict) else "{...}"
    return f"{key or '<config>'}: {err['msg']} (got {shown})"


def describe_errors(exc: ValidationError, root: type[BaseModel]) -> list[str]:
    """One line per validation error, naming the dotted key (``optim.beta``), the problem and the value."""
    return [_describe(e, root) for e in exc.errors()]
