"""Method names of `rayrlhf compare --methods` and the config each one runs (rayrlhf/experiments/methods.py)."""

import re

import pytest

from rayrlhf.experiments.methods import parse_method


def test_method_specs():
    m = parse_method("ucb+disagreement@2")
    assert (m.mode, m.selection, m.multiple, m.family) == ("ucb", "disagreement", 2.0, "ucb+disagreement")
    assert parse_method("fixed:rouge").family == "fixed:rouge"
    with pytest.raises(ValueError, match="MODE@MULTIPLE"):
        parse_method("none@-1")
    with pytest.raises(ValueError, match="random or disagreement"):
        parse_method("ucb+greedy")
    m = parse_method("ucb+implied+disagreement@1.5")
    assert (m.selection, m.pairs, m.multiple, m.family) == ("disagreement", "implied", 1.5, "ucb+disagreement+implied")
    with pytest.raises(ValueError, match="transfer.pairs|pairs twice"):
        parse_method("ucb+implied+ranking")
    m = parse_method("ucb+implied+uncertain@2")
    assert (m.route, m.pairs, m.family) == ("uncertain", "implied", "ucb+implied+uncertain")
    with pytest.raises(ValueError, match="route twice"):
        parse_method("ucb+uncertain+route_random")


def test_a_method_sets_any_other_key_for_itself_alone():
    """``[KEY=VALUE]``: one ablation row per compare method, with the command line's value rules; keys the MODE,
    +OPTION or @MULTIPLE set, unknown keys and bad values are refused with the method named."""
    from rayrlhf.config import Config, ConfigError
    from rayrlhf.experiments.methods import method_config, method_dir

    base = Config.model_validate({"sources": [{"name": "rouge", "kind": "rouge"}], "train": {"prompts_per_iteration": 10}})
    spec = "ucb+uncertain[optim.replay=all][transfer.carry=0.5]@2"
    m = parse_method(spec)
    assert (m.mode, m.route, m.multiple) == ("ucb", "uncertain", 2.0)
    assert m.overrides == (("optim.replay", "all"), ("transfer.carry", "0.5"))
    assert m.family == "ucb+uncertain[optim.replay=all][transfer.carry=0.5]"
    cfg = method_config(base, spec)
    assert (cfg.optim.replay, cfg.transfer.carry, cfg.oracle.route) == ("all", 0.5, "uncertain")
    assert (cfg.oracle.labels_per_iteration, cfg.train.prompts_per_iteration) == (20, 40)
    assert base.optim.replay == "none" and base.transfer.carry == 0.0  # the base config is left as it was
    assert method_dir(spec) == "ucb+uncertain_optim.replay-all_transfer.carry-0.5_x2"
    assert len({method_dir(s) for s in ("ucb[optim.beta=0.1]", "ucb[optim.beta=0.2]", "ucb")}) == 3
    assert method_config(base, "none[oracle.labeller=mean]").oracle.labeller == "mean"
    with pytest.raises(ConfigError, match=r"\[transfer.mode=...\] is set by the method"):
        parse_method("ucb[transfer.mode=none]")
    with pytest.raises(ConfigError, match="MODE\\[\\+OPTION"):
        parse_method("ucb[optim.beta]")
    with pytest.raises(ConfigError, match="'ucb\\[optim.nokey=1\\]' is not a valid method"):
        method_config(base, "ucb[optim.nokey=1]")
    with pytest.raises(ConfigError, match="not a valid method.*replay"):
        method_config(base, "ucb[optim.replay=bogus]")


