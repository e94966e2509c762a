"""Checks that run before any run directory exists, so that bad input leaves nothing behind.

- :func:`check_paths` (``rayrlhf train --dry-run``, and first in :func:`preflight`): tracker packages are
  installed, local data files and model directories exist, the output directory can be made. Loads nothing.
- :func:`preflight` (``train`` and ``compare``, before the run directory is made): also loads the data
  (splits, fields, enough rows), each model's config and tokenizer (``AutoConfig`` / ``AutoTokenizer``, no
  weights; ``builtin`` models resolve through the task cache, building the task if needed) and imports each
  ``python`` source's function. It never starts Ray.
- :func:`check_run_dir` (``rayrlhf report``): the directory holds a train or compare run with results.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from rayrlhf.config import Config, ConfigError, DataConfig, load_config
from rayrlhf.rewards.kinds import source_kind

BUILTIN_MODELS = ("builtin", "builtin:policy", "builtin:judge_lm")


def model_refs(cfg: Config) -> list[tuple[str, str, str]]:
    """``(config key, name, "hf" | "python")`` for every model the config names."""
    refs = [("policy.model", cfg.policy.model, "hf")]
    if cfg.policy.tokenizer:
        refs.append(("policy.tokenizer", cfg.policy.tokenizer, "hf"))
    sources = [(f"sources.{i}", s) for i, s in enumerate(cfg.sources)] + [("oracle.reward", cfg.oracle.reward)]
    for key, s in sources:
        if s.model and (kind := source_kind(s.kind).model_ref) is not None:
            refs.append((f"{key}.model", s.model, kind))
        if s.ref_model:
            refs.append((f"{key}.ref_model", s.ref_model, "hf"))
    return refs


def looks_local(name: str) -> bool:
    """A path rather than a hub id (``org/name``): it exists, or starts like a path, or has more than one '/'."""
    return Path(name).exists() or name.startswith(("/", "./", "../", "~", ".\\")) or name.count("/") > 1


def _model_dir_problem(key: str, name: str) -> str | None:
    if name.startswith("builtin"):
        return None if name in BUILTIN_MODELS else f"{key}={name!r}: unknown built-in model; choose one of {list(BUILTIN_MODELS)}"
    if not looks_local(name):
        return None  # a hub id: checked by preflight, not by a dry run
    path = Path(name).expanduser()
    if not path.is_dir():
        return f"{key}={name!r}: no such directory{' (it is a file)' if path.exists() else ''}; give a local Hugging Face model directory or a hub id"
    if not (path / "config.json").is_file():
        return f"{key}={name!r}: {path} holds no config.json, so it is not a Hugging Face model directory"
    return None


def _data_problem(data: DataConfig) -> str | None:
    from rayrlhf.data.prompts import LOCAL_FORMATS

    name = data.dataset
    if name == "builtin":
        return None
    path = Path(name)
    if path.suffix in LOCAL_FORMATS or looks_local(name):
        if not path.is_file():
            what = " (a directory)" if path.is_dir() else ""
            return f"data.dataset: file not found: {path}{what}; give a .jsonl/.json/.parquet/.csv file, 'builtin' or a hub id"
        if path.suffix not in LOCAL_FORMATS:
            return f"data.dataset: {path} is not a .jsonl, .json, .parquet or .csv file"
    return None


def _output_problem(out: str | Path) -> str | None:
    if not str(out).strip():
        return "run.output_dir is empty (it would write into the working directory); name a directory, e.g. runs/my_run"
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        return f"run.output_dir={str(out)!r} is a file; choose a directory"
    parent = path
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"run.output_dir={str(out)!r}: cannot create it ({parent} is a file)"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"run.output_dir={str(out)!r}: cannot create it ({parent} is not writable)"
    return None


def check_paths(cfg: Config, output_dir: str | Path | None = None) -> None:
    """Cheap checks that load nothing; raises one :class:`ConfigError` listing every problem."""
    from rayrlhf.run.tracking import enabled

    enabled(cfg.tracking)  # a missing tracker package names its pip install
    problems = [_data_problem(cfg.data), _output_problem(output_dir or cfg.run.output_dir)]
    problems += [_model_dir_problem(key, name) for key, name, kind in model_refs(cfg) if kind == "hf"]
    problems = [p for p in problems if p]
    if problems:
        raise ConfigError("\n  ".join(["preflight found problems (nothing was written):", *problems]))


def _load_model_files(key: str, name: str, trust_remote_code: bool, config: bool = True, tokenizer: bool = True) -> None:
    """The model's config and tokenizer (not its weights) load."""
    from transformers import AutoConfig, AutoTokenizer

    try:
        if config:
            AutoConfig.from_pretrained(name, trust_remote_code=trust_remote_code)
        if tokenizer:
            AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)
    except Exception as exc:  # OSError (missing/hub), ValueError (bad config), JSON errors, ...
        where = "the local directory" if looks_local(name) else "it as a hub id (is it cached? HF_HUB_OFFLINE)"
        raise ConfigError(f"{key}={name!r}: could not load {where}: {type(exc).__name__}: {str(exc).strip()[:300]}") from None


