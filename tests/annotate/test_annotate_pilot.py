"""Pilot: K policy responses for N prompts of the built-in task (hf sampler, no Ray), queued for people;
answers become a pairs file that `rewards evaluate --pairs` reads."""

import json

import pytest

from rayrlhf.annotate.queue import lease_next, submit
from rayrlhf.annotate.store import QueueStore
from rayrlhf.cli import main
from tests.support.paths import REPO


@pytest.mark.slow
def test_pilot_queues_policy_samples_and_answers_become_pairs(tiny_overrides, tiny_task, tmp_path, capsys):
    out = tmp_path / "pilot"
    args = ["annotate", "pilot", str(REPO / "examples" / "quickstart.yaml"), *tiny_overrides, "rollout.max_new_tokens=8",
            "oracle.overlap=2", "--out", str(out), "--prompts", "5", "--responses", "3"]
    assert main(args) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["queries"] == 5 and made["new"] == 5 and made["overlap"] == 2
    store = QueueStore.existing(out)
    queued = store.all_queries()
    assert len(queued) == 5 and all(len(q.responses) == 3 for q in queued)
    assert {q.prompt for q in queued} <= set(tiny_task.split("train")["prompt"])
    assert all(q.origin == "pilot" for q in queued)
    assert main(args) == 0 and json.loads(capsys.readouterr().out)["new"] == 0  # the same pilot again: nothing new

    for who in ("ann1", "ann2"):  # overlap 2: both people see every query
        while (q := lease_next(store, who)) is not None:
            submit(store, who, q.id, best=0, worst=2)
    assert store.counts()["closed"] == 5
    pairs = tmp_path / "pairs.jsonl"
    assert main(["annotate", "pairs", str(out), "--out", str(pairs)]) == 0
    rows = [json.loads(line) for line in pairs.read_text().splitlines()]
    assert len(rows) == 10 and {r["annotator"] for r in rows} == {"ann1", "ann2"}
    for r in rows:
        q = next(q for q in queued if q.id == r["query_id"])
        assert r["chosen"] == q.shown()["responses"][0] and r["rejected"] == q.shown()["responses"][2]
