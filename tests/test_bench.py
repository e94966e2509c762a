"""The benchmark suite's pure parts (benchmarks/): the cost model and projection, the growth grid and its work
counts, the rollout requests, the Best-of-N cost arithmetic and the README generator, each against a hand
computation. One slow test runs a benchmark end to end at tiny scale."""

import json
import math

import pytest

from benchmarks import growth, projection, readme, rollout, scoring
from benchmarks.common import TINY, bench_config


def tiny_cfg(*extra):
    return bench_config(TINY + list(extra))


def test_projection_matches_a_hand_computation():
    shape = projection.Shape(prompts=100, k=4, n=8, sources=2, source_share=0.5, epochs=3, eval_samples=40,
                             rollout_actors=2, learner_workers=4)
    costs = projection.UnitCosts(gen_per_sample=0.01, score_per_response={"a": 0.002, "b": 0.005}, oracle_per_response=0.001,
                                 train_per_pair_epoch=0.04, weight_sync=0.3, eval_per_sample=0.02,
                                 fixed={"generate": 1.0, "train": 2.0})
    # by hand: 400 + 50*8 = 800 samples / 2 actors * 0.01 = 4 (+1 fixed); each source scores 25*8 = 200 responses:
    # a 0.4 s, b 1.0 s -> parallel 1.0, in turn 1.4; oracle 400 * 0.001 = 0.4; train 300 * 0.04 / 4 = 3 (+2);
    # eval 40 * 0.02 / 2 = 0.4
    placed = projection.project(shape, costs, parallel_sources=True)
    assert placed["generate"] == pytest.approx(5.0)
    assert placed["score"] == pytest.approx(1.0)
    assert placed["annotate"] == pytest.approx(0.4)
    assert placed["train"] == pytest.approx(5.0)
    assert placed["eval"] == pytest.approx(0.4)
    assert placed["iteration"] == pytest.approx(5.0 + 1.0 + 0.4 + 5.0 + 0.3 + 0.4)
    assert projection.project(shape, costs, parallel_sources=False)["score"] == pytest.approx(1.4)
    assert projection.dominant(placed) == ("generate", pytest.approx(5.0 / 12.1))
    with pytest.raises(ValueError, match="W=3"):
        projection.project(projection.Shape(10, 2, 2, 3, 0.5), costs)


def test_fit_line_and_fitted_costs_recover_the_generating_line():
    assert projection.fit_line([1, 2, 3, 4], [3.5, 5.5, 7.5, 9.5]) == (pytest.approx(1.5), pytest.approx(2.0))
    assert projection.fit_line([5, 5], [10, 20]) == (0.0, pytest.approx(3.0))  # one x: through the origin and the mean
    points = [{"work": {"generated_samples": g, "oracle_scored": o, "pair_epochs": t, "eval_samples": 10},
               "stage_s": {"generate": 2 + 0.1 * g, "annotate": 0.01 * o, "train": 1 + 0.5 * t, "eval": 3.0}}
              for g, o, t in [(10, 40, 4), (20, 80, 8), (40, 40, 16)]]
    costs = projection.fit_costs(points, {"a": 0.1}, weight_sync=0.2)
    assert costs.gen_per_sample == pytest.approx(0.1) and costs.fixed["generate"] == pytest.approx(2.0)
    assert costs.oracle_per_response == pytest.approx(0.01) and costs.fixed["annotate"] == pytest.approx(0.0, abs=1e-9)
    assert costs.train_per_pair_epoch == pytest.approx(0.5) and costs.fixed["train"] == pytest.approx(1.0)
    assert costs.eval_per_sample == pytest.approx(0.3)


