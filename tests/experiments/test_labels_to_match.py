"""The labels-to-match table: crossings by hand, the paired t interval over seeds (against scipy's t test and on
simulated curves), budgets at the labels they spent, and the report section from run files."""

import json
import math

import numpy as np
import pytest

from rayrlhf.experiments.labels_to_match import BudgetPoint, crossing, crossing_interval, labels_to_match
from rayrlhf.experiments.report import write_report


def test_crossing_by_hand():
    assert crossing(1.75, [1, 2, 3], [1.0, 1.5, 2.0]) == pytest.approx(2.5)
    assert crossing(0.9, [1, 2, 3], [1.0, 1.5, 2.0]) == 1  # already there at the smallest budget
    assert crossing(2.5, [1, 2, 3], [1.0, 1.5, 2.0]) == math.inf  # never reached in the range run
    assert crossing(1.2, [1, 1.5, 3], [1.0, 1.3, 1.1]) == pytest.approx(1 + 0.5 * 0.2 / 0.3)  # first time it gets there


def point(mode, multiple, scores):
    return BudgetPoint(f"{mode}@{multiple:g}", mode, multiple, {s: 100.0 * multiple for s in range(len(scores))},
                       dict(enumerate(scores)))


def test_the_paired_t_interval_over_seeds():
    # every seed identical: the interval collapses onto the point
    flat = [point("ucb", 1, [1.75] * 5), *[point("none", m, [y] * 5) for m, y in [(1, 1.0), (2, 1.5), (3, 2.0)]]]
    [m] = labels_to_match(flat)
    assert m["multiple"] == pytest.approx(2.5) and m["ci_low"] == pytest.approx(2.5) and m["ci_high"] == pytest.approx(2.5)
    # noisy seeds: the interval covers the point, and a baseline that never gets there says so
    rng = np.random.default_rng(0)
    noisy = [point("ucb", 1, 1.75 + rng.normal(0, 0.1, 5)),
             *[point("none", m, y + rng.normal(0, 0.1, 5)) for m, y in [(1, 1.0), (2, 1.5), (3, 2.0)]],
             *[point("fixed:bad", m, [0.5] * 5) for m in (1, 2)]]
    by = {m["baseline"]: m for m in labels_to_match(noisy)}
    assert by["none"]["ci_low"] < by["none"]["multiple"] < by["none"]["ci_high"]
    assert by["fixed:bad"]["multiple"] == math.inf and by["fixed:bad"]["ci_low"] == by["fixed:bad"]["ci_high"] == math.inf


def test_the_interval_ends_where_scipy_s_paired_t_test_stops_rejecting():
    """At each end, the paired t test of the seeds' differences (scipy) has p = 0.05; just outside, p < 0.05."""
    from scipy.stats import ttest_1samp

    rng = np.random.default_rng(4)
    shared = rng.normal(0, 0.3, 5)
    table = np.array([0.5 + 0.5 * m + shared + rng.normal(0, 0.1, 5) for m in (1, 2, 3, 4)])
    target = 1.75 + shared + rng.normal(0, 0.1, 5)
    low, high = crossing_interval(table, target, [1, 2, 3, 4])
    assert 1 < low < high < 4

    def p_at(x):
        return ttest_1samp([np.interp(x, [1, 2, 3, 4], table[:, s]) - target[s] for s in range(5)], 0.0).pvalue

    assert p_at(low) == pytest.approx(0.05, abs=1e-6) and p_at(high) == pytest.approx(0.05, abs=1e-6)
    assert p_at(low - 0.01) < 0.05 and p_at(high + 0.01) < 0.05 and p_at((low + high) / 2) > 0.05