def test_routed_methods_buy_the_same_human_labels():
    """A routed method at M x buys M x the base prompts' labels from people and sees 1 / human_share times as many
    prompts; the model labels the rest (README, "How many labels does it save?")."""
    from rayrlhf.config import Config
    from rayrlhf.experiments.methods import method_config

    rouge = [{"name": "rouge", "kind": "rouge"}]
    base = Config.model_validate({"train": {"prompts_per_iteration": 128}, "oracle": {"human_share": 0.25}, "sources": rouge})
    plain = method_config(base, "none@2")
    assert (plain.train.prompts_per_iteration, plain.oracle.labels_per_iteration, plain.oracle.route) == (256, None, "all")
    routed = method_config(base, "ucb+uncertain")
    assert (routed.train.prompts_per_iteration, routed.oracle.labels_per_iteration, routed.oracle.route) == (512, 128, "uncertain")
    anchor = method_config(base, "ucb+route_random@1.5")
    assert (anchor.train.prompts_per_iteration, anchor.oracle.labels_per_iteration, anchor.oracle.route) == (768, 192, "random")
    budgeted = Config.model_validate({"train": {"prompts_per_iteration": 100}, "oracle": {"labels_per_iteration": 20},
                                      "sources": rouge})
    assert method_config(budgeted, "ucb+uncertain").train.prompts_per_iteration == 40  # human_share 0.5 of the default


def test_the_ablation_table_pairs_methods_one_piece_apart(tmp_path):
    """Pairs differ in one +OPTION or [KEY=VALUE] at the same multiple; the difference is paired by seed (a t-interval
    computed here with scipy) over the seeds both ran."""
    import json

    from scipy import stats

    from rayrlhf.experiments.ablation import ablation_pairs, section

    methods = ["none", "none@2", "ucb", "ucb+uncertain", "ucb+route_random", "ucb+uncertain[optim.replay=all]",
               "ucb+uncertain+implied@2"]
    assert ablation_pairs(methods) == [
        ("none", "ucb", "transfer.mode=ucb"),
        ("ucb", "ucb+uncertain", "oracle.route=uncertain"), ("ucb", "ucb+route_random", "oracle.route=random"),
        ("ucb+uncertain", "ucb+route_random", "oracle.route=random"),
        ("ucb+uncertain", "ucb+uncertain[optim.replay=all]", "optim.replay=all")]
    scores = {("ucb", 0): 1.0, ("ucb", 1): 1.2, ("ucb", 2): 0.9, ("ucb+uncertain", 0): 1.5, ("ucb+uncertain", 1): 1.4,
              ("ucb+uncertain", 3): 9.0}
    runs = {}
    for (method, seed), _ in scores.items():
        run = tmp_path / method / str(seed)
        run.mkdir(parents=True)
        (run / "metrics.jsonl").write_text(json.dumps({"iteration": 3}) + "\n")
        runs.setdefault(method, {})[seed] = run
    lines, rows = section(runs, lambda run, it: scores[(run.parent.name, int(run.name))] if it == 3 else None,
                          lambda c: f"{c['mean']:.3f}")
    assert ablation_pairs(["ucb+uncertain+ranking", "none+uncertain+ranking", "fixed:rouge+uncertain+ranking"]) == [
        ("ucb+uncertain+ranking", "fixed:rouge+uncertain+ranking", "transfer.mode=fixed:rouge"),
        ("none+uncertain+ranking", "ucb+uncertain+ranking", "transfer.mode=ucb"),
        ("none+uncertain+ranking", "fixed:rouge+uncertain+ranking", "transfer.mode=fixed:rouge")]
    (row,) = rows
    diffs = [0.5, 0.2]  # seeds 0 and 1 only: the seeds both ran
    half = stats.t.ppf(0.975, 1) * stats.sem(diffs)
    assert (row["base"], row["variant"], row["seeds"]) == ("ucb", "ucb+uncertain", 2)
    assert row["difference"]["mean"] == pytest.approx(0.35)
    assert row["difference"]["ci_low"] == pytest.approx(0.35 - half) and row["significant"] is False
    assert any("`oracle.route=uncertain`" in line for line in lines)