def check_models(cfg: Config) -> None:
    """Every model the config names resolves and loads its config and tokenizer; ``python`` sources import."""
    from rayrlhf.rewards.python_fn import import_callable
    from rayrlhf.task.build import resolve_model

    trust = {"policy": cfg.policy.trust_remote_code}
    trust.update({f"sources.{i}": s.trust_remote_code for i, s in enumerate(cfg.sources)})
    trust["oracle.reward"] = cfg.oracle.reward.trust_remote_code
    loaded: set[tuple[str, bool, bool]] = set()
    cheap_first = sorted(model_refs(cfg), key=lambda ref: (ref[2] != "python", ref[1].startswith("builtin")))
    for key, name, kind in cheap_first:  # imports, then config/tokenizer files, then the built-in task
        if kind == "python":
            try:
                import_callable(name)
            except Exception as exc:  # ImportError is reworded by import_callable; a module may raise anything
                raise ConfigError(f"{key}: {exc if isinstance(exc, ValueError) else f'importing {name!r} failed: {exc!r}'}") from None
        elif name.startswith("builtin"):
            try:
                resolve_model(name, cfg.task)
            except ValueError as exc:
                raise ConfigError(f"{key}: {exc}") from None
        else:  # the policy's tokenizer comes from policy.tokenizer when that is set
            config, tokenizer = key != "policy.tokenizer", not (key == "policy.model" and cfg.policy.tokenizer)
            if (name, config, tokenizer) not in loaded:
                _load_model_files(key, name, trust[key.rsplit(".", 1)[0]], config, tokenizer)
                loaded.add((name, config, tokenizer))


def preflight(cfg: Config, output_dir: str | Path | None = None) -> None:
    """Everything a run needs, checked before its directory is made: paths, trackers, data, models. Called once per
    run, by :func:`rayrlhf.run.entry.train` (and ``compare``), before torch or Ray is imported."""
    from rayrlhf.data.prompts import load_splits

    check_paths(cfg, output_dir)
    load_splits(cfg, log=lambda msg: None)
    check_models(cfg)


def check_run_dir(path: str | Path) -> None:
    """``path`` holds a train or compare run with at least one finished iteration (for ``rayrlhf report``)."""
    root = Path(path)
    fix = "give the run.output_dir of a `rayrlhf train` or `rayrlhf compare` run"
    if not root.is_dir():
        raise ConfigError(f"{root}: {'is a file, not a directory' if root.exists() else 'no such directory'}; {fix}")
    meta, single = root / "compare.json", root / "config.yaml"
    if meta.is_file():
        try:
            runs = json.loads(meta.read_text()).get("runs")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
            raise ConfigError(f"{meta} is damaged ({exc}); rerun `rayrlhf compare` into another run.output_dir") from None
        if not isinstance(runs, dict) or not runs:
            raise ConfigError(f"{meta} lists no finished runs yet; nothing to report (a comparison that stopped "
                              f"continues with `rayrlhf compare --resume {root}`)")
        return
    if not single.is_file():
        raise ConfigError(f"{root} holds no rayrlhf run (no config.yaml or compare.json); {fix}")
    load_config(single)  # a damaged config.yaml names itself and the key
    metrics = root / "metrics.jsonl"
    if not metrics.is_file() or not metrics.read_text().strip():
        raise ConfigError(f"{root} has no finished iteration yet (metrics.jsonl is empty); nothing to report. "
                          f"Continue it with `rayrlhf train --resume {root}`")
