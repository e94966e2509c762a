"""LLM judges (kind: judge, oracle.backend: judge; docs/rewards_service.md "LLM judges"): the parsers on recorded
real judge answers and on hand-made ones, and the source and the oracle against an OpenAI-compatible chat server
started here (uvicorn on a loopback port) that answers as a judge with a known rule or a known bias, so what the
position swap, the abstentions and the usage accounting do is checked against what the rule implies. The same code
against vLLM's own server: tests/rollout/test_vllm_endpoints.py."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from rayrlhf.annotate.judge_oracle import JudgeOracle, read_listwise, read_pairwise
from rayrlhf.config import ConfigError, SourceConfig, load_config
from rayrlhf.core.app_thread import AppThread
from rayrlhf.core.records import Query
from rayrlhf.rewards import build_source
from rayrlhf.rewards.judge_parse import parse_ranking, parse_rating, parse_verdict
from rayrlhf.rewards.protocol import EndpointError
from tests.support.paths import REPO

RECORDED = Path(__file__).parent / "judge_answers"


def judge_source(url: str, **judge) -> SourceConfig:
    return SourceConfig.model_validate({"name": "gpt_judge", "kind": "judge", "batch_size": 4,
                                        "endpoint": {"url": url, "model": "judge-model", "retries": 1, "timeout_s": 5.0},
                                        "judge": {"cost_per_million_input_tokens": 2.0,
                                                  "cost_per_million_output_tokens": 8.0, **judge}})


class ScriptedJudge:
    """An OpenAI-compatible chat-completions server whose judge answers by ``self.rule(user_message)``; it reports
    usage as (characters of the prompt, characters of the answer) so the accounting can be checked by hand."""

    def __init__(self) -> None:
        self.rule, self.calls, self.bodies = (lambda text: "Rating: [[5]]"), 0, []
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            body = await request.json()
            self.calls += 1
            self.bodies.append(body)
            user = body["messages"][-1]["content"]
            text = self.rule(user)
            return JSONResponse({"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
                                 "usage": {"prompt_tokens": len(user), "completion_tokens": len(text)}})

        self.app = app


@pytest.fixture(scope="module")
def scripted():
    server = ScriptedJudge()
    thread = AppThread(server.app, name="scripted judge").start()
    server.url = thread.url + "/v1/chat/completions"
    yield server
    thread.stop()


def shown_responses(user: str) -> list[str]:
    """The responses a judge prompt shows, in display order."""
    return re.findall(r"\[Response \w+\]\n(.*?)\n\[End of response", user, re.S)


# --- parsers -----------------------------------------------------------------------------------------------------

def test_parsers_on_hand_made_answers():
    assert parse_rating("Clear and right. Rating: [[8]]", 1, 10) == 8.0
    assert parse_rating("I give it [7.5] overall", 1, 10) == 7.5
    assert parse_rating("rating: 3", 1, 10) == 3.0
    assert parse_rating("Rating: [[11]]", 1, 10) is None  # outside the scale: not a score
    assert parse_rating("Rating: [[rating]]", 1, 10) is None
    assert parse_rating("", 1, 10) is None and parse_rating(None, 1, 10) is None
    assert parse_verdict("B is more accurate. [[B]]") == "B"
    assert parse_verdict("[[C]]") == "tie"
    assert parse_verdict("first [[A]] then [[B]]") is None  # undecided
    assert parse_verdict("A is better") is None
    assert parse_ranking("Best is 3. [[3, 1, 2]]", 3) == [2, 0, 1]
    assert parse_ranking("[[3 > 1 > 2]]", 3) == [2, 0, 1]
    assert parse_ranking("[[1, 2]] ... final: [[2, 1, 3]]", 3) == [1, 0, 2]  # the last ranking stated
    assert parse_ranking("[[1, 1, 2]]", 3) is None and parse_ranking("[[1, 2]]", 3) is None


def recorded(name: str) -> list[dict]:
    path = RECORDED / name
    assert path.is_file(), f"{path} is missing (the recorded answers are part of the repository)"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def fastchat_rating(text: str) -> float:
    """FastChat's own rule (fastchat/llm_judge/common.py, run_judge_single), written from its description: the first
    `[[n]]`, else the first `[n]`, else -1."""
    for pattern in (r"\[\[(\d+\.?\d*)\]\]", r"\[(\d+\.?\d*)\]"):
        m = re.search(pattern, text)
        if m:
            return float(m.group(1))
    return -1.0


def test_rating_parser_agrees_with_what_fastchat_recorded_for_real_gpt4_judgments():
    rows = recorded("fastchat_single.jsonl")
    assert len(rows) >= 40
    for row in rows:
        ours = parse_rating(row["judgment"], 1, 10)
        if row["fastchat_score"] != -1 and 1 <= row["fastchat_score"] <= 10:
            assert ours == float(row["fastchat_score"]), row["judgment"][-200:]
        else:  # FastChat found nothing (or an off-scale number): ours finds a rating only where the text says "Rating: n"
            assert ours is None or re.search(r"rating\s*[:=]\s*\d", row["judgment"], re.I), row["judgment"][-200:]
    assert all(fastchat_rating(r["judgment"]) == float(r["fastchat_score"]) for r in rows)  # the fixture is what it says


def test_verdict_parser_reads_the_winner_fastchat_recorded_for_real_gpt4_pairwise_judgments():
    """FastChat's g1 shows (model_1, model_2) as (A, B) and g2 swaps them: its recorded winner, mapped back to a
    letter, is what our parser must read; its "error" (the literal $ERROR$) is an abstention."""
    rows = recorded("pairwise.jsonl")
    assert len(rows) >= 20 and {r["recorded_winner"] for r in rows} >= {"model_1", "model_2", "tie", "error"}
    for row in rows:
        first, second = ("A", "B") if row["game"] == "g1" else ("B", "A")
        expected = {"model_1": first, "model_2": second, "tie": "tie", "error": None}[row["recorded_winner"]]
        assert parse_verdict(row["judgment"]) == expected, row["judgment"][-200:]


# --- the source ----------------------------------------------------------------------------------------------------

def test_a_judge_source_rates_each_response_and_unparsed_answers_are_not_scores(scripted, tmp_path):
    ratings = {"good answer": "Accurate. Rating: [[9]]", "bad answer": "Wrong. Rating: [[2]]", "odd answer": "I cannot rate this."}
    scripted.rule = lambda user: next(v for k, v in ratings.items() if k in user)
    scripted.calls = 0
    source = build_source(judge_source(scripted.url), cache_dir=tmp_path)
    prompts = ["p1", "p1", "p1", "p2"]
    responses = ["good answer", "bad answer", "odd answer", "odd answer"]
    scores = source.score(prompts, responses)
    # the unparsed answer to p1 gets the mean of p1's parsed ratings; p2 has none parsed: the scale's midpoint
    assert scores == [9.0, 2.0, 5.5, 5.5]
    assert source.stats["unparsed"] == 2 and scripted.calls == 4
    body = scripted.bodies[-1]
    assert body["temperature"] == 0.0 and body["model"] == "judge-model" and body["max_tokens"] == 512
    shown = sorted(re.search(r"\[Response\]\n(.*?)\n\[End of response\]", b["messages"][-1]["content"], re.S).group(1)
                   for b in scripted.bodies[-4:])  # calls run concurrently: in any order
    assert shown == sorted(responses)
    (usage,) = [json.loads(line) for line in next(tmp_path.glob("*.usage.jsonl")).read_text().splitlines()]
    chars_in = sum(len(b["messages"][-1]["content"]) for b in scripted.bodies[-4:])
    chars_out = sum(len(ratings[r]) for r in responses)
    assert (usage["answers"], usage["unparsed"], usage["prompt_tokens"], usage["completion_tokens"]) == (4, 2, chars_in, chars_out)
    assert usage["cost"] == pytest.approx((chars_in * 2.0 + chars_out * 8.0) / 1e6)
    again = build_source(judge_source(scripted.url), cache_dir=tmp_path)  # a resumed run: nothing is asked twice
    assert again.score(prompts, responses) == scores and scripted.calls == 4


def test_a_judge_server_that_answers_no_choices_stops_with_one_line(scripted):
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat():
        return JSONResponse({"error": {"message": "model not found"}})

    thread = AppThread(app, name="broken judge").start()
    try:
        with pytest.raises(EndpointError, match=r"source 'gpt_judge' \(http://127\.0\.0\.1:\d+/v1/chat/completions\): "
                                                r"answered without a \"choices\" list"):
            build_source(judge_source(thread.url + "/v1/chat/completions")).score(["p"], ["r"])
    finally:
        thread.stop()


# --- the oracle ----------------------------------------------------------------------------------------------------

def ask(oracle: JudgeOracle, queries: list[Query]) -> dict:
    got = {}
    oracle.ask(queries, lambda q, a: got.__setitem__(q.id, a))
    return got


def quality(text: str) -> int:
    return int(re.search(r"q(\d)", text).group(1))


def test_pairwise_swapping_cancels_a_position_bias_and_keeps_a_real_preference(scripted):
    queries = [Query("prompt one", ("answer q1", "answer q7")), Query("prompt two", ("answer q8", "answer q3"))]
    scripted.rule = lambda user: "[[A]]" if quality(shown_responses(user)[0]) > quality(shown_responses(user)[1]) else "[[B]]"
    oracle = JudgeOracle(judge_source(scripted.url, mode="pairwise"))
    got = ask(oracle, queries)
    assert [got[q.id].ranking for q in queries] == [[1, 0], [0, 1]]  # the better response first, whatever the order
    assert all(got[q.id].meta["judge"]["calls"] == 2 and got[q.id].meta["judge"]["parsed"] == 2 for q in queries)
    scripted.rule = lambda user: "Response A is better. [[A]]"  # pure position bias: the swap exposes it
    assert [a.ranking for a in ask(oracle, queries).values()] == [None, None]
    scripted.rule = lambda user: "Hard to say."
    assert [a.ranking for a in ask(oracle, queries).values()] == [None, None]


def test_listwise_rankings_from_both_orders_are_combined_and_a_biased_judge_abstains(scripted):
    q = Query("p", ("r q2", "r q9", "r q5", "r q1"))
    def by_quality(user):
        shown = [quality(r) for r in shown_responses(user)]
        return "ranking: [[" + ", ".join(str(i + 1) for i in sorted(range(4), key=lambda i: -shown[i])) + "]]"
    scripted.rule = by_quality
    oracle = JudgeOracle(judge_source(scripted.url, mode="listwise"))
    answer = ask(oracle, [q])[q.id]
    assert answer.ranking == [1, 2, 0, 3]
    assert answer.meta["annotator"] == "judge:judge-model" and answer.meta["judge"]["mode"] == "listwise"
    scripted.rule = lambda user: "[[1, 2, 3, 4]]"  # always the display order
    assert ask(oracle, [q])[q.id].ranking is None
    # hand-checked Borda: order 1 says 0>1>2, order 2 (reversed display) says its slots 0>2>1 = responses 2>0>1
    assert read_listwise(["[[1, 2, 3]]", "[[1, 3, 2]]"], [[0, 1, 2], [2, 1, 0]], 3) == ([0, 2, 1], 2)
    assert read_pairwise(["[[A]]", "[[C]]"], [[0, 1], [1, 0]]) is None


def test_pointwise_oracle_ranks_by_rating_and_abstains_on_an_unparsed_one(scripted):
    scripted.rule = lambda user: f"Rating: [[{quality(user.split('[Response]')[1])}]]"
    oracle = JudgeOracle(judge_source(scripted.url))
    q = Query("p", ("x q3", "x q8", "x q1"))
    answer = ask(oracle, [q])[q.id]
    assert answer.ranking == [1, 0, 2] and answer.meta["judge"]["calls"] == 3
    assert answer.meta["judge"]["prompt_tokens"] == sum(len(b["messages"][-1]["content"]) for b in scripted.bodies[-3:])
    scripted.rule = lambda user: "Rating: [[4]]" if "q3" in user else "no idea"
    answer = ask(oracle, [q])[q.id]
    assert answer.ranking is None and answer.meta["judge"]["parsed"] == 1


def test_judge_config_errors_name_the_key():
    quickstart = str(REPO / "examples" / "quickstart.yaml")
    judge = ["oracle.reward.kind=judge", "oracle.reward.model=gpt", "oracle.reward.endpoint.url=https://j.example.com/v1/chat/completions",
             "oracle.backend=judge"]
    cfg = load_config(quickstart, judge)
    assert cfg.oracle.reward.judge_settings().mode == "pointwise"
    with pytest.raises(ConfigError, match="mode=pairwise compares two responses, but K=train.responses_per_prompt=4"):
        load_config(quickstart, [*judge, "oracle.reward.judge.mode=pairwise"])
    assert math.isfinite(load_config(quickstart, [*judge, "oracle.reward.judge.mode=pairwise",
                                                  "train.responses_per_prompt=2", "transfer.num_replace=1"]).optim.beta)
