"""The guarantee's per-iteration figures (route guaranteed) in metrics.jsonl, against counts worked out by hand."""

import math

from rayrlhf.labelling.guarantee import Certificate
from rayrlhf.run.label_model_run import _certificate_metrics


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
