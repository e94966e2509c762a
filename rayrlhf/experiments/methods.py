"""Method names of ``rayrlhf compare --methods``: ``MODE[+OPTION...][@MULTIPLE]`` (README, "Status").

``MODE`` is a ``transfer.mode`` (``ucb``, ``none``, ``fixed:<source>``), an ``OPTION`` an ``oracle.query_selection``
(``random``, ``disagreement``) or a ``transfer.pairs`` (``implied``, ``ranking``), and ``MULTIPLE`` a multiple of the
labels (``none@2``: twice the prompts, so twice the oracle labels, per iteration;
the report's "labels to match" table).
"""

from __future__ import annotations

from dataclasses import dataclass

from rayrlhf.config import Config, ConfigError


def method_dir(method: str) -> str:
    """A method's folder: ``fixed:rouge`` -> ``fixed_rouge``, ``none@1.5`` -> ``none_x1.5``."""
    return method.replace(":", "_").replace("@", "_x")


# what a ``+OPTION`` of a method sets: ``oracle.query_selection`` or ``transfer.pairs``
OPTIONS = {"random": ("oracle", "query_selection"), "disagreement": ("oracle", "query_selection"),
           "implied": ("transfer", "pairs"), "ranking": ("transfer", "pairs")}


@dataclass(frozen=True)
class MethodSpec:
    """``MODE[+OPTION...][@MULTIPLE]``: a ``transfer.mode``, options (``+random`` / ``+disagreement``: the
    ``oracle.query_selection``; ``+implied`` / ``+ranking``: the ``transfer.pairs``) and a multiple of the labels
    (``none@2``: twice the prompts, so twice the oracle labels, per iteration)."""

    mode: str
    selection: str | None
    multiple: float
    pairs: str | None = None

    @property
    def family(self) -> str:
        """The method without its label multiple (what the labels-to-match curve joins)."""
        return self.mode + "".join(f"+{o}" for o in (self.selection, self.pairs) if o)


def parse_method(spec: str) -> MethodSpec:
    body, sep, mult = spec.partition("@")
    mode, *options = body.split("+")
    multiple = 1.0
    if sep:
        try:
            multiple = float(mult)
        except ValueError:
            multiple = float("nan")
        if not multiple > 0 or multiple == float("inf"):
            raise ConfigError(f"--methods: {spec!r}: write MODE@MULTIPLE with a positive number of times the labels, "
                              "e.g. none@1.5")
    chosen: dict[str, str] = {}
    for option in options:
        if option not in OPTIONS:
            raise ConfigError(f"--methods: {spec!r}: MODE+OPTION takes random or disagreement (oracle.query_selection) "
                              "or implied or ranking (transfer.pairs)")
        key = OPTIONS[option][1]
        if key in chosen:
            raise ConfigError(f"--methods: {spec!r} sets {key} twice (+{chosen[key]}, +{option}); give one")
        chosen[key] = option
    return MethodSpec(mode, chosen.get("query_selection"), multiple, chosen.get("pairs"))


def method_config(cfg: Config, spec: str) -> Config:
    """``cfg`` with the method's ``transfer.mode`` (and its options) and, for ``@M``, M times
    ``train.prompts_per_iteration`` (and ``oracle.budget`` / ``oracle.labels_per_iteration``, if set)."""
    m = parse_method(spec)
    raw = cfg.model_dump()
    raw["transfer"]["mode"] = m.mode
    if m.selection:
        raw["oracle"]["query_selection"] = m.selection
    if m.pairs:
        raw["transfer"]["pairs"] = m.pairs
    raw["train"]["prompts_per_iteration"] = max(1, round(cfg.train.prompts_per_iteration * m.multiple))
    for key in ("budget", "labels_per_iteration"):
        if raw["oracle"].get(key) is not None:
            raw["oracle"][key] = max(1, round(raw["oracle"][key] * m.multiple))
    try:
        return Config.model_validate(raw)
    except Exception as exc:
        raise ConfigError(f"--methods: {spec!r} is not a valid method ({exc})") from None