def test_growth_grid_covers_each_sweep_and_every_point_is_a_valid_config():
    cfg = tiny_cfg()  # K=4, N=4, M=16 -> base M=8, six sources
    points = growth.grid(cfg)
    assert [p["W"] for p in growth.sweep(points, "W")] == [1, 3, 6, 12]
    assert [p["K"] for p in growth.sweep(points, "K")] == [2, 4, 8]
    assert [p["N"] for p in growth.sweep(points, "N")] == [2, 4, 8]
    assert [p["M"] for p in growth.sweep(points, "M")] == [4, 8, 16]
    # no reward actor is started twice: W never comes back up once it goes below the base
    ws = [p["W"] for p in points]
    assert ws == [6] * 7 + [12, 3, 1]
    for p in points:
        pcfg = growth.point_config(cfg, p)
        assert len(pcfg.sources) == p["W"] and len({s.name for s in pcfg.sources}) == p["W"]
        assert 0 < pcfg.transfer.num_replace < pcfg.train.responses_per_prompt
        assert pcfg.transfer.num_replace <= pcfg.transfer.best_of_n
    names = [s.name for s in growth.sources_for(cfg, 8)]
    assert names[:6] == [s.name for s in cfg.sources] and names[6:] == [cfg.sources[0].name + "_1", cfg.sources[1].name + "_1"]


def test_point_work_counts_by_hand():
    cfg = tiny_cfg("train.prompts_per_iteration=10", "train.responses_per_prompt=4", "transfer.best_of_n=6",
                   "optim.epochs=2", "eval.samples_per_prompt=3")
    row = {"arm/judge_lm/count": 3, "arm/rouge/count": 2, "arm/self/count": 5, "arm/judge_lm/win_rate": 0.5, "train/pairs": 9}
    work = growth.point_work(cfg, row, eval_prompts=7)
    assert work == {"generated_samples": 10 * 4 + 5 * 6, "scored_per_source": 5 * 6 / 6, "oracle_scored": 40,
                    "pair_epochs": 18, "eval_samples": 21}


def test_rollout_requests_ask_what_the_pipeline_asks():
    prompts = [f"p{i}" for i in range(16)]
    none = rollout.rollout_requests(tiny_cfg("transfer.mode=none"), prompts, seed=0)  # K samples only, a call per round
    assert [len(c) for c in none] == [8, 8] and all(n == 4 for c in none for _, n in c)
    fixed = rollout.rollout_requests(tiny_cfg("transfer.mode=fixed:rouge", "transfer.best_of_n=6"), prompts, seed=0)
    assert [[n for _, n in c] for c in fixed] == [[4] * 8 + [6] * 8] * 2  # every prompt: K, then N, in one call
    assert [[p for p, _ in c] for c in fixed] == [prompts[:8] * 2, prompts[8:] * 2]
    cfg = tiny_cfg("transfer.best_of_n=6")  # UCB's first round: each prompt's K, then N for those on a source arm
    ucb = rollout.rollout_requests(cfg, prompts, seed=3)
    assert len(ucb) == 2
    for call, chunk in zip(ucb, [prompts[:8], prompts[8:]], strict=True):
        assert call[:8] == [(p, 4) for p in chunk]
        extra = [p for p, n in call[8:] if n == 6]
        assert len(extra) == len(call) - 8 and set(extra) <= set(chunk) and len(set(extra)) == len(extra)
    assert 0 < sum(len(c) - 8 for c in ucb) < 16  # 6 sources and self: some of each, seed 3
    assert rollout.rollout_requests(cfg, prompts, seed=3) == ucb  # seeded


def test_best_of_n_cost_by_hand():
    rows = scoring.bon_cost(0.01, {"rouge": 0.001, "judge": 0.004}, oracle_s_per_response=0.002, k=4, n=8)
    base = 4 * (0.01 + 0.002)
    assert rows[0] == {"arm": "self", "seconds_per_prompt": pytest.approx(base), "extra_s_per_prompt": 0.0, "ratio_to_self": 1.0}
    assert rows[1]["extra_s_per_prompt"] == pytest.approx(8 * 0.011)
    assert rows[2]["ratio_to_self"] == pytest.approx((base + 8 * 0.014) / base)


def test_candidate_texts_leave_out_one_word_of_the_reference():
    rows = [{"prompt": "P1", "reference": "a b c"}, {"prompt": "P2", "reference": "d e"}]
    prompts, responses, refs = scoring.candidate_texts(rows, 5)
    assert prompts == ["P1", "P2", "P1", "P2", "P1"]
    assert responses == [" b c", " e", " a c", " d", " a b"]
    assert refs == ["a b c", "d e", "a b c", "d e", "a b c"]


