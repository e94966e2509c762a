"""The built-in task at its default size has what the method needs (issue: graded sources, an improvable
policy). Builds the default task once (about 3-4 minutes on 2 cores; cached in $RAYRLHF_CACHE)."""

import numpy as np
import pytest

from rayrlhf.config import load_config
from rayrlhf.rewards.evaluate import evaluate_sources, task_pairs
from tests.support.paths import REPO


@pytest.mark.slow
def test_default_task_sources_are_graded_and_policy_is_improvable():
    cfg = load_config(REPO / "examples" / "quickstart.yaml")
    pairs, info = task_pairs(cfg, log=lambda m: None)
    rows = {r["source"]: r for r in evaluate_sources(cfg, pairs, log=lambda m: None)}
    agreement = {name: r["agreement"] for name, r in rows.items()}
    best = max(agreement, key=agreement.get)
    assert rows[best]["ci_low"] > 0.7, agreement           # the best source is clearly good
    assert min(agreement.values()) < 0.4, agreement        # the misleading one is below chance
    assert rows["verbosity"]["ci_low"] < 0.5 < rows["verbosity"]["ci_high"] + 0.1, agreement  # near chance
    assert np.ptp(sorted(agreement.values())[1:-1]) > 0.05, agreement  # the middle is graded, not bunched
    policy, reference = info["initial_policy_oracle_score"], info["reference_oracle_score"]
    assert reference["mean"] - policy["mean"] > 1.0        # clearly improvable
    assert policy["p75"] > 0.0 and info["pairs"] >= 150    # but plausible: most samples are sensible summaries
