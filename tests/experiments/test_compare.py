"""`rayrlhf compare` / `report` end to end, the seq2seq + classifier-oracle code paths of the paper's setting,
and the dry run of the paper's own config (tiny local stand-ins; nothing downloaded)."""

import csv
import json

import pytest

from tests.support.cli import rayrlhf
from tests.support.helpers import TRACKING, mlflow_runs, wandb_offline_runs
from tests.support.paths import REPO
from tests.support.tiers import TINY_RUN
from tests.support.tiny_models import tiny_classifier, tiny_t5


def cli(*args, timeout=900):
    return rayrlhf(*args, timeout=timeout).stdout


@pytest.mark.ray
def test_compare_then_report(train_config, tmp_path):
    root = tmp_path / "cmp"
    # ucb+uncertain: people label 16 prompts (1x), the label model labels the other 16 once 4 human labels exist;
    # ucb[optim.epochs=2]: a recipe of its own on the same learner workers
    stdout = cli("compare", *train_config, "--methods", "ucb,none,none@2,ucb+uncertain,ucb[optim.epochs=2]", "--seeds", "2",
                 "rollout.backend=hf",
                 "--max-concurrent", "2", "train.iterations=1", "oracle.route_after=4", f"run.output_dir={root}", *TRACKING)
    assert "Win rate of `ucb` vs each baseline" in stdout
    meta = json.loads((root / "compare.json").read_text())
    assert len(meta["runs"]) == 10 and meta["seeds"] == [0, 1] and meta["concurrent_runs"] == 2
    spans = sorted((r["start"], r["end"]) for r in meta["runs"].values())
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:])), "two worker sets, but no runs overlapped"
    report = json.loads((root / "report.json").read_text())
    assert set(report["ucb_vs"]) == {"none", "none@2", "ucb+uncertain", "ucb[optim.epochs=2]"}
    row = report["ucb_vs"]["none"][0]
    assert row["n"] == 2 and 0 <= row["mean"] <= 1 and row["ci_low"] <= row["mean"] <= row["ci_high"]
    assert {s["source"] for s in report["source_quality"]} == {"judge_lm", "rouge", "dier"}
    assert report["cost"]["ucb"]["oracle_labels"] > 0 and (root / "arms_ucb.png").stat().st_size > 1000
    with (root / "report.csv").open() as f:
        tables = [r["table"] for r in csv.DictReader(f)]
    # 1 iteration: ucb vs 4 baselines (win rate, score gap), 5 methods vs init, 5 methods' scores at iterations 0-1
    assert {t: tables.count(t) for t in set(tables)} == {"ucb_vs": 4, "ucb_score_gap": 4, "vs_init": 5, "oracle_score": 10,
                                                       "chosen_oracle_score": 5}
    # none@2 ran twice the prompts per iteration, so it spent about twice the labels (abstentions aside)
    points = {p["method"]: p for p in report["labels_to_match"]["points"]}
    for seed in ("0", "1"):
        assert 1.5 * points["none"]["labels"][seed] < points["none@2"]["labels"][seed] <= 32
    assert report["labels_to_match"]["matches"][0]["baseline"] == "none" and "## Labels to match" in stdout
    # the routed method bought no more human labels than ucb, saw twice the prompts, and its model labels are counted
    for seed in ("0", "1"):
        assert points["ucb+uncertain"]["labels"][seed] <= 16 < points["ucb+uncertain"]["labels"][seed] + 16
    assert {m["reference"] for m in report["labels_to_match"]["matches"]} == {"ucb", "ucb+uncertain", "ucb[optim.epochs=2]"}
    (piece,) = [r for r in report["ablation"] if r["variant"] == "ucb+uncertain"]  # routing is one piece on ucb
    assert (piece["base"], piece["piece"], piece["seeds"]) == ("ucb", "oracle.route=uncertain", 2)
    assert "## Ablation: one piece at a time" in stdout
    label_model = report["label_model"]["ucb+uncertain"]["1"]
    assert label_model["model_labels"] > 0 and 0 <= label_model["oracle_accuracy"] <= 1 and "## Label model" in stdout
    before = (root / "report.md").read_text()
    (root / "report.md").unlink()
    assert cli("report", str(root)).strip() == before.strip()  # `rayrlhf report` rebuilds it from the files
    # trackers (enabled above, offline): one MLflow run and one W&B offline run per method x seed
    runs = mlflow_runs(root, "cmp")
    assert sorted(runs) == sorted(meta["runs"])
    for rel, metrics in runs.items():
        vs_init = json.loads((root / rel / "metrics.jsonl").read_text().splitlines()[0])["eval/win_rate_vs_init"]
        assert metrics["eval/win_rate_vs_init"] == [(1, vs_init)] and metrics["status"] == "FINISHED"
    assert len(wandb_offline_runs(root)) == 10
    # each run's optim section reached the shared learner: steps = epochs x ceil(ceil(pairs / 2 workers) / 4 per step)
    for rel, info in meta["runs"].items():
        row = json.loads((root / rel / "metrics.jsonl").read_text().splitlines()[0])
        epochs = 2 if info["method"] == "ucb[optim.epochs=2]" else 1
        assert row["train/steps"] == epochs * -(-(-(-row["train/pairs_trained"] // 2)) // 4), (rel, row["train/steps"])


@pytest.mark.ray
@pytest.mark.extended
def test_seq2seq_policy_with_chat_template_classifier_oracle(tmp_path, tiny_task, tiny_overrides):
    """The paper's code paths: an encoder-decoder policy on the hf backend, a seq2seq log-likelihood source,
    and a sequence-classification oracle with a chat template."""
    corpus = tiny_task.split("train")["prompt"][:50] + tiny_task.split("train")["reference"][:50]
    tiny_t5(tmp_path / "t5", corpus)
    tiny_classifier(tmp_path / "rm", corpus, chat_template=True)
    cfg = tmp_path / "t5.yaml"
    cfg.write_text(json.dumps({
        "policy": {"model": str(tmp_path / "t5")}, "rollout": {"backend": "hf"},
        "sources": [{"name": "t5_lm", "kind": "lm_logprob", "model": str(tmp_path / "t5"), "num_cpus": 0.25},
                    {"name": "rouge", "kind": "rouge", "num_cpus": 0.25}],
        "oracle": {"reward": {"name": "rm", "kind": "classifier", "model": str(tmp_path / "rm")}},
    }))
    run = tmp_path / "run"
    cli("train", str(cfg), *tiny_overrides, *TINY_RUN, "train.iterations=1", f"run.output_dir={run}")
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["oracle_queries"] > 0 and rows[0]["train/steps"] > 0
    from transformers import AutoModelForSeq2SeqLM

    assert AutoModelForSeq2SeqLM.from_pretrained(run / "checkpoints" / "iter_1").config.is_encoder_decoder


@pytest.mark.slow
def test_paper_config_dry_run_downloads_nothing():
    out = cli("train", str(REPO / "examples" / "xsum_t5small.yaml"), "--dry-run", timeout=60)
    assert "google-t5/t5-small (hf rollouts" in out and "sfairXC/FsfairX-LLaMA3-RM-v0.1" in out
    assert "K=8 responses, N=32 extra" in out and "at most 30000 queries" in out
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert total.split()[1:] == ["7.50", "7.00"]  # CPUs and GPUs: every actor and the learner's workers
    assert "reward/t5_large               0.50    0.50" in out and "self bar 0.55" in out


@pytest.mark.ray
def test_a_compare_killed_half_way_resumes_every_run_once_and_pays_nothing_twice(train_config, tmp_path):
    """The driver of a 2-run compare is killed (its whole process tree) once the second run has paid for labels of
    iteration 2; `rayrlhf compare --resume` keeps the finished run, resumes the second from its iteration-1
    checkpoint (its paid labels answered from its ledger, billed once) and writes the report naming it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.support.cli import env, ledger
    from tests.support.faults_harness import BILLING, TEST_ENV, check_paid_once

    root = tmp_path / "cmp"
    args = ["compare", *train_config, "--methods", "none,ucb", "--seeds", "1", "rollout.backend=hf",
            f"run.output_dir={root}", *BILLING]
    proc = subprocess.Popen([sys.executable, "-m", "rayrlhf.cli", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env={**env(), **TEST_ENV}, cwd=REPO, start_new_session=True)
    second = root / "ucb" / "seed_0"
    try:
        deadline = time.time() + 900
        while not any(e["iteration"] == 2 for e in ledger(second)):
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            assert time.time() < deadline, "the second run never paid for an iteration-2 label"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert json.loads((root / "compare.json").read_text())["runs"].keys() == {"none/seed_0"}
    paid_before = ledger(second)
    out = rayrlhf("compare", "--resume", str(root), timeout=900, env_extra=TEST_ENV)
    meta = json.loads((root / "compare.json").read_text())
    assert {rel: info.get("resumed_after") for rel, info in meta["runs"].items()} == {"none/seed_0": None, "ucb/seed_0": 1}
    for run in (root / "none" / "seed_0", second):
        check_paid_once(run, 2)
    assert ledger(second)[: len(paid_before)] == paid_before
    assert "`ucb` seed 0: after iteration 1" in out.stdout and "Win rate of `ucb` vs each baseline" in out.stdout


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.extended  # compare and placement on a fake cluster are each in CI (test_compare_then_report, tests/test_clusters.py)
def test_a_compare_spreads_its_runs_over_a_clusters_nodes(train_config, tmp_path):
    """On a fake cluster (`ray.cluster_utils.Cluster`): a head with room for the learners and two nodes that each hold
    one rollout engine (a custom resource here, a GPU on a real cluster), `rayrlhf compare` runs its two runs at once,
    each run's actors on one node (`run.placement=strict_pack`), the two runs on different nodes; compare.json
    records each run's node."""
    from ray.cluster_utils import Cluster

    spread = ["rollout.backend=hf", "run.placement=strict_pack", "rollout.resources={engine_slot: 1}"]
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 5})  # the driver and two learners
    nodes = [cluster.add_node(num_cpus=3, resources={"engine_slot": 1}) for _ in range(2)]
    cluster.wait_for_nodes()
    root = tmp_path / "cmp"
    try:
        cli("compare", *train_config, "--methods", "none,ucb", "--seeds", "1", *spread, f"run.ray_address={cluster.address}",
            f"run.output_dir={root}", "train.iterations=1")
    finally:
        cluster.shutdown()
    meta = json.loads((root / "compare.json").read_text())
    first, second = meta["runs"].values()
    assert meta["concurrent_runs"] == 2 and first["start"] < second["end"] and second["start"] < first["end"]  # at once
    assert len(first["nodes"]) == len(second["nodes"]) == 1 and first["nodes"] != second["nodes"]
    assert {first["nodes"][0], second["nodes"][0]} == {n.node_id for n in nodes}  # the engine nodes, not the head