def test_the_interval_covers_the_true_crossing_at_five_seeds_and_is_paired():
    """Simulated curves (true crossing 2.5; each seed moves both methods by a shared effect, plus noise of their
    own): the 95% interval covers 2.5 in at least 90% of 300 draws at 5 seeds. With a large shared seed effect it
    is less than half as wide as the unpaired interval (the methods' seed variances added), computed here."""
    from scipy.stats import t as student_t

    rng = np.random.default_rng(7)
    covered, ratios = 0, []
    for _ in range(300):
        shared = rng.normal(0, 0.3, 5)
        table = np.array([0.5 + 0.5 * m + shared + rng.normal(0, 0.1, 5) for m in (1, 2, 3, 4)])
        target = 1.75 + shared + rng.normal(0, 0.1, 5)
        low, high = crossing_interval(table, target, [1, 2, 3, 4])
        covered += low <= 2.5 <= high
        grid = np.linspace(1, 4, 3001)
        curve = np.array([np.interp(grid, [1, 2, 3, 4], table[:, s]) for s in range(5)])
        half = student_t.ppf(0.975, 4) * np.sqrt(curve.var(axis=0, ddof=1) / 5 + target.var(ddof=1) / 5)
        gap = curve.mean(axis=0) - target.mean()
        unpaired = grid[np.argmax(gap - half >= 0)] - grid[np.argmax(gap + half >= 0)] if (gap - half >= 0).any() else 3.0
        ratios.append((high - low) / unpaired if math.isfinite(high) else 1.0)
    assert covered / 300 >= 0.90, covered
    assert np.median(ratios) < 0.5


def test_budgets_sit_at_the_labels_they_spent():
    """A budget that spent fewer labels than its nominal multiple sits where it spent them: here ``none@2`` spent
    180 labels against the reference's 100, so the curve crosses 1.75 at 1.8 + 0.5 * (3 - 1.8) = 2.4."""
    ucb = BudgetPoint("ucb", "ucb", 1.0, {0: 100.0, 1: 100.0}, {0: 1.75, 1: 1.75})
    none = [BudgetPoint(f"none@{m:g}", "none", m, {0: spent, 1: spent}, {0: y, 1: y})
            for m, spent, y in [(1, 100.0, 1.0), (2, 180.0, 1.5), (3, 300.0, 2.0)]]
    [m] = labels_to_match([ucb, *none])
    assert m["multiples"] == pytest.approx([1.0, 1.8, 3.0]) and m["nominal"] == [1.0, 2.0, 3.0]
    assert m["multiple"] == pytest.approx(2.4)


def fake_run(root, rel, seed, labels, scores_by_iteration):
    run = root / rel
    (run / "eval").mkdir(parents=True)
    rows = []
    for it, mean in scores_by_iteration.items():
        scores = [[mean, mean], [mean, mean]]
        (run / "eval" / f"iter_{it}.json").write_text(json.dumps({"iteration": it, "responses": [["a", "b"], ["c", "d"]],
                                                                  "oracle_scores": scores}))
        if it:  # compute in proportion to the labels: steps labels / 10, tokens labels * 10, seconds labels / 50
            rows.append({"iteration": it, "oracle_queries": labels, "train/steps": labels / 10,
                         "rollout/generated_tokens": labels * 10, "timing/iteration_s": labels / 50})
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"method": rel.split("/")[0].replace("_x", "@"), "seed": seed, "wall_s": 1.0}


def test_report_has_the_labels_to_match_table(tmp_path):
    meta = {"runs": {}}
    for seed in (0, 1, 2):
        meta["runs"][f"ucb/seed_{seed}"] = fake_run(tmp_path, f"ucb/seed_{seed}", seed, 100, {0: 0.0, 1: 1.75})
        for m, y in [(1, 1.0), (2, 1.5), (3, 2.0)]:
            rel = f"none_x{m}/seed_{seed}" if m != 1 else f"none/seed_{seed}"
            meta["runs"][rel] = fake_run(tmp_path, rel, seed, 100 * m, {0: 0.0, 1: y})
            meta["runs"][rel]["method"] = "none" if m == 1 else f"none@{m}"
    (tmp_path / "compare.json").write_text(json.dumps(meta))
    text = write_report(tmp_path).read_text()
    assert "## Labels to match" in text and "| none@2 | 2x | 200 | - | - | 1.500 ± 0.000 | 20 | 2000 | 4 |" in text
    assert "reaches `ucb`'s 1x score (1.750, 100 human labels) at **2.50x** its human labels (95% paired t interval" in text
    assert (tmp_path / "labels_to_match.png").stat().st_size > 1000
    data = json.loads((tmp_path / "report.json").read_text())["labels_to_match"]
    assert data["matches"][0]["multiple"] == pytest.approx(2.5)


