"""Would another label model label better? Offline, on the people's answers routed runs already paid for.

For every run directory given (a `rayrlhf compare` method's `seed_N` folders), the label examples of its last
checkpoint (each answered prompt: every source's score of its K responses and the pairs the answer states) are
pooled; each seed in turn is held out, the models are fitted on the other seeds' answers and scored on the held-out
one. Printed per model: the share of held-out stated pairs it orders as people do (pairs of one answer weigh 1/n
each), and whether its confidence tells right from wrong: the AUROC of its confidence |p - 1/2| for being right,
and its accuracy on the most and the least confident half of the pairs. Only a model that is both more accurate and
better at knowing when it is right would let people label less. Use runs whose people answer a uniform sample
(`+guaranteed`: the rule's sample and its audits are uniform), so the held-out answers are not the hard cases only.

    python docs/results/label_models.py /work/runs/g39/ucb+guaranteed*/seed_*
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import rankdata
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from rayrlhf.algorithms.label_model import LabelExample, features, fit_label_model, mean_label_model, pair_differences


def examples_of(run: Path) -> list[LabelExample]:
    """The label examples (audits included) of the run's last checkpoint."""
    last = max((run / "checkpoints").glob("iter_*"), key=lambda p: int(p.name.split("_")[1]))
    state = json.loads((last / "state.json").read_text())
    return [LabelExample.from_json(e) for e in state["label_examples"] if e["pairs"]]


def rank_features(scores) -> np.ndarray:
    """Per-prompt z-scores and, per source, each response's rank among the K (0 worst, 1 best; ties averaged)."""
    x = np.asarray(scores, dtype=float)
    ranks = (rankdata(x, method="average", axis=0) - 1) / max(1, len(x) - 1)
    return np.concatenate([features(scores), ranks], axis=1)


def linear(train, featurize):
    x, y, w = pair_differences(train, featurize)
    fit = LogisticRegression(fit_intercept=False).fit(x, y, sample_weight=w)
    return lambda e: fit.predict_proba(_stated(e, featurize))[:, 1]


def boosted(train, featurize):
    x, y, w = pair_differences(train, featurize)
    fit = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15, random_state=0)
    fit.fit(x, y, sample_weight=w)
    return lambda e: fit.predict_proba(_stated(e, featurize))[:, 1]


def _stated(e: LabelExample, featurize) -> np.ndarray:
    x = featurize(e.scores)
    return np.asarray([x[a] - x[b] for a, b in e.pairs])


def reference_models(sources: int):
    """The shipped label model (rayrlhf.algorithms.label_model) and the unweighted mean of the sources."""
    def shipped(train):
        model = fit_label_model([f"s{i}" for i in range(sources)], train)
        return lambda e: np.asarray([model.prob(e.scores, a, b) for a, b in e.pairs])

    def mean(train):
        model = mean_label_model([f"s{i}" for i in range(sources)])
        return lambda e: np.asarray([model.prob(e.scores, a, b) for a, b in e.pairs])

    return {"shipped: linear on z-scores": shipped, "mean of z-scores": mean}


def evaluate(by_seed: dict[str, list[LabelExample]]) -> dict[str, dict]:
    sources = len(next(iter(by_seed.values()))[0].scores[0])
    models = reference_models(sources) | {
        "linear on z-scores + ranks": lambda t: linear(t, rank_features),
        "boosted trees on z-scores": lambda t: boosted(t, features),
        "boosted trees on z-scores + ranks": lambda t: boosted(t, rank_features),
    }
    out = {}
    for name, make in models.items():
        probs, weights = [], []
        for held in by_seed:
            predict = make([e for seed, ex in by_seed.items() if seed != held for e in ex])
            for e in by_seed[held]:
                probs += list(predict(e))
                weights += [1.0 / len(e.pairs)] * len(e.pairs)
        p, w = np.asarray(probs), np.asarray(weights)
        right = (p > 0.5) + 0.5 * (p == 0.5)
        sure = np.abs(p - 0.5)
        top = sure >= np.median(sure)
        out[name] = {"accuracy": float(np.average(right, weights=w)),
                     "auroc": float(roc_auc_score(right > 0.5, sure)) if 0 < right.mean() < 1 else float("nan"),
                     "accuracy_sure_half": float(np.average(right[top], weights=w[top])),
                     "accuracy_unsure_half": float(np.average(right[~top], weights=w[~top])), "pairs": int(len(p))}
    return out


def main(runs: list[str]) -> None:
    by_seed = {str(Path(r)): examples_of(Path(r)) for r in runs}
    print(f"{sum(map(len, by_seed.values()))} answered prompts from {len(by_seed)} runs, each held out in turn")
    print(f"{'model':36s} {'accuracy':>8s} {'AUROC':>6s} {'sure half':>9s} {'unsure half':>11s}")
    for name, r in evaluate(by_seed).items():
        print(f"{name:36s} {r['accuracy']:8.3f} {r['auroc']:6.3f} {r['accuracy_sure_half']:9.3f} {r['accuracy_unsure_half']:11.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
