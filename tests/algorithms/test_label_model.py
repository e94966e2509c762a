"""The label model and routing (rayrlhf/algorithms/label_model.py, routing.py), each checked against an independent
computation: the same objective minimised by scipy, brute-force confidences, ECE from scikit-learn's reliability
curve, the Wilson interval's formula."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import minimize

from rayrlhf.algorithms.label_model import (
    LabelExample,
    LabelModel,
    calibration,
    features,
    fit_label_model,
    held_out_calibration,
    implied_pairs,
    model_label,
    pair_agreement,
    pair_probs,
    score_agreement,
    weighting_accuracy,
)
from rayrlhf.algorithms.stats import proportion_interval


def synthetic(n: int, seed: int, k: int = 4, true_w=(2.0, 0.0, -1.0)) -> list[LabelExample]:
    """Prompts whose K responses have W=3 source scores; the 'person' ranks by true_w . scores + noise."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        scores = rng.normal(size=(k, 3)) * [1.0, 3.0, 0.5] + rng.normal(size=3) * 10  # offsets per prompt mean nothing
        utility = (scores / np.array([1.0, 3.0, 0.5])) @ np.asarray(true_w) + rng.normal(scale=0.5, size=k)
        ranking = [int(i) for i in np.argsort(-utility)]
        out.append(LabelExample(tuple(map(tuple, scores)), tuple(implied_pairs(ranking))))
    return out


def test_fit_minimises_the_documented_objective():
    """The weights are the minimiser of 1/2 |w|^2 + (1/l2) * sum_pairs weight * (log-loss of both orientations)."""
    examples = synthetic(60, 0)
    model = fit_label_model(("a", "b", "c"), examples, l2=2.0)
    def z(scores):  # per prompt and source: (s - mean over the K) / std over the K
        x = np.asarray(scores)
        return (x - x.mean(axis=0)) / x.std(axis=0)

    d = np.array([z(e.scores)[a] - z(e.scores)[b] for e in examples for a, b in e.pairs])
    assert np.allclose(features(examples[0].scores), z(examples[0].scores))
    wt = np.array([1.0 / len(e.pairs) for e in examples for _ in e.pairs])

    def objective(w):  # (d, 1) and (-d, 0) each cost log(1 + e^-z), z = w . d
        z = d @ w
        return 0.5 * w @ w + (1 / 2.0) * np.sum(wt * 2 * np.logaddexp(0, -z))

    best = minimize(objective, np.zeros(3), method="BFGS").x
    assert np.allclose(model.weights, best, atol=1e-3)
    assert model.weights[0] > 1.0 and model.weights[2] < -0.5 and abs(model.weights[1]) < 0.5  # it finds true_w's signs


def test_held_out_accuracy_beats_single_sources_and_the_mean():
    train, test = synthetic(200, 1), synthetic(200, 2)
    model = fit_label_model(("a", "b", "c"), train)
    acc = weighting_accuracy(model.weights, test)
    singles = [weighting_accuracy(np.eye(3)[w], test) for w in range(3)]
    mean = weighting_accuracy([1, 1, 1], test)
    assert acc > max(singles) and acc > mean
    # accuracy at 1/2 of the held-out probabilities is the same figure (no exact ties here)
    assert held_out_calibration(pair_probs(model, test)).accuracy == pytest.approx(acc)


def test_no_pairs_no_model():
    assert fit_label_model(("a",), []) is None
    assert fit_label_model(("a",), [LabelExample(((1.0,), (2.0,)), ())]) is None


def test_model_label_confidence_is_its_least_sure_stated_pair():
    model = LabelModel(("a", "b"), (1.0, -0.5))
    scores = [[0.1, 3.0], [2.0, 0.0], [1.0, 1.0], [-1.0, -2.0]]
    label = model_label(model, scores)
    cols = [[r[w] for r in scores] for w in range(2)]
    zs = [[(v - np.mean(c)) / np.std(c) for v in c] for c in cols]
    s = [1.0 * zs[0][k] - 0.5 * zs[1][k] for k in range(4)]
    assert list(label.ranking) == sorted(range(4), key=lambda i: -s[i])
    best, worst = label.ranking[0], label.ranking[-1]
    stated = [(best, j) for j in range(4) if j != best] + [(i, worst) for i in range(4) if i not in (best, worst)]
    assert label.confidence == pytest.approx(min(1 / (1 + np.exp(-(s[a] - s[b]))) for a, b in stated))
    assert model.prob(scores, best, worst) == pytest.approx(1 / (1 + np.exp(-(s[best] - s[worst]))))


def test_implied_pairs_count_and_content():
    for k in range(2, 7):
        ranking = list(np.random.default_rng(k).permutation(k))
        pairs = implied_pairs(ranking)
        assert len(pairs) == 2 * k - 3 and len(set(pairs)) == 2 * k - 3
        assert all(a == ranking[0] or b == ranking[-1] for a, b in pairs)


