"""Method names of ``rayrlhf compare --methods``: ``MODE[+OPTION...][[KEY=VALUE]...][@MULTIPLE]`` (README, "Status").

``MODE`` is a ``transfer.mode`` (``ucb``, ``none``, ``fixed:<source>``), an ``OPTION`` an ``oracle.query_selection``
(``random``, ``disagreement``), a ``transfer.pairs`` (``implied``, ``ranking``, ``listwise``) or an ``oracle.route`` (``uncertain``,
``route_random``, ``guaranteed``: model labels where people do not label) or ``ensemble`` (the label model's arm), and ``MULTIPLE`` a multiple of the human labels
(``none@2``: twice the prompts, so twice the oracle labels, per iteration; the report's "labels to match" table).
``[KEY=VALUE]`` sets any other config key for that method alone (``ucb+uncertain[optim.replay=all]``: an ablation
row), with the YAML value rules of command-line overrides. A routed method at 1x has as many human labels as ``none``: it sees ``1 / oracle.human_share`` times the prompts,
people label the human share, the label model the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import ValidationError

from rayrlhf.config import Config, ConfigError, apply_overrides
from rayrlhf.config.checks import describe_errors
from rayrlhf.config.scopes import PER_RUN, SHARED, keys_in_scope
from rayrlhf.labelling import rule_classes

# keys a method's MODE, +OPTION or @MULTIPLE (or compare itself) sets: a [KEY=VALUE] may not
SET_BY_METHOD = {"transfer.mode", "oracle.query_selection", "transfer.pairs", "oracle.route", "transfer.ensemble",
                 "train.prompts_per_iteration", "oracle.labels_per_iteration", "oracle.budget", "run.output_dir", "run.seed"}
_SPEC = re.compile(r"^(?P<body>[^\[\]@]+)(?P<overrides>(?:\[[^\[\]=]+=[^\[\]]*\])*)(?:@(?P<mult>[^\[\]@]*))?$")


def method_dir(method: str) -> str:
    """A method's folder: ``fixed:rouge`` -> ``fixed_rouge``, ``none@1.5`` -> ``none_x1.5``,
    ``ucb[optim.replay=all]`` -> ``ucb_optim.replay-all``."""
    return method.replace(":", "_").replace("@", "_x").replace("][", "_").replace("[", "_").replace("]", "").replace("=", "-").replace("/", "-")


PAIR_OPTIONS = ("implied", "ranking", "listwise")  # +OPTION that sets transfer.pairs


def options() -> dict[str, tuple[str, str]]:
    """What each ``+OPTION`` of a method sets, as (section, key): a labelling rule
    (:func:`rayrlhf.labelling.rule_classes`, by its name: ``oracle.query_selection`` or ``oracle.route``), a
    ``transfer.pairs``, or ``ensemble`` (``transfer.ensemble``)."""
    rules = {name: ("oracle", rule.setting[0]) for name, rule in rule_classes().items() if name != "all"}
    return rules | {p: ("transfer", "pairs") for p in PAIR_OPTIONS} | {"ensemble": ("transfer", "ensemble")}


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
    overrides: tuple[tuple[str, str], ...] = ()  # [KEY=VALUE]: (dotted key, value as written)

    @property
    def family(self) -> str:
        """The method without its label multiple (what the labels-to-match curve joins)."""
        options = (self.selection, self.pairs, self.route, "ensemble" if self.ensemble else None)
        return (self.mode + "".join(f"+{o}" for o in options if o)
                + "".join(f"[{k}={v}]" for k, v in self.overrides))


def parse_method(spec: str) -> MethodSpec:
    match = _SPEC.match(spec)
    if match is None:
        raise ConfigError(f"--methods: {spec!r}: write MODE[+OPTION...][[KEY=VALUE]...][@MULTIPLE], "
                          "e.g. ucb+uncertain[optim.replay=all]@2")
    body, mult, sep = match["body"], match["mult"], match["mult"] is not None
    overrides = tuple(tuple(o.split("=", 1)) for o in re.findall(r"\[([^\[\]]+)\]", match["overrides"]))
    for key, _ in overrides:
        if key.strip() in SET_BY_METHOD or not key.strip():
            raise ConfigError(f"--methods: {spec!r}: [{key}=...] is set by the method's MODE, +OPTION or @MULTIPLE "
                              "(or by compare itself); write it that way")
    mode, *parts = body.split("+")
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
    known = options()
    for option in parts:
        if option not in known:
            by_key: dict[str, list[str]] = {}
            for name, (section, key) in known.items():
                by_key.setdefault(f"{section}.{key}", []).append(name)
            raise ConfigError(f"--methods: {spec!r}: +{option} is no option; MODE+OPTION takes "
                              + "; ".join(f"{' or '.join(names)} ({key})" for key, names in by_key.items()))
        key = known[option][1]
        if key in chosen:
            raise ConfigError(f"--methods: {spec!r} sets {key} twice (+{chosen[key]}, +{option}); give one")
        chosen[key] = option
    return MethodSpec(mode, chosen.get("query_selection"), multiple, chosen.get("pairs"), chosen.get("route"),
                      "ensemble" in chosen, overrides)


def _scale_labels(cfg: Config, raw: dict, m: MethodSpec) -> None:
    """Prompts and human labels per iteration of a method at ``m.multiple`` times the config's human labels."""
    o, prompts = cfg.oracle, cfg.train.prompts_per_iteration
    routed = o.route != "all"
    humans = o.labels_per_iteration or (max(1, round(prompts * o.human_share)) if routed else prompts)
    wanted = max(1, round(humans * m.multiple))
    if o.budget is not None:
        raw["oracle"]["budget"] = max(1, round(o.budget * m.multiple))
    if m.route:
        share = humans / prompts if routed else o.human_share
        raw["oracle"]["route"] = rule_classes()[m.route].setting[1]
        raw["oracle"]["labels_per_iteration"] = wanted
        raw["train"]["prompts_per_iteration"] = max(wanted + 1, round(wanted / share))
    elif routed:  # people label every prompt: as many prompts as the config's human labels
        raw["oracle"].update(route="all", labels_per_iteration=None)
        raw["train"]["prompts_per_iteration"] = wanted
    else:
        raw["train"]["prompts_per_iteration"] = max(1, round(prompts * m.multiple))
        if o.labels_per_iteration is not None:
            raw["oracle"]["labels_per_iteration"] = wanted


