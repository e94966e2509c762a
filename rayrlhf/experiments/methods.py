"""Method names of ``rayrlhf compare --methods``: ``MODE[+OPTION...][@MULTIPLE]`` (README, "Status").

``MODE`` is a ``transfer.mode`` (``ucb``, ``none``, ``fixed:<source>``), an ``OPTION`` an ``oracle.query_selection``
(``random``, ``disagreement``), a ``transfer.pairs`` (``implied``, ``ranking``) or an ``oracle.route`` (``uncertain``,
``route_random``: model labels where people do not label) or ``ensemble`` (the label model's arm), and ``MULTIPLE`` a multiple of the human labels
(``none@2``: twice the prompts, so twice the oracle labels, per iteration; the report's "labels to match" table).
A routed method at 1x has as many human labels as ``none``: it sees ``1 / oracle.human_share`` times the prompts,
people label the human share, the label model the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from rayrlhf.config import Config, ConfigError


def method_dir(method: str) -> str:
    """A method's folder: ``fixed:rouge`` -> ``fixed_rouge``, ``none@1.5`` -> ``none_x1.5``."""
    return method.replace(":", "_").replace("@", "_x")


# what a ``+OPTION`` of a method sets: ``oracle.query_selection`` or ``transfer.pairs``
OPTIONS = {"random": ("oracle", "query_selection"), "disagreement": ("oracle", "query_selection"),
           "implied": ("transfer", "pairs"), "ranking": ("transfer", "pairs"),
           "uncertain": ("oracle", "route"), "route_random": ("oracle", "route"), "ensemble": ("transfer", "ensemble")}


@dataclass(frozen=True)
class MethodSpec:
    """``MODE[+OPTION...][@MULTIPLE]``: a ``transfer.mode``, options (``+random`` / ``+disagreement``: the
    ``oracle.query_selection``; ``+implied`` / ``+ranking``: the ``transfer.pairs``) and a multiple of the labels
    (``none@2``: twice the prompts, so twice the oracle labels, per iteration)."""

    mode: str
    selection: str | None
    multiple: float
    pairs: str | None = None
    route: str | None = None  # the +OPTION as written (uncertain, route_random)
    ensemble: bool = False  # +ensemble: transfer.ensemble (the label model's arm)

    @property
    def family(self) -> str:
        """The method without its label multiple (what the labels-to-match curve joins)."""
        options = (self.selection, self.pairs, self.route, "ensemble" if self.ensemble else None)
        return self.mode + "".join(f"+{o}" for o in options if o)


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
            raise ConfigError(f"--methods: {spec!r}: MODE+OPTION takes random or disagreement (oracle.query_selection), "
                              "implied or ranking (transfer.pairs), uncertain or route_random (oracle.route), or ensemble (transfer.ensemble)")
        key = OPTIONS[option][1]
        if key in chosen:
            raise ConfigError(f"--methods: {spec!r} sets {key} twice (+{chosen[key]}, +{option}); give one")
        chosen[key] = option
    return MethodSpec(mode, chosen.get("query_selection"), multiple, chosen.get("pairs"), chosen.get("route"),
                      "ensemble" in chosen)


def method_config(cfg: Config, spec: str) -> Config:
    """``cfg`` with the method's ``transfer.mode`` (and its options) and, for ``@M``, M times
    ``train.prompts_per_iteration`` (and ``oracle.budget`` / ``oracle.labels_per_iteration``, if set). A routed
    method (``+uncertain``, ``+route_random``) buys the same human labels per iteration (``labels_per_iteration``)
    and sees ``1 / oracle.human_share`` times the prompts."""
    m = parse_method(spec)
    raw = cfg.model_dump()
    raw["transfer"]["mode"] = m.mode
    if m.selection:
        raw["oracle"]["query_selection"] = m.selection
    if m.pairs:
        raw["transfer"]["pairs"] = m.pairs
    if m.ensemble:
        raw["transfer"]["ensemble"] = True
    prompts = max(1, round(cfg.train.prompts_per_iteration * m.multiple))
    raw["train"]["prompts_per_iteration"] = prompts
    for key in ("budget", "labels_per_iteration"):
        if raw["oracle"].get(key) is not None:
            raw["oracle"][key] = max(1, round(raw["oracle"][key] * m.multiple))
    if m.route:
        raw["oracle"]["route"] = "uncertain" if m.route == "uncertain" else "random"
        humans = raw["oracle"].get("labels_per_iteration") or prompts
        raw["oracle"]["labels_per_iteration"] = humans
        raw["train"]["prompts_per_iteration"] = max(humans + 1, round(humans / cfg.oracle.human_share))
    try:
        return Config.model_validate(raw)
    except Exception as exc:
        raise ConfigError(f"--methods: {spec!r} is not a valid method ({exc})") from None
