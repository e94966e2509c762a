"""Model labels' agreement with a fresh simulated person, per iteration, for runs made before the run measured it
(``label_model/person_accuracy``), from their rounds and model labels and the built-in task's r*
(rayrlhf/task/oracle.py).

For every routed run directory given (a `rayrlhf compare` method's `seed_N` folders) this prints, per iteration in
which the model labelled: its pairs, their agreement with r* recomputed here next to the run's own
`label_model/oracle_accuracy` (a check that the pairs are the ones the run scored), the expected agreement of a
fresh person answering as the run's `oracle.labels` and `oracle.temperature` say, the target, and whether the
person's agreement met it; then how many iterations met it.

    python docs/results/person_agreement.py runs/gpbt39_07/ucb+guaranteed*/seed_*
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml
from label_errors import saved_rounds  # this folder's script (run as python docs/results/person_agreement.py)

from rayrlhf.algorithms.label_model import implied_pairs, score_agreement
from rayrlhf.algorithms.labels import person_agreement
from rayrlhf.task.oracle import gold_score


def per_iteration(run: Path) -> dict[int, list[float]]:
    """Per iteration: [r* agreeing, r* compared, person expected agreeing, person compared]."""
    oracle = yaml.safe_load((run / "config.yaml").read_text())["oracle"]
    rounds, out = saved_rounds(run), {}
    for line in (run / "model_labels.jsonl").read_text().splitlines():
        d = json.loads(line)
        items = rounds.get((d["iteration"], d["round"]))
        if items is None or not d["model"]:
            continue
        sums = out.setdefault(d["iteration"], [0.0, 0, 0.0, 0])
        for m in d["model"]:
            item = items[m["index"]]
            r_star = [gold_score(item["prompt"], y, item["reference"]) for y in item["responses"]]
            pairs = [tuple(p) for p in m["pairs"]] if m.get("pairs") is not None else implied_pairs(m["ranking"])
            agree, compared = score_agreement(pairs, r_star)
            expected, stated = person_agreement(pairs, r_star, oracle["labels"], oracle["temperature"])
            sums[0] += agree
            sums[1] += compared
            sums[2] += expected
            sums[3] += stated
    return out


def main(runs: list[Path]) -> None:
    print("| run | iteration | pairs | r* agreement (recomputed / run's) | person agreement | target | met |")
    print("|---|---|---|---|---|---|---|")
    met = judged = 0
    for run in runs:
        metrics = {r["iteration"]: r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())}
        for it, (agree, compared, expected, stated) in sorted(per_iteration(run).items()):
            row = metrics.get(it, {})
            target = row.get("label_model/target_accuracy")
            person = expected / stated if stated else float("nan")
            ok = target is not None and person >= target
            judged += target is not None
            met += ok
            print(f"| {run.name} | {it} | {stated} | {agree / compared:.3f} / {row.get('label_model/oracle_accuracy', float('nan')):.3f} "
                  f"| {person:.3f} | {target} | {'yes' if ok else 'no'} |")
    print(f"\nThe person's agreement met the target in {met} of {judged} iterations the model labelled in.")


if __name__ == "__main__":
    main([Path(p) for p in sys.argv[1:]])