def method_config(cfg: Config, spec: str) -> Config:
    """``cfg`` with the method's ``transfer.mode``, options and overrides, and M times the config's human labels per
    iteration (and ``oracle.budget``) for ``@M``. A method is routed only with ``+uncertain`` / ``+route_random`` / ``+guaranteed``:
    it buys those human labels (``labels_per_iteration``) and sees as many more prompts as the config's human share
    says (``1 / oracle.human_share``, or the config's own prompts per label when it is routed itself); any other
    method has people label every prompt (``oracle.route: all``), and a method trains one best/worst pair per
    answer unless ``+implied`` / ``+ranking`` says otherwise, so ``none`` is plain online DPO whatever the config
    routes or pairs; a route-bound piece of the config the method's route cannot use falls back to its default
    (:data:`ROUTE_PIECES`). Every other key (``optim.nll_weight``, ``optim.max_steps``, ...) comes from the config."""
    m = parse_method(spec)
    raw = cfg.model_dump()
    raw["transfer"]["mode"] = m.mode
    if m.selection:
        raw["oracle"]["query_selection"] = rule_classes()[m.selection].setting[1]
    raw["transfer"]["pairs"] = m.pairs or "best_worst"  # a method's pieces are its own, whatever the config sets
    raw["transfer"]["ensemble"] = m.ensemble
    apply_overrides(raw, [f"{key}={value}" for key, value in m.overrides])
    _scale_labels(cfg, raw, m)
    _drop_route_pieces(raw, {key.strip() for key, _ in m.overrides})
    try:
        out = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"--methods: {spec!r} is not a valid method: " + "; ".join(describe_errors(exc, Config))) from None
    if differ := shared_differences(cfg, out):
        raise ConfigError(f"--methods: {spec!r} changes {', '.join(differ)}, which the workers every method of a compare "
                          "shares read once, from the base config; set it in the base config (or as a command-line "
                          "override) in a compare of its own, and join the two with `rayrlhf report A B --into DIR`")
    return out


# route-bound pieces (the config's own checks): (dotted key, its value that needs a route, whether a route can use it,
# the default it falls back to)
ROUTE_PIECES = (("oracle.burn_in", "certify", lambda route: route == "guaranteed", "paced"),
                ("transfer.credit", "labels", lambda route: route != "all", "people"))


def _drop_route_pieces(raw: dict, named: set[str]) -> None:
    """A method's route is its own (its +OPTION, else people label every prompt), so a base config's piece that only
    a route the method does not take can use (``oracle.burn_in: certify`` without ``guaranteed``, ``transfer.credit:
    labels`` without model labels) falls back to its default; a piece the method's own ``[KEY=VALUE]`` names stays."""
    route = raw["oracle"]["route"]
    for dotted, value, usable, default in ROUTE_PIECES:
        section, key = dotted.split(".")
        if dotted not in named and raw[section][key] == value and not usable(route):
            raw[section][key] = default


def shared_differences(base: Config, cfg: Config) -> list[str]:
    """The keys the workers a compare's runs share read when they start (fields marked ``SHARED``: the rollout
    engines, the reward and oracle actors, the learner's model loading; in a marked section every key but those marked
    ``PER_RUN``) where ``cfg`` differs from ``base``, dotted."""
    a, b = base.model_dump(mode="json"), cfg.model_dump(mode="json")
    per_run = set(keys_in_scope(Config, PER_RUN))
    differ = []
    for key in keys_in_scope(Config, SHARED):
        left, right = _at(a, key), _at(b, key)
        if isinstance(left, dict):
            differ += [f"{key}.{k}" for k in left if f"{key}.{k}" not in per_run and left[k] != right[k]]
        elif left != right:
            differ.append(key)
    return differ


def _at(tree: dict, dotted: str):
    for part in dotted.split("."):
        tree = tree[part]
    return tree
