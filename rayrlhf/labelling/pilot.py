"""What the label model would do on a pilot of people's pairs (``rayrlhf rewards evaluate CONFIG --pairs FILE``):
its accuracy on held-out pairs when fitted on 25, 50, 100 and 200 of them (repeated random splits), beside the best
single source (picked on the same training split) and the unweighted mean of the sources, and the share of pairs it
is confident enough to label at a stated accuracy (:func:`rayrlhf.labelling.guarantee.certify` on held-out pairs).

Pure numpy on per-pair source scores; no Ray, no models."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rayrlhf.algorithms.label_model import LabelExample, fit_label_model, model_label, weighting_accuracy
from rayrlhf.labelling.guarantee import Audited, certify

SIZES = (25, 50, 100, 200)
TARGETS = (0.7, 0.8, 0.9)


def pair_examples(chosen: np.ndarray, rejected: np.ndarray) -> list[LabelExample]:
    """One example per pair from the sources' scores (``chosen[i, w]``, ``rejected[i, w]``): response 0 the chosen
    one, response 1 the rejected one, the pair (0, 1) stated."""
    return [LabelExample((tuple(map(float, c)), tuple(map(float, r))), ((0, 1),)) for c, r in zip(chosen, rejected, strict=True)]


def _summary(values: list[float]) -> dict:
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "low": float(np.percentile(v, 2.5)), "high": float(np.percentile(v, 97.5))}


def pilot_curve(sources: Sequence[str], examples: list[LabelExample], sizes: Sequence[int] = SIZES,
                repeats: int = 50, seed: int = 0) -> list[dict]:
    """Per training size smaller than the pilot: held-out accuracy of the fitted label model, the best single source
    and the mean of the sources over ``repeats`` random splits (mean and the 2.5-97.5 percentiles of the splits)."""
    rng, eye, out = np.random.default_rng(seed), np.eye(len(sources)), []
    for size in (s for s in sizes if s < len(examples)):
        fitted, best, mean, weights = [], [], [], []
        for _ in range(repeats):
            order = rng.permutation(len(examples))
            train, test = [examples[i] for i in order[:size]], [examples[i] for i in order[size:]]
            model = fit_label_model(sources, train)
            fitted.append(weighting_accuracy(model.weights, test))
            weights.append(model.weights)
            pick = int(np.argmax([weighting_accuracy(eye[w], train) for w in range(len(sources))]))
            best.append(weighting_accuracy(eye[pick], test))
            mean.append(weighting_accuracy(np.ones(len(sources)), test))
        out.append({"size": size, "held_out": len(examples) - size, "repeats": repeats,
                    "label_model": _summary(fitted), "best_source": _summary(best), "mean_of_sources": _summary(mean),
                    "weights": dict(zip(sources, np.mean(weights, axis=0).tolist(), strict=True))})
    return out


def confident_share(sources: Sequence[str], examples: list[LabelExample], targets: Sequence[float] = TARGETS,
                    delta: float = 0.05, repeats: int = 20, seed: int = 0) -> list[dict]:
    """Per target accuracy: fitted on a random half of the pilot, the confidence threshold certified on the other half
    and the share of that half at or above it (0 when nothing is certified); means over ``repeats`` splits."""
    rng, rows = np.random.default_rng(seed), {t: [] for t in targets}
    for _ in range(repeats):
        order = rng.permutation(len(examples))
        half = len(examples) // 2
        model = fit_label_model(sources, [examples[i] for i in order[:half]])
        audits = []
        for i in order[half:]:
            label = model_label(model, examples[i].scores)
            audits.append(Audited(label.confidence, 1.0 if label.ranking[0] == 0 else 0.0))
        for t in targets:
            cert = certify(audits, t, delta)
            rows[t].append((cert.covered / len(audits), cert.threshold is not None))
    return [{"target": t, "delta": delta, "share": float(np.mean([s for s, _ in r])),
             "certified_splits": int(sum(c for _, c in r)), "repeats": repeats} for t, r in rows.items()]


def label_model_pilot(scores: dict[str, tuple[list, list]], seed: int = 0) -> dict | None:
    """What the label model would do on these pairs (:mod:`rayrlhf.labelling.pilot`): the accuracy curve and the
    share it can label at each target accuracy; None with fewer than two sources or 50 pairs."""
    names = list(scores)
    if len(names) < 2 or len(next(iter(scores.values()))[0]) < 50:
        return None
    chosen = np.array([scores[n][0] for n in names], dtype=float).T
    rejected = np.array([scores[n][1] for n in names], dtype=float).T
    examples = pair_examples(chosen, rejected)
    return {"curve": pilot_curve(names, examples, seed=seed), "confident": confident_share(names, examples, seed=seed)}