def fabricated_results():
    return {"meta": {"commit": "abc1234", "date": "2026-01-01 00:00", "scale": "tiny", "cpus": 2, "load_avg_1m_at_start": 1.5,
                     "total_s": 600.0, "task_build_s": 12.0, "plots": ["growth.png"]},
            "sections": {
                "rollout": {"name": "rollout", "title": "2. Rollout", "ratios": {"tokens/s ratio": 0.9234}, "values": {},
                            "tables": {"rollout stage": [{"side": "rayrlhf", "tokens_per_s": 1234.5678, "calls": 3},
                                                         {"side": "bare | vLLM", "tokens_per_s": 1337.0}]},
                            "notes": ["a note"], "seconds": 42.0, "error": None},
                "trl": {"name": "trl", "title": "5. TRL", "ratios": {}, "values": {}, "tables": {}, "notes": [],
                        "seconds": 1.0, "error": "TRL does not import"}}}


def test_readme_is_rendered_from_the_results_alone(tmp_path):
    text = readme.render(fabricated_results(), kept=tmp_path / "bench" / "results")
    assert "commit `abc1234`" in text and "scale `tiny`" in text
    assert "| 2. Rollout | tokens/s ratio | 0.923 |" in text
    assert "| 5. TRL | FAILED | TRL does not import |" in text
    assert "| side | tokens_per_s | calls |" in text and "| rayrlhf | 1235 | 3 |" in text
    assert "| bare \\| vLLM | 1337 | n/a |" in text  # a pipe in a cell is escaped, a missing cell is n/a
    assert "**Did not run:** TRL does not import" in text and "- a note" in text
    assert "![growth.png](results/growth.png)" in text
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps(fabricated_results()))
    (run / "growth.png").write_bytes(b"png")
    out = tmp_path / "bench" / "README.md"
    out.parent.mkdir()
    assert readme.main([str(run / "results.json"), "--readme", str(out)]) == 0
    assert out.read_text() == text and (out.parent / "results" / "growth.png").read_bytes() == b"png"
    assert readme.main([str(out.parent / "results" / "results.json"), "--readme", str(out)]) == 0  # from the kept copy


def test_a_later_run_of_one_benchmark_replaces_its_ratios_in_the_summary(tmp_path):
    results = fabricated_results()
    results["meta"]["scale"] = "full"
    results["sections"]["rollout"]["ratios"] = {"tokens/s ratio": 0.747, "engine in the actor / apart": 0.94}
    kept = tmp_path / "results"
    kept.mkdir()
    (kept / "rollout.json").write_text(json.dumps({"name": "rollout", "commit": "def5678", "ratios": {"tokens/s ratio": 0.996}}))
    (tmp_path / "later.md").write_text("## Later runs\n\nthe repeats, by hand\n")
    text = readme.render(results, kept=kept)
    assert "| 2. Rollout | tokens/s ratio | 0.996 | later, `def5678` (results/rollout.json) |" in text
    assert "| 2. Rollout | engine in the actor / apart | 0.94 | suite |" in text and "0.747" not in text
    assert text.rstrip().endswith("the repeats, by hand")


def test_projection_of_the_xsum_shape_reads_the_example():
    shape, sources = growth.xsum_shape()
    assert (shape.prompts, shape.k, shape.n, shape.sources, shape.epochs) == (10000, 8, 32, 4, 3)
    assert shape.learner_workers == 4 and math.isclose(shape.source_share, 0.8)
    assert projection.work(shape)["generated_samples"] == 10000 * 8 + 8000 * 32


@pytest.mark.slow
@pytest.mark.ray
def test_scoring_benchmark_runs_end_to_end_at_tiny_scale(tmp_path, tiny_overrides):
    from benchmarks import run_all

    code = run_all.main(["--scale", "tiny", "--only", "3", "--out", str(tmp_path), "--set", *tiny_overrides[-2:]])
    results = json.loads((tmp_path / "results.json").read_text())
    sec = results["sections"]["scoring"]
    assert code == 0 and sec["error"] is None
    assert sec["values"]["nodes_used"] >= 2  # spread over the fake nodes
    speedup = next(v for k, v in sec["ratios"].items() if k.startswith("scoring"))
    assert speedup > 0
    assert "scoring" in readme.render(results)


