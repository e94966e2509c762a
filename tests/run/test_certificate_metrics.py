"""The guarantee's per-iteration figures (route guaranteed) in metrics.jsonl, against counts worked out by hand, and the
run's certificate against the rule computed directly with the configured bound."""

import math

import numpy as np

from rayrlhf.config.learning import OracleConfig
from rayrlhf.labelling.guarantee import Certificate, audit, certify
from rayrlhf.run.label_model_run import LabelModelRun, _certificate_metrics


def _certificate(threshold, bound, audited):
    return Certificate(threshold, bound, audited, audited, 0.9, 0.8, 0.05, "pair")


def test_an_iteration_before_the_model_is_fitted_reports_people_on_every_labelled_prompt():
    out = _certificate_metrics([], human=32, model=0, target=0.8, audits=12)
    assert (out["human_share"], out["certified_rounds"], out["audits"], out["target_accuracy"]) == (1.0, 0, 12, 0.8)
    assert math.isnan(out["threshold"]) and math.isnan(out["accuracy_bound"])


def test_the_last_round_gives_threshold_and_audits_and_the_labelled_rounds_the_lowest_bound():
    rounds = [_certificate(None, 0.7, 20), _certificate(0.9, 0.83, 30), _certificate(0.8, 0.81, 40)]
    out = _certificate_metrics(rounds, human=32, model=96, target=0.8, audits=99)
    assert out["human_share"] == 32 / 128 and out["threshold"] == 0.8 and out["accuracy_bound"] == 0.81
    assert out["certified_rounds"] == 2 and out["audits"] == 40 and out["target_accuracy"] == 0.8


def test_the_run_certifies_with_the_configured_bound():
    rng = np.random.default_rng(0)
    rows = []
    for i in range(90):  # source a tracks the true quality, source b is noise; people rank by quality, a few flipped
        quality = rng.normal(size=4)
        scores = [[float(q + 0.3 * rng.normal()), float(rng.normal())] for q in quality]
        order = list(np.argsort(-quality))
        if rng.random() < 0.1:
            order[0], order[1] = order[1], order[0]
        pairs = [[int(order[a]), int(order[b])] for a in range(4) for b in range(a + 1, 4)]
        rows.append({"scores": scores, "pairs": pairs} | ({"audit": True} if i % 2 else {}))
    certs = {}
    for bound in ("hoeffding_bentkus", "betting"):
        oracle = OracleConfig(route="guaranteed", route_after=16, certify_bound=bound)
        run = LabelModelRun(oracle, ("a", "b"), None, rows)
        certs[bound] = run.certificate(0.8, 0.05)
        direct = certify(audit(run.model, run.audits), 0.8, 0.05, unit=oracle.certify_unit, test=oracle.certify_test,
                         fitted=audit(run.model, run.examples), bound=bound)
        assert certs[bound] == direct
    assert certs["betting"].bound != certs["hoeffding_bentkus"].bound