def test_a_method_is_only_its_own_pieces_whatever_the_config_routes_or_pairs():
    """On examples/quickstart.yaml (routed, ranking pairs, certify burn-in, label credit) `none` is plain online DPO
    at the config's 128 human labels per iteration with people's credit and the paced burn-in, `ucb+uncertain` keeps
    the label credit but not the certify burn-in, and `ucb+guaranteed+ranking` is the quickstart itself; the anchor
    and the step budget are the config's for every method."""
    from rayrlhf.config import load_config
    from rayrlhf.experiments.methods import method_config
    from tests.support.paths import REPO

    quickstart = load_config(REPO / "examples" / "quickstart.yaml")
    none = method_config(quickstart, "none@2")
    assert (none.oracle.route, none.transfer.pairs, none.oracle.labels_per_iteration) == ("all", "best_worst", None)
    assert (none.oracle.burn_in, none.transfer.credit) == ("paced", "people")
    assert none.train.prompts_per_iteration == 2 * quickstart.oracle.labels_per_iteration
    assert (none.optim.nll_weight, none.optim.max_steps) == (quickstart.optim.nll_weight, quickstart.optim.max_steps)
    uncertain = method_config(quickstart, "ucb+uncertain+ranking")
    assert (uncertain.oracle.route, uncertain.oracle.burn_in, uncertain.transfer.credit) == ("uncertain", "paced", "labels")
    assert method_config(quickstart, "ucb+guaranteed+ranking") == quickstart


def test_a_route_bound_piece_the_method_names_itself_is_kept_and_checked():
    """Only a piece the base config carries falls back; one the method's [KEY=VALUE] names is its own, so a route
    that cannot use it is refused with the config's own message."""
    from rayrlhf.config import ConfigError, load_config
    from rayrlhf.experiments.methods import method_config
    from tests.support.paths import REPO

    quickstart = load_config(REPO / "examples" / "quickstart.yaml")
    with pytest.raises(ConfigError, match="burn_in=certify .* only oracle.route=guaranteed"):
        method_config(quickstart, "ucb+uncertain[oracle.burn_in=certify]")
    with pytest.raises(ConfigError, match="transfer.credit=labels"):
        method_config(quickstart, "none[transfer.credit=labels]")
    plain = load_config(REPO / "examples" / "quickstart.yaml", ["oracle.route=uncertain", "oracle.burn_in=front"])
    assert method_config(plain, "none").oracle.burn_in == "front"  # not route-bound: left as the config has it


@pytest.mark.parametrize(("override", "named"), [
    ("rollout.temperature=0.5", "rollout.temperature"), ("rollout.max_new_tokens=8", "rollout.max_new_tokens"),
    ("optim.reference=initial", "optim.reference"), ("sources.0.kind=bertscore", "sources"),
    ("policy.dtype=float32", "policy.dtype"), ("train.num_workers=1", "train.num_workers"),
    ("oracle.reward.empty_score=-1", "oracle.reward"), ("run.timeouts.train=5", "run.timeouts")])
def test_a_method_may_not_change_what_the_shared_workers_read_at_start(override, named):
    """A compare's runs share one set of workers, started from the base config: a method's [KEY=VALUE] on what those
    read when they start (the engine's sampling, the sources, the learner's model loading) would be silently ignored;
    it is refused, naming the key. The per-run recipe (optim.lr, optim.max_steps, ...) and driver keys are allowed."""
    from rayrlhf.config import Config, ConfigError
    from rayrlhf.experiments.methods import method_config

    base = Config.model_validate({"sources": [{"name": "rouge", "kind": "rouge"}], "train": {"prompts_per_iteration": 10}})
    with pytest.raises(ConfigError, match=rf"changes {re.escape(named)}\b.*compare of its own"):
        method_config(base, f"ucb[{override}]")
    cfg = method_config(base, "ucb[optim.lr=0.001][optim.max_steps=3][rollout.samples_in_one_call=true][eval.every=2]")
    assert (cfg.optim.lr, cfg.optim.max_steps, cfg.rollout.samples_in_one_call, cfg.eval.every) == (0.001, 3, True, 2)
