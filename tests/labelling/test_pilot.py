"""The label model on a pilot of people's pairs (rayrlhf/labelling/pilot.py), on pairs where the answer is known:
one source agrees with people 80% of the time, one 70%, one is noise, one is inverted."""

import numpy as np

from rayrlhf.labelling.pilot import confident_share, pair_examples, pilot_curve

SOURCES = ("good", "fair", "noise", "inverted")


def known_pairs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    chosen, rejected = rng.normal(size=(n, 4)), rng.normal(size=(n, 4))

    def agree(col, p):  # source `col` scores the chosen response higher with probability p
        right = rng.random(n) < p
        hi, lo = np.maximum(chosen[:, col], rejected[:, col]), np.minimum(chosen[:, col], rejected[:, col])
        chosen[:, col], rejected[:, col] = np.where(right, hi, lo), np.where(right, lo, hi)

    agree(0, 0.8)
    agree(1, 0.7)
    agree(3, 0.25)
    return pair_examples(chosen, rejected)


def test_the_fitted_weights_have_the_signs_the_sources_deserve_and_the_curve_beats_the_mean():
    rows = pilot_curve(SOURCES, known_pairs(), repeats=30)
    assert [r["size"] for r in rows] == [25, 50, 100, 200]
    last = rows[-1]
    w = last["weights"]
    assert w["good"] > w["fair"] > abs(w["noise"]) and w["inverted"] < -abs(w["noise"])
    # with the inverted source flipped, the model beats the best single source and the unweighted mean
    assert last["label_model"]["mean"] > last["best_source"]["mean"] > last["mean_of_sources"]["mean"]
    assert abs(last["best_source"]["mean"] - 0.8) < 0.06 and last["label_model"]["mean"] > 0.83
    assert rows[-1]["label_model"]["mean"] >= rows[0]["label_model"]["mean"] - 0.01  # more pairs, no worse
    for r in rows:
        assert r["label_model"]["low"] <= r["label_model"]["mean"] <= r["label_model"]["high"]


def test_the_confident_share_shrinks_as_the_target_rises_and_nothing_is_certified_for_pure_noise():
    shares = confident_share(SOURCES, known_pairs(600, seed=1), targets=(0.7, 0.9), repeats=5)
    assert shares[0]["share"] >= shares[1]["share"] and shares[0]["share"] > 0.5
    rng = np.random.default_rng(2)
    noise = pair_examples(rng.normal(size=(400, 4)), rng.normal(size=(400, 4)))
    assert all(s["share"] == 0 for s in confident_share(SOURCES, noise, targets=(0.7,), repeats=3))
