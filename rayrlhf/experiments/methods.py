"""Method names of ``rayrlhf compare --methods``: ``MODE[+SELECTION][@MULTIPLE]`` (README, "Status").

``MODE`` is a ``transfer.mode`` (``ucb``, ``none``, ``fixed:<source>``), ``SELECTION`` an ``oracle.query_selection``
and ``MULTIPLE`` a multiple of the labels (``none@2``: twice the prompts, so twice the oracle labels, per iteration;
the report's "labels to match" table).
"""

from __future__ import annotations

from dataclasses import dataclass

from rayrlhf.config import Config, ConfigError


def method_dir(method: str) -> str:
    """A method's folder: ``fixed:rouge`` -> ``fixed_rouge``, ``none@1.5`` -> ``none_x1.5``."""
    return method.replace(":", "_").replace("@", "_x")


@dataclass(frozen=True)
class MethodSpec:
    """``MODE[+SELECTION][@MULTIPLE]``: a ``transfer.mode``, optionally an ``oracle.query_selection`` and a
    multiple of the labels (``none@2``: twice the prompts, so twice the oracle labels, per iteration)."""

    mode: str
    selection: str | None
    multiple: float

    @property
    def family(self) -> str:
        """The method without its label multiple (what the labels-to-match curve joins)."""
        return self.mode + (f"+{self.selection}" if self.selection else "")


def parse_method(spec: str) -> MethodSpec:
    body, sep, mult = spec.partition("@")
    mode, plus, selection = body.partition("+")
    multiple = 1.0
    if sep:
        try:
            multiple = float(mult)
        except ValueError:
            multiple = float("nan")
        if not multiple > 0 or multiple == float("inf"):
            raise ConfigError(f"--methods: {spec!r}: write MODE@MULTIPLE with a positive number of times the labels, "
                              "e.g. none@1.5")
    if plus and selection not in ("random", "disagreement"):
        raise ConfigError(f"--methods: {spec!r}: MODE+SELECTION takes random or disagreement (oracle.query_selection)")
    return MethodSpec(mode, selection or None, multiple)


def method_config(cfg: Config, spec: str) -> Config:
    """``cfg`` with the method's ``transfer.mode`` (and ``oracle.query_selection``) and, for ``@M``, M times
    ``train.prompts_per_iteration`` (and ``oracle.budget`` / ``oracle.labels_per_iteration``, if set)."""
    m = parse_method(spec)
    raw = cfg.model_dump()
    raw["transfer"]["mode"] = m.mode
    if m.selection:
        raw["oracle"]["query_selection"] = m.selection
    raw["train"]["prompts_per_iteration"] = max(1, round(cfg.train.prompts_per_iteration * m.multiple))
    for key in ("budget", "labels_per_iteration"):
        if raw["oracle"].get(key) is not None:
            raw["oracle"][key] = max(1, round(raw["oracle"][key] * m.multiple))
    try:
        return Config.model_validate(raw)
    except Exception as exc:
        raise ConfigError(f"--methods: {spec!r} is not a valid method ({exc})") from None
