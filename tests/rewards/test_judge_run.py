"""A training run whose oracle is an LLM judge (oracle.backend: judge, listwise, position-swapped) behind an
OpenAI-compatible chat server started here. The judge ranks the responses it is shown by the built-in gold reward
(rayrlhf/task/oracle.py), so its answers are right and the run can be checked against the gold ranking; every label
is in the ledger once with its token usage, and the report shows tokens and cost per label."""

from __future__ import annotations

import json
import math
import re

import pytest
import yaml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from rayrlhf.core.app_thread import AppThread
from rayrlhf.task.oracle import gold_score
from tests.support.cli import ledger, rayrlhf, train

pytestmark = [pytest.mark.ray, pytest.mark.slow]
RANKING = "Reference: <<{reference}>> Request: <<{prompt}>>\n{responses}\nRank them best first as [[2, 1, 3]]."
RATING = "Reference: <<{reference}>> Request: <<{prompt}>> Response: <<{response}>> Rate it from 1 to 10 as [[n]]."


def gold_judge() -> tuple[FastAPI, list[int]]:
    app, calls = FastAPI(), []

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        user = (await request.json())["messages"][-1]["content"]
        reference, prompt, *response = re.findall(r"<<(.*?)>>", user, re.S)
        if response:  # a rating (the held-out evaluation's oracle score)
            text = f"Rating: [[{min(10, max(1, round(5 + 2 * gold_score(prompt, response[0], reference))))}]]"
        else:
            shown = re.findall(r"\[Response \w+\]\n(.*?)\n\[End of response", user, re.S)
            order = sorted(range(len(shown)), key=lambda i: (-gold_score(prompt, shown[i], reference), i))
            calls.append(1)
            text = "Ranking: [[" + ", ".join(str(i + 1) for i in order) + "]]"
        return JSONResponse({"choices": [{"message": {"role": "assistant", "content": text}}],
                             "usage": {"prompt_tokens": 100, "completion_tokens": 10}})

    return app, calls


def test_a_run_labelled_by_an_llm_judge(train_config, tmp_path):
    app, calls = gold_judge()
    server = AppThread(app, name="gold judge").start()
    run = tmp_path / "run"
    config = yaml.safe_load(open(train_config[0]))
    config["oracle"] = {"backend": "judge", "reward": {
        "name": "judge", "kind": "judge", "model": "gold-judge", "endpoint": {"url": f"{server.url}/v1/chat/completions"},
        "judge": {"mode": "listwise", "ranking_template": RANKING, "template": RATING, "cost_per_million_input_tokens": 1.0}}}
    (tmp_path / "judged.yaml").write_text(yaml.safe_dump(config))
    try:
        rows = train([str(tmp_path / "judged.yaml"), *train_config[1:]], run, "train.iterations=1", "rollout.backend=hf",
                     cwd=tmp_path)
    finally:
        server.stop()
    entries = ledger(run)
    assert len(entries) == rows[-1]["oracle_queries"] == len({e["query_id"] for e in entries}) > 0
    assert len(calls) == 2 * len(entries)  # each query asked in both orders, once
    assert all(e["meta"]["judge"] == {"mode": "listwise", "calls": 2, "parsed": 2, "prompt_tokens": 200,
                                      "completion_tokens": 20, "cost": pytest.approx(2e-4)} for e in entries)
    assert rows[-1]["train/pairs_trained"] == rows[-1]["train/pairs"] > 0
    assert math.isfinite(rows[-1]["eval/oracle_score"])  # the held-out samples rated by the judge
    rayrlhf("report", str(run))
    report = json.loads((run / "report.json").read_text())
    (cost,) = report["cost"].values()
    assert cost["judge_tokens_per_label"] == 220 and cost["judge_abstained_share"] < 1
