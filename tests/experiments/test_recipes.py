"""examples/few_people.yaml is the configuration its comments cite: the method measured in
docs/results/seq1024_report.md, built from the quickstart by `rayrlhf compare`'s method name and overrides."""

from pathlib import Path

from rayrlhf.config import load_config
from rayrlhf.experiments.methods import method_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MEASURED = ("ucb+guaranteed+ranking[oracle.route_after=16][oracle.model_accuracy=0.8][optim.max_steps=200]"
            "[optim.nll_weight=1][oracle.burn_in=certify][transfer.credit=labels][oracle.certify_test=sequence]")


def test_the_few_people_recipe_is_the_measured_method():
    recipe = load_config(EXAMPLES / "few_people.yaml", ["run.output_dir=runs/x"])
    measured = method_config(load_config(EXAMPLES / "quickstart.yaml",
                                          ["train.prompts_per_iteration=1024", "run.output_dir=runs/x"]), MEASURED)
    assert recipe == measured
    assert (recipe.oracle.route, recipe.oracle.burn_in, recipe.transfer.credit) == ("guaranteed", "certify", "labels")