def test_compare_directories_join_into_one_report(tmp_path):
    """`rayrlhf report DIR1 DIR2 --into OUT`: one compare.json listing both directories' runs (paths relative to
    OUT), seeds merged; the same method and seed in two of them is refused."""
    import json

    from rayrlhf.config import ConfigError
    from rayrlhf.experiments.compare import join_compares
    from rayrlhf.experiments.report import _runs

    def compare_dir(name, seeds, methods):
        d = tmp_path / name
        runs = {f"{m}/seed_{s}": {"method": m, "seed": s} for m in methods for s in seeds}
        for rel in runs:
            (d / rel).mkdir(parents=True)
        (d / "compare.json").write_text(json.dumps({"methods": methods, "seeds": seeds, "runs": runs}))
        return d

    a, b = compare_dir("a", [0, 1], ["none", "ucb"]), compare_dir("b", [2], ["none", "ucb+uncertain"])
    out = join_compares([a, b], tmp_path / "joined" / "all")
    runs = _runs(out)
    assert sorted(runs) == ["none", "ucb", "ucb+uncertain"]
    assert sorted(runs["none"]) == [0, 1, 2] and runs["none"][2].resolve() == (b / "none" / "seed_2").resolve()
    assert json.loads((out / "compare.json").read_text())["seeds"] == [0, 1, 2]
    with pytest.raises(ConfigError, match="none seed 0 is in both"):
        join_compares([a, a], tmp_path / "twice")


def test_a_joined_comparison_with_other_shared_settings_names_them_and_the_ablation_counts_them(tmp_path):
    """Joining a comparison run with `train.prompts_per_iteration=1024` to one run with 256: its runs carry the
    setting, the report names it beside the method, and a pair of methods one name-piece apart but also apart in
    that setting is no ablation pair."""
    import json

    import yaml

    from rayrlhf.experiments.ablation import ablation_pairs
    from rayrlhf.experiments.compare import join_compares
    from rayrlhf.experiments.provenance import run_settings, settings_differing, settings_section

    def compare_dir(name, methods, prompts):
        d = tmp_path / name
        runs = {f"{m}/seed_0": {"method": m, "seed": 0} for m in methods}
        for rel in runs:
            (d / rel).mkdir(parents=True)
        (d / "compare.json").write_text(json.dumps({"methods": methods, "seeds": [0], "runs": runs}))
        config = {"run": {"output_dir": str(d), "seed": 0}, "train": {"prompts_per_iteration": prompts}}
        (d / "config.yaml").write_text(yaml.safe_dump(config))
        return d

    a = compare_dir("a", ["ucb+uncertain", "ucb"], 256)
    b = compare_dir("b", ["ucb+uncertain[optim.max_steps=200]"], 1024)
    assert settings_differing(a / "config.yaml", b / "config.yaml") == {"train.prompts_per_iteration": "1024"}
    assert settings_differing(a / "config.yaml", a / "config.yaml") == {}
    newer = tmp_path / "newer.yaml"  # a key added to rayrlhf since `a` ran: no difference to name
    newer.write_text(yaml.safe_dump({"run": {"seed": 0}, "train": {"prompts_per_iteration": 256}, "oracle": {"burn_in": "paced"}}))
    assert settings_differing(a / "config.yaml", newer) == {}
    out = join_compares([a, b], tmp_path / "all")
    settings = run_settings(out)
    assert settings == {"ucb+uncertain[optim.max_steps=200]": {"train.prompts_per_iteration": "1024"}}
    assert any("`train.prompts_per_iteration=1024`" in line for line in settings_section(settings))
    methods = ["ucb", "ucb+uncertain", "ucb+uncertain[optim.max_steps=200]"]
    assert ("ucb+uncertain", "ucb+uncertain[optim.max_steps=200]", "optim.max_steps=200") in ablation_pairs(methods)
    assert ablation_pairs(methods, settings) == [("ucb", "ucb+uncertain", "oracle.route=uncertain")]
