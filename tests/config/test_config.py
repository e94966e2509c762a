"""Config loading, overrides and the messages bad input gets."""

import subprocess
import sys

import pytest

from rayrlhf.config import Config, ConfigError, apply_overrides, dump_config, load_config
from tests.support.paths import REPO

QUICKSTART = REPO / "examples" / "quickstart.yaml"


def test_defaults_are_the_papers():
    cfg = Config()
    assert (cfg.train.responses_per_prompt, cfg.transfer.best_of_n, cfg.transfer.num_replace) == (8, 32, 4)
    assert (cfg.optim.beta, cfg.optim.lr, cfg.optim.epochs, cfg.train.iterations) == (0.1, 5e-5, 3, 3)
    assert cfg.transfer.self_win_rate is None and cfg.policy.trust_remote_code is False  # None: Rp/K + 0.05 = 0.55
    o = cfg.optim
    assert (o.batch_size, o.lr_schedule, o.warmup_steps, o.reset_optimizer, o.disable_dropout) == (64, "cosine", 100, True, True)


@pytest.mark.parametrize(("overrides", "message"), [
    (["transfer.self_win_rate=0.5"], "at or below Rp/K = 2/4"),
    (["transfer.self_win_rate=0.2", "transfer.num_replace=1"], "at or below Rp/K = 1/4"),
    (["transfer.num_replace=0"], "never wins"),
    (["transfer.num_replace=4"], "always wins"),
    (["optim.batch_size=12"], "multiple of optim.micro_batch_size x train.num_workers = 8 x 2 = 16"),
])
def test_a_meaningless_self_bar_or_batch_is_refused(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config(QUICKSTART, overrides)
    load_config(QUICKSTART, ["transfer.self_win_rate=0.6"])  # above Rp/K: fine
    load_config(QUICKSTART, ["transfer.mode=none", "transfer.num_replace=0"])  # no source arms: no bar to check


def test_quickstart_loads_and_round_trips(tmp_path):
    cfg = load_config(QUICKSTART)
    assert [s.name for s in cfg.sources][:3] == ["judge_lm", "bertscore", "rouge"]
    saved = tmp_path / "resolved.yaml"
    saved.write_text(dump_config(cfg))
    assert load_config(saved) == cfg


def test_overrides_parse_types_and_index_lists():
    cfg = load_config(QUICKSTART, ["optim.beta=0.2", "sources.0.weight=2", "optim.loss=ipo", "eval.max_new_tokens=null",
                                   "data.prompt_template=Q: {prompt}"])
    assert cfg.optim.beta == 0.2 and cfg.sources[0].weight == 2.0 and cfg.optim.loss == "ipo"
    assert cfg.data.prompt_template == "Q: {prompt}"
    assert apply_overrides({}, ["a.b.c=[1, 2]"]) == {"a": {"b": {"c": [1, 2]}}}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.beta=abc", "optim.beta: Input should be a valid number"),
        ("optim.betta=0.2", "unknown key 'optim.betta'; did you mean 'optim.beta'?"),
        ("sources.0.kindd=rouge", "did you mean 'sources.0.kind'?"),
        ("optimm.beta=0.2", "did you mean 'optim'?"),
        ("optim.beta=-1", "optim.beta: Input should be greater than 0"),
        ("transfer.mode=fixed:nope", "names no configured source"),
        ("transfer.mode=greedy", "must be 'ucb', 'none' or 'fixed:<source name>'"),
        ("transfer.num_replace=9", "exceeds min(K="),
        ("sources.9.weight=1", "indexes a list of 6 items"),
        ("data.prompt_template=Doc", "must contain '{prompt}'"),
        ("sources.1.name=judge_lm", "repeated: ['judge_lm']"),
        ("optim.beta", "not of the form key=value"),
        ("optim.replay=last:0", "'none', 'all' or 'last:N' with N >= 1"),
        ("transfer.carry=2", "transfer.carry: Input should be less than or equal to 1"),
        ("oracle.route=sometimes", "oracle.route: must be one of 'all', 'uncertain', 'random', 'guaranteed' (or a name a package registers"),
        ("oracle.route=uncertain oracle.burn_in=paced oracle.query_selection=disagreement", "takes no oracle.query_selection=disagreement"),
        ("oracle.route=uncertain oracle.burn_in=certify", "only oracle.route=guaranteed does"),
        ("oracle.route=uncertain oracle.burn_in=paced oracle.labels_per_iteration=256", "leaves the model nothing to label"),
        ("oracle.labeller=vote", "oracle.labeller: Input should be 'fitted' or 'mean'"),
        ("sources.2.kind=http", "kind 'http' needs `endpoint`"),
        ("sources.2.endpoint.url=https://rm.example.com/score", "takes no `endpoint` (only http, judge and lm_logprob"),
        ("sources.2.kind=judge", "kind 'judge' needs `endpoint`"),
        ("sources.2.judge.mode=pointwise", "`judge` only applies to kind 'judge'"),
        ("sources.0.endpoint.url=https://lm.example.com/v1/completions sources.0.ref_model=builtin:policy",
         "`ref_model` cannot be used with an lm_logprob `endpoint`"),
        ("sources.2.kind=judge sources.2.endpoint.url=https://j.example.com sources.2.model=gpt sources.2.judge.template=rate", "must contain {prompt} and {response}"),
        ("sources.2.kind=judge sources.2.endpoint.url=https://j.example.com sources.2.model=gpt sources.2.judge.min_score=10", "must be below judge.max_score"),
        ("sources.2.kind=judge sources.2.endpoint.url=https://j.example.com sources.2.model=gpt sources.2.judge.mode=listwise", "a source is pointwise"),
        ("sources.2.kind=judge sources.2.endpoint.url=https://j.example.com sources.2.model=null", "needs the served model's name"),
        ("oracle.backend=judge", "oracle.backend=judge needs oracle.reward of kind 'judge'"),
        ("sources.2.kind=http sources.2.endpoint.url=https://me:pw@rm.example.com/score", "holds credentials"),
        ("sources.2.kind=http sources.2.endpoint.url=http://rm.example.com/score", "set endpoint.allow_http=true"),
        ("sources.2.kind=http sources.2.endpoint.url=rm.example.com/score", "must be an http:// or https:// URL"),
        ("sources.2.kind=http sources.2.endpoint.url=https://rm.example.com sources.2.endpoint.token_env=sk-live-123", "is not one and is not shown"),
        ("sources.2.kind=http sources.2.endpoint.url=https://rm.example.com sources.2.endpoint.retries=-1", "retries: Input should be greater than or equal to 0"),
        ("run.rewards_from=https://u:p@rm.example.com", "run.rewards_from holds credentials"),
    ],
)
def test_bad_values_name_the_key_and_the_fix(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(QUICKSTART, override.split(" "))
    assert message in str(err.value)


def test_yaml_is_loaded_safely_and_checked(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("run: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(evil)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(listy)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")


def test_source_needs_a_model():
    with pytest.raises(ConfigError, match="needs `model`"):
        load_config(QUICKSTART, ["sources.0.model=null"])


def test_config_errors_come_before_heavy_imports():
    """The CLI rejects a bad config without importing torch, ray or vllm (so it answers in well under 3 s)."""
    code = (
        "import sys; from rayrlhf.cli import main; rc = main(['rewards', 'evaluate', %r, 'optim.beta=abc']);"
        "print(rc, sorted(m for m in ('torch', 'ray', 'vllm', 'transformers') if m in sys.modules))" % str(QUICKSTART)
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[0] == "2 []"
    assert "optim.beta: Input should be a valid number" in out.stderr


def test_tracking_is_off_by_default_and_a_missing_package_is_named(monkeypatch):
    import importlib.util

    from rayrlhf.run import tracking

    assert tracking.enabled(Config().tracking) == []
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(ConfigError, match=r"tracking.wandb=true needs the 'wandb' package: pip install 'rayrlhf\[tracking\]'"):
        tracking.enabled(load_config(None, ["tracking.wandb=true"]).tracking)


def test_a_prompt_prefix_is_not_added_twice():
    """The paper's config: data.prompt_template adds "Summarize: "; the T5 sources must score that prompt as is."""
    cfg = load_config(REPO / "examples" / "xsum_t5small.yaml")
    for s in cfg.sources:
        seen = s.prompt_template.format(prompt=cfg.data.prompt_template.format(prompt="A news article."))
        assert seen.count("Summarize:") == 1, s.name
    with pytest.raises(ConfigError, match=r"sources.2.prompt_template='Summarize: \{prompt\}' adds 'Summarize:'"):
        load_config(REPO / "examples" / "xsum_t5small.yaml", ["sources.2.prompt_template=Summarize: {prompt}"])


def test_merge_keys_may_be_overridden_but_a_key_written_twice_may_not(tmp_path):
    merged = tmp_path / "merged.yaml"
    merged.write_text("sources:\n  - &judge {name: a, kind: rouge, weight: 2.0}\n  - <<: *judge\n    name: b\n")
    cfg = load_config(merged)
    assert [(s.name, s.weight) for s in cfg.sources] == [("a", 2.0), ("b", 2.0)]
    twice = tmp_path / "twice.yaml"
    twice.write_text("optim:\n  beta: 0.2\ntrain:\n  iterations: 2\noptim:\n  lr: 0.1\n")
    with pytest.raises(ConfigError, match=r"found key 'optim' twice \(first on line 1\)[\s\S]*line 5"):
        load_config(twice)


def test_overriding_one_key_keeps_the_rest_of_a_default_section():
    """The default oracle is a whole source (name gold, kind python, empty_score -5); changing its model keeps the rest."""
    reward = load_config(None, ["oracle.reward.model=rayrlhf.rewards.heuristics:brevity"]).oracle.reward
    assert (reward.name, reward.kind, reward.model, reward.empty_score) == ("gold", "python", "rayrlhf.rewards.heuristics:brevity", -5.0)


def test_resolved_config_round_trips_through_the_strict_loader(tmp_path):
    cfg = load_config(QUICKSTART, ["rollout.resources={rollout_node: 1}", "run.seed=4294967295"])
    saved = tmp_path / "resolved.yaml"
    saved.write_text(dump_config(cfg))
    assert load_config(saved) == cfg
