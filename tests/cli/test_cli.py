"""The console script end to end, as a user runs it (subprocesses, tiny task)."""

import json

import pytest

from tests.support.cli import rayrlhf
from tests.support.paths import REPO, SHARED_DATA

QUICKSTART = str(REPO / "examples" / "quickstart.yaml")


@pytest.mark.parametrize("command", [[], ["train"], ["compare"], ["report"], ["sweep"], ["theory"], ["theory", "lemma"], ["theory", "regret"], ["task", "build"],
                                     ["rewards", "evaluate"], ["config", "show"], ["annotate", "serve"], ["annotate", "import"]])
def test_help_for_every_subcommand(command):
    out = rayrlhf(*command, "--help")
    assert "usage: rayrlhf" in out.stdout


@pytest.mark.slow
def test_bad_config_fails_with_the_key(tmp_path):
    out = rayrlhf("rewards", "evaluate", QUICKSTART, "optim.beta=abc", check=False)
    assert out.returncode == 2 and "optim.beta: Input should be a valid number" in out.stderr
    out = rayrlhf("rewards", "evaluate", QUICKSTART, "optim.betaa=0.1", check=False)
    assert out.returncode == 2 and "did you mean 'optim.beta'?" in out.stderr
    bad = tmp_path / "pairs.jsonl"
    bad.write_text('{"chosen": "a", "rejected": "b"}\n{"chosen": "", "rejected": "b"}\n')
    out = rayrlhf("rewards", "evaluate", QUICKSTART, "--pairs", str(bad), check=False)
    assert out.returncode == 2 and "row 1: field 'chosen' is empty" in out.stderr


@pytest.mark.slow
def test_task_build_then_cached(tiny_overrides):
    first = json.loads(rayrlhf("task", "build", QUICKSTART, *tiny_overrides).stdout)
    second = json.loads(rayrlhf("task", "build", QUICKSTART, *tiny_overrides).stdout)
    assert first["path"] == second["path"] and first["policy"]["params"] > 0


@pytest.mark.slow
def test_rewards_evaluate_on_the_builtin_task(tiny_overrides):
    out = json.loads(rayrlhf("rewards", "evaluate", QUICKSTART, "--json", *tiny_overrides).stdout)
    rows = {r["source"]: r for r in out["sources"]}
    assert set(rows) == {"judge_lm", "bertscore", "rouge", "copy_length", "verbosity", "abstractive"}
    for r in rows.values():
        assert 0.0 <= r["ci_low"] <= r["agreement"] <= r["ci_high"] <= 1.0 and r["n"] == out["sample"]["pairs"]
    assert out["sample"]["pairs"] + out["sample"]["oracle_abstained"] == 24
    assert "mean" in out["sample"]["initial_policy_oracle_score"]
    table = rayrlhf("rewards", "evaluate", QUICKSTART, *tiny_overrides).stdout
    assert "agreement" in table and "abstractive" in table


@pytest.mark.slow
def test_rewards_evaluate_on_a_pairs_file(tmp_path):
    cfg = tmp_path / "sources.yaml"
    cfg.write_text(
        "sources:\n"
        "  - {name: brevity, kind: python, model: 'rayrlhf.rewards.heuristics:brevity'}\n"
        "  - {name: rouge_ref, kind: rouge}\n"
    )
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("\n".join(json.dumps(r) for r in [
        {"prompt": "Q?", "chosen": "short.", "rejected": "a much longer answer here."},
        {"chosen": "\n\nHuman: hi\n\nAssistant: hello", "rejected": "\n\nHuman: hi\n\nAssistant: go away you fool"},
    ]))
    out = json.loads(rayrlhf("rewards", "evaluate", str(cfg), "--pairs", str(pairs), "--json").stdout)
    rows = {r["source"]: r for r in out["sources"]}
    assert rows["brevity"]["agreement"] == 1.0 and rows["brevity"]["n"] == 2
    assert "needs references" in rows["rouge_ref"]["skipped"]


@pytest.mark.skipif(not (SHARED_DATA / "hh_rlhf_harmless_test_300.jsonl").is_file(),
                    reason="../shared/data/hh_rlhf_harmless_test_300.jsonl is absent (shared data not checked out)")
@pytest.mark.slow
def test_rewards_evaluate_on_real_human_labels(tmp_path):
    cfg = tmp_path / "sources.yaml"
    cfg.write_text("data: {reference_field: null}\nsources:\n"
                   "  - {name: brevity, kind: python, model: 'rayrlhf.rewards.heuristics:brevity'}\n"
                   "  - {name: rouge_ctx, kind: rouge, against: prompt, rouge_type: rougeL}\n")
    out = json.loads(rayrlhf("rewards", "evaluate", str(cfg), "--pairs",
                             str(SHARED_DATA / "hh_rlhf_harmless_test_300.jsonl"), "--json").stdout)
    rows = {r["source"]: r for r in out["sources"]}
    assert rows["brevity"]["n"] == 300 and rows["rouge_ctx"]["n"] == 300
    # cheap proxies barely beat a coin on real harmlessness labels; the CI says how sure that is
    assert 0.35 < rows["brevity"]["agreement"] < 0.7 and rows["brevity"]["ci_high"] - rows["brevity"]["ci_low"] < 0.15


def test_rewards_evaluate_on_a_pilot_says_what_a_label_model_would_do(tmp_path):
    """120 pairs where the shorter reply is people's choice 80% of the time: the label model's curve and its
    certified share come with the table (JSON and text)."""
    import random

    rng = random.Random(0)
    rows = []
    for i in range(120):
        short, long_ = f"reply {i}.", f"a much longer reply number {i} with many more words in it."
        chosen, rejected = (short, long_) if rng.random() < 0.8 else (long_, short)
        rows.append({"prompt": f"question {i}?", "chosen": chosen, "rejected": rejected})
    pairs = tmp_path / "pilot.jsonl"
    pairs.write_text("\n".join(json.dumps(r) for r in rows))
    cfg = tmp_path / "sources.yaml"
    cfg.write_text("data: {reference_field: null}\nsources:\n"
                   "  - {name: brevity, kind: python, model: 'rayrlhf.rewards.heuristics:brevity'}\n"
                   "  - {name: refusal, kind: python, model: 'rayrlhf.rewards.heuristics:refusal_phrases'}\n")
    out = json.loads(rayrlhf("rewards", "evaluate", str(cfg), "--pairs", str(pairs), "--json").stdout)
    curve = out["label_model"]["curve"]
    assert [r["size"] for r in curve] == [25, 50, 100] and abs(curve[-1]["label_model"]["mean"] - 0.8) < 0.1
    assert {c["target"] for c in out["label_model"]["confident"]} == {0.7, 0.8, 0.9}
    text = rayrlhf("rewards", "evaluate", str(cfg), "--pairs", str(pairs)).stdout
    assert "label model on these pairs" in text and "share of pairs it could label" in text