def test_calibration_matches_sklearn_reliability_curve():
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(3)
    p = rng.random(500)
    y = (rng.random(500) < p**1.5).astype(int)
    cal = calibration(p, y, num_bins=10)
    frac, mean_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    counts = np.histogram(p, bins=np.linspace(0, 1, 11))[0]
    counts = counts[counts > 0]
    assert np.isclose(cal.ece, np.sum(counts / len(p) * np.abs(frac - mean_pred)))
    assert np.isclose(cal.brier, np.mean((p - y) ** 2))
    assert [b[2] for b in cal.bins] == list(counts)
    assert calibration([], []).count == 0 and np.isnan(calibration([], []).brier)


def test_agreement_counts():
    assert pair_agreement([(0, 3), (0, 1), (2, 3)], [(0, 1), (0, 2), (0, 3), (1, 3), (2, 3)]) == (3, 3)
    assert pair_agreement([(1, 0), (2, 1)], [(0, 1), (0, 2)]) == (0, 1)  # (2, 1) is not stated either way
    assert score_agreement([(0, 1), (1, 2), (2, 0)], [3.0, 1.0, 1.0]) == (1, 2)  # a tie orders nothing


@pytest.mark.parametrize("k,n", [(0, 10), (7, 10), (10, 10), (45, 120)])
def test_wilson_interval(k, n):
    z = 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    got = proportion_interval(k, n)
    assert got.mean == pytest.approx(p) and got.low == pytest.approx(centre - half) and got.high == pytest.approx(centre + half)
    assert np.isnan(proportion_interval(0, 0).mean)


def test_example_round_trip():
    e = synthetic(1, 4)[0]
    assert LabelExample.from_json(e.to_json()) == e
    assert all(len(p) == 2 for p in itertools.chain(e.pairs))


def test_ensemble_scores_use_the_weights_or_the_standardised_mean():
    from rayrlhf.algorithms.label_model import ensemble_scores

    scores = [[1.0, 10.0], [2.0, 30.0], [3.0, 20.0], [3.0, 20.0]]
    model = LabelModel(("a", "b"), (2.0, -1.0))
    x = np.asarray(scores)
    za, zb = (x[:, 0] - 2.25) / np.sqrt(np.mean((x[:, 0] - 2.25) ** 2)), (x[:, 1] - 20.0) / np.sqrt(np.mean((x[:, 1] - 20.0) ** 2))
    assert ensemble_scores(model, scores) == pytest.approx((2 * za - zb).tolist())
    assert ensemble_scores(model, [[1.0, 5.0], [2.0, 5.0]]) == pytest.approx([-2.0, 2.0])  # a constant source counts 0
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    assert ensemble_scores(None, scores) == pytest.approx(z.mean(axis=1).tolist())


def test_the_mean_labeller_weighs_every_z_scored_source_once():
    """``oracle.labeller: mean``: the baseline labeller ranks by the plain sum of the per-prompt z-scores."""
    from rayrlhf.algorithms.label_model import mean_label_model

    scores = [[0.1, 5.0, 3.0], [0.4, 1.0, 3.0], [0.2, 9.0, 3.0], [0.3, 2.0, 3.0]]
    x = np.asarray(scores)
    spread = x.std(axis=0)
    z = np.where(spread > 0, (x - x.mean(axis=0)) / np.where(spread > 0, spread, 1), 0.0)
    label = model_label(mean_label_model(("a", "b", "c")), scores)
    assert list(label.ranking) == list(np.argsort(-z.sum(axis=1), kind="stable"))
    s = z.sum(axis=1)
    best, worst = label.ranking[0], label.ranking[-1]
    assert label.confidence == pytest.approx(min(
        [1 / (1 + np.exp(-(s[best] - s[j]))) for j in label.ranking[1:]]
        + [1 / (1 + np.exp(-(s[i] - s[worst]))) for i in label.ranking[1:-1]]))


def test_the_ensemble_arm_needs_a_label_model():
    from rayrlhf.config import Config, ConfigError
    from rayrlhf.experiments.methods import method_config
    from rayrlhf.run.coordinator import arms_for

    sources = [{"name": "rouge", "kind": "rouge"}]
    with pytest.raises(ValueError, match="transfer.ensemble ranks Best-of-N by the label model"):
        Config.model_validate({"sources": sources, "transfer": {"ensemble": True}})
    cfg = Config.model_validate({"sources": sources, "transfer": {"ensemble": True}, "oracle": {"route": "uncertain"}})
    assert arms_for(cfg) == ("rouge", "ensemble", "self")
    routed = method_config(Config.model_validate({"sources": sources}), "ucb+uncertain+ensemble")
    assert routed.transfer.ensemble and arms_for(routed) == ("rouge", "ensemble", "self")
    with pytest.raises(ConfigError, match="not a valid method"):
        method_config(Config.model_validate({"sources": sources}), "ucb+ensemble")
