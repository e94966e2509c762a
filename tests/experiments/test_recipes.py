"""examples/quickstart.yaml, examples/few_people.yaml and examples/few_people_quick.yaml are the configurations their
comments cite: the method measured in docs/results/qs55_report.md (256 prompts per iteration), in
docs/results/seq1024_report.md (1,024), built by `rayrlhf compare`'s method name from the quickstart those runs
started from (aeab248's: `uncertain` routing, every piece at its default), and in docs/results/fq57_report.md (384
prompts, 32 human labels; its audit share 0.75 in docs/results/fqa75_report.md), built from today's quickstart by the
overrides and method name of its command."""

from pathlib import Path

from rayrlhf.config import load_config
from rayrlhf.experiments.methods import method_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MEASURED = ("ucb+guaranteed+ranking[oracle.route_after=16][oracle.model_accuracy=0.8][optim.max_steps=200]"
            "[optim.nll_weight=1][oracle.burn_in=certify][transfer.credit=labels][oracle.certify_test=sequence]")
# the quickstart the measured runs started from: its pieces at the code's defaults, people on the least sure half
MEASURED_BASE = ["oracle.route=uncertain", "oracle.burn_in=paced", "transfer.credit=people", "optim.nll_weight=0",
                 "optim.max_steps=null", "oracle.route_after=64", "oracle.model_accuracy=0.9", "run.output_dir=runs/x"]


def test_the_quickstart_is_the_measured_method():
    quickstart = load_config(EXAMPLES / "quickstart.yaml", ["run.output_dir=runs/x"])
    measured = method_config(load_config(EXAMPLES / "quickstart.yaml", MEASURED_BASE), MEASURED)
    assert quickstart == measured
    assert (quickstart.oracle.route, quickstart.optim.nll_weight, quickstart.train.prompts_per_iteration) == ("guaranteed", 1.0, 256)


def test_the_few_people_recipe_is_the_measured_method():
    recipe = load_config(EXAMPLES / "few_people.yaml", ["run.output_dir=runs/x"])
    measured = method_config(load_config(EXAMPLES / "quickstart.yaml", ["train.prompts_per_iteration=1024", *MEASURED_BASE]),
                             MEASURED)
    assert recipe == measured
    assert recipe == load_config(EXAMPLES / "quickstart.yaml", ["train.prompts_per_iteration=1024", "run.output_dir=runs/x"])
    assert (recipe.oracle.route, recipe.oracle.burn_in, recipe.transfer.credit) == ("guaranteed", "certify", "labels")


def test_the_few_people_quick_recipe_is_the_measured_method():
    recipe = load_config(EXAMPLES / "few_people_quick.yaml", ["run.output_dir=runs/x"])
    # fqa75's command: the base overrides, then its method (the anchor back on for the method alone)
    base = ["oracle.labels_per_iteration=32", "train.prompts_per_iteration=384", "optim.nll_weight=0", "run.output_dir=runs/x"]
    measured = method_config(load_config(EXAMPLES / "quickstart.yaml", base),
                             "ucb+guaranteed+ranking[optim.nll_weight=1][oracle.audit_share=0.75]")
    assert recipe == measured
    assert recipe == load_config(EXAMPLES / "quickstart.yaml", [*base[:2], "oracle.audit_share=0.75", "run.output_dir=runs/x"])
    assert (recipe.oracle.labels_per_iteration, recipe.train.prompts_per_iteration, recipe.oracle.audit_share) == (32, 384, 0.75)