def test_process_labels_group_the_start_up_processes():
    from benchmarks.startup import process_label

    class Proc:  # the two psutil.Process methods process_label reads
        def __init__(self, cmd):
            self.cmd = cmd

        def cmdline(self):
            return self.cmd

        def name(self):
            return "proc"

    assert process_label(Proc(["ray::RewardWorker.score"])) == "ray::RewardWorker"
    assert process_label(Proc(["VLLM::EngineCore", ""])) == "VLLM::EngineCore"
    assert process_label(Proc(["/v/bin/python3.11", "-u", "/v/ray/_private/workers/default_worker.py", "--x=1"])) == \
        "python workers/default_worker.py"
    assert process_label(Proc(["/v/ray/core/src/ray/raylet/raylet", "--x"])) == "raylet"
    assert process_label(Proc([])) == "proc"


def test_pipelined_variants_alternate_and_their_ratios_pair_each_repeat():
    from benchmarks import pipelined

    assert pipelined.alternating(["a", "b", "c"], 3) == [(0, "a"), (0, "b"), (0, "c"), (1, "c"), (1, "b"), (1, "a"),
                                                         (2, "a"), (2, "b"), (2, "c")]
    assert set(pipelined.variants()) == {"sim/d0", "sim/d1", "sim/iteration", "people0.5s/d0", "people0.5s/d1",
                                         "people2s/d0", "people2s/d1"}

    def row(seconds, idle=None):
        return {"timing/iteration_s": seconds, "timing/annotate_s": 1.0,
                **({"annotation/people_idle_share": idle} if idle is not None else {})}

    rows = {"sim/d0": [row(10), row(20), row(10)], "sim/d1": [row(5), row(15), row(9)], "sim/iteration": [row(4)] * 3,
            "people0.5s/d0": [row(8, 0.3)] * 3, "people0.5s/d1": [row(6, 0.05)] * 3,
            "people2s/d0": [row(40, 0.2)] * 3, "people2s/d1": [row(30, 0.02)] * 3}
    ratios, table, ranges = pipelined.iteration_ratios(rows)
    # by hand: repeat by repeat 0.5, 0.75, 0.9 -> median 0.75; iteration 0.4, 0.2, 0.4 -> 0.4
    assert ratios["sim iteration time, delay 1 / delay 0"] == pytest.approx(0.75)
    assert ratios["sim iteration time, delay iteration / delay 0"] == pytest.approx(0.4)
    assert ratios["people2s iteration time, delay 1 / delay 0"] == pytest.approx(0.75)
    assert {r["ratio"]: (r["min"], r["max"]) for r in ranges}["sim iteration time, delay 1 / delay 0"] == (0.5, 0.9)
    people = {(r["setting"], r["delay"]): r["people_idle_share"] for r in table}
    assert people[("people0.5s", "d1")]["median"] == 0.05 and people[("sim", "d0")] is None
    assert pipelined._length_label({"query_id": "q", "responses": ["ab", "a", "abc"]}) == {"query_id": "q", "best": 3, "worst": 2}
    assert pipelined._length_label({"query_id": "q", "responses": ["a", "b"]}) == {"query_id": "q", "skip": True}


def test_one_call_holds_every_request_of_the_iteration_in_order():
    cfg = tiny_cfg()
    calls = rollout.rollout_requests(cfg, [f"p{i}" for i in range(16)], seed=3)
    [merged] = rollout.one_call(calls)
    assert len(calls) == 2 and merged == calls[0] + calls[1]


def test_samples_in_one_call_asks_every_k_first_then_each_rounds_extras():
    cfg = tiny_cfg("transfer.best_of_n=6")
    prompts = [f"p{i}" for i in range(20)]  # rounds of 8, 8 and 4 prompts
    calls = rollout.rollout_requests(cfg, prompts, seed=3)
    split = rollout.samples_then_extras(calls, [8, 8, 4])
    assert split[0] == [(p, 4) for p in prompts]  # the K samples of every prompt, in prompt order
    extras = [[(p, n) for p, n in call if n == 6] for call in calls]
    assert split[1:] == [e for e in extras if e]  # then each round's Best-of-N requests, a call per round with any
