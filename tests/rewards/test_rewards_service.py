"""Reward models as services (docs/rewards_service.md): the `kind: http` client against real servers (uvicorn on a
loopback port, started here) that misbehave on purpose, and `rayrlhf rewards serve`'s app against local scores."""

from __future__ import annotations

import asyncio
import json
import math
import socket

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from rayrlhf.config import SourceConfig
from rayrlhf.core.app_thread import AppThread
from rayrlhf.rewards import build_source
from rayrlhf.rewards.protocol import EndpointError, ScoreItem, parse_scores, safe_url
from rayrlhf.rewards.remote import HttpReward
from rayrlhf.rewards.serve import ServedSource, reward_app

TOKEN = "tok-3f9a-not-a-real-secret"
PROMPTS = ["the cat sat on the mat", "a dog ran", "rain fell all day"]
RESPONSES = ["cat on mat", "", "it rained"]
REFS = ["the cat sat", "dog runs", "rain all day"]


def http_source(url: str, **endpoint) -> SourceConfig:
    return SourceConfig.model_validate({"name": "remote", "kind": "http", "batch_size": 2,
                                        "endpoint": {"url": url, "token_env": "RR_TEST_TOKEN", "retries": 1,
                                                     "timeout_s": 2.0, **endpoint}})


class Misbehaving:
    """A scoring server whose answer is chosen per test (``mode``), counting the calls it gets."""

    def __init__(self) -> None:
        self.mode, self.calls, self.failures_left = "ok", 0, 0
        app = FastAPI()

        @app.post("/score")
        async def score(request: Request):
            self.calls += 1
            if request.headers.get("authorization") != f"Bearer {TOKEN}":
                return JSONResponse({"detail": "bad token"}, status_code=401)
            n = len((await request.json())["items"])
            if self.failures_left > 0:
                self.failures_left -= 1
                return JSONResponse({"detail": "busy"}, status_code=503)
            mode = self.mode
            if mode == "500":
                return JSONResponse({"detail": "boom"}, status_code=500)
            if mode == "slow":
                await asyncio.sleep(3.0)
            if mode == "count":
                return JSONResponse({"scores": [0.5] * (n + 1)})
            if mode == "nan":
                return Response(json.dumps({"scores": [float("nan")] * n}), media_type="application/json")
            if mode == "string":
                return JSONResponse({"scores": ["high"] * n})
            if mode == "huge":  # 10 MB, streamed without a content-length
                return StreamingResponse((b"x" * (1 << 20) for _ in range(10)), media_type="application/json")
            if mode == "html":
                return Response("<html>proxy error</html>", media_type="text/html")
            return JSONResponse({"scores": [float(len(it["response"])) for it in (await request.json())["items"]]})

        self.app = app


@pytest.fixture(scope="module")
def misbehaving():
    server = Misbehaving()
    thread = AppThread(server.app, name="misbehaving scorer").start()
    server.url = thread.url + "/score"
    yield server
    thread.stop()


@pytest.fixture(autouse=True)
def token_env(monkeypatch):
    monkeypatch.setenv("RR_TEST_TOKEN", TOKEN)


@pytest.fixture()
def fresh(misbehaving):
    misbehaving.mode, misbehaving.calls, misbehaving.failures_left = "ok", 0, 0
    return misbehaving


def test_scores_come_back_in_order_and_empty_responses_are_never_sent(fresh):
    reward = build_source(http_source(fresh.url))
    assert reward.score(PROMPTS, RESPONSES, REFS) == [10.0, -1000.0, 9.0]  # len(response); empty -> empty_score
    assert fresh.calls == 1  # two non-empty items, batch_size 2: one call


@pytest.mark.parametrize(("mode", "problem", "calls"), [
    ("500", "answered HTTP 500, after 1 retries (endpoint.retries)", 2),
    ("slow", "did not answer within 0.5s (endpoint.timeout_s), after 1 retries", 2),
    ("count", "answered 3 scores for 2 items", 1),
    ("nan", "answered a non-finite score 0: nan", 1),
    ("string", "answered a non-number as score 0: 'high'", 1),
    ("huge", "answered more than endpoint.max_response_bytes=1048576 bytes", 1),
    ("html", "answered a body that is not JSON", 1),
])
def test_a_bad_answer_stops_with_one_line_naming_the_source_and_the_url(fresh, mode, problem, calls):
    fresh.mode = mode
    reward = HttpReward(http_source(fresh.url + "?api_key=hunter2", timeout_s=0.5))
    with pytest.raises(EndpointError) as err:
        reward.score(PROMPTS, RESPONSES, REFS)
    message = str(err.value)
    assert message.startswith(f"source 'remote' ({fresh.url}): ")  # the URL without its query
    assert problem in message and "\n" not in message
    assert "hunter2" not in message and TOKEN not in message
    assert fresh.calls == calls  # only transport errors, timeouts and 5xx are retried


def test_a_wrong_token_is_refused_without_retries_and_a_missing_one_is_named(fresh, monkeypatch):
    monkeypatch.setenv("RR_TEST_TOKEN", "wrong")
    with pytest.raises(EndpointError, match=r"refused the token \(HTTP 401\); check \$RR_TEST_TOKEN"):
        HttpReward(http_source(fresh.url)).score(PROMPTS, RESPONSES, REFS)
    assert fresh.calls == 1
    monkeypatch.delenv("RR_TEST_TOKEN")
    with pytest.raises(EndpointError, match=r"\$RR_TEST_TOKEN \(endpoint.token_env\) is not set"):
        HttpReward(http_source(fresh.url)).score(PROMPTS, RESPONSES, REFS)
    assert fresh.calls == 1  # nothing sent without the token


def test_a_passing_failure_is_retried_and_a_server_that_is_down_is_named():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(EndpointError, match=r"could not be reached \(ConnectError.*after 1 retries"):
        HttpReward(http_source(f"http://127.0.0.1:{port}/score")).score(PROMPTS, RESPONSES, REFS)


def test_a_503_then_an_answer_is_one_retry(fresh):
    fresh.failures_left = 1
    reward = HttpReward(http_source(fresh.url))
    assert reward.score(PROMPTS, RESPONSES, REFS) == [10.0, -1000.0, 9.0]
    assert (fresh.calls, reward.stats["retries"]) == (2, 1)


def test_scores_are_cached_so_a_retry_or_a_resume_pays_once(fresh, tmp_path):
    cache = tmp_path / "score_cache" / "remote.jsonl"
    first = HttpReward(http_source(fresh.url), cache)
    assert first.score(PROMPTS, RESPONSES, REFS) == [10.0, -1000.0, 9.0]
    assert first.score(PROMPTS, RESPONSES, REFS) == [10.0, -1000.0, 9.0]
    assert fresh.calls == 1
    resumed = HttpReward(http_source(fresh.url), cache)  # a new process on the same run directory
    assert resumed.score(PROMPTS[:1] + ["new prompt"], RESPONSES[:1] + ["new"], REFS[:1] + ["x"]) == [10.0, 3.0]
    assert fresh.calls == 2 and resumed.stats["cached"] == 1
    text = cache.read_text()
    assert "cat" not in text and TOKEN not in text  # keys are hashes: no text, no token on disk
    assert len(text.splitlines()) == 3


def test_the_wire_format_checks():
    assert parse_scores(b'{"scores": [1, 2.5, -3e2]}', 3) == [1.0, 2.5, -300.0]
    for body, problem in [(b'{"scores": [true]}', "non-number"), (b'{"score": [1]}', '"scores" list'),
                          (b'[1]', '"scores" list'), (b'{"scores": [Infinity]}', "non-finite"), (b"\xff", "not JSON")]:
        with pytest.raises(ValueError, match=problem):
            parse_scores(body, 1)
    assert safe_url("https://u:p@example.com:8443/v1/score/x?key=s#f") == "https://example.com:8443/v1/score/x"
    assert ScoreItem("a", "b").key() != ScoreItem("a", "b", "").key() != ScoreItem("ab", "").key()


@pytest.fixture(scope="module")
def served_rouge():
    local = build_source(SourceConfig(name="rouge", kind="rouge"))
    length = build_source(SourceConfig(name="length", kind="python", model="tests.support.helpers:length_reward"))
    sources = {"rouge": ServedSource("rouge", local.score), "length": ServedSource("python", length.score)}
    thread = AppThread(reward_app(sources, TOKEN), name="reward server").start()
    yield thread.url, local, sources
    thread.stop()


def test_served_scores_equal_local_ones(served_rouge):
    url, local, _ = served_rouge
    remote = HttpReward(http_source(f"{url}/v1/score/rouge"))
    want = local.score(PROMPTS, RESPONSES, REFS)
    got = remote.score(PROMPTS, RESPONSES, REFS)
    assert all(math.isclose(g, w, rel_tol=0, abs_tol=1e-12) for g, w in zip(got, want, strict=True))


def test_the_server_refuses_a_wrong_or_missing_token_and_scores_nothing(served_rouge):
    url, _, sources = served_rouge
    before = sources["length"].items
    body = {"items": [{"prompt": "p", "response": "r", "reference": None}]}
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}):
        answer = httpx.post(f"{url}/v1/score/length", json=body, headers=headers)
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
    assert httpx.get(f"{url}/v1/sources").status_code == 401
    assert sources["length"].items == before
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.post(f"{url}/v1/score/length", json=body, headers=auth).json() == {"scores": [1.0]}
    assert sources["length"].items == before + 1
    assert httpx.post(f"{url}/v1/score/nope", json=body, headers=auth).status_code == 404
    bad = httpx.post(f"{url}/v1/score/length", json={"items": [{"prompt": 1}]}, headers=auth)
    assert bad.status_code == 422 and "needs string 'prompt' and 'response'" in bad.text
    assert httpx.get(f"{url}/healthz").json() == {"ok": True}
    listed = httpx.get(f"{url}/v1/sources", headers=auth).json()["sources"]
    assert {s["name"] for s in listed} == {"rouge", "length"}


def test_rewards_from_points_every_source_and_the_oracle_at_one_server(tmp_path):
    """run.rewards_from rewrites the config before validation: sources keep their names, empty scores and batch
    sizes and become http clients of <URL>/v1/score/<name>; the oracle's reward is served as `oracle`; a saved
    config.yaml loads to the same config; a bad URL is named once, as run.rewards_from."""
    from rayrlhf.config import ConfigError, dump_config, load_config
    from tests.support.paths import REPO

    quickstart = REPO / "examples" / "quickstart.yaml"
    plain = load_config(quickstart)
    cfg = load_config(quickstart, ["run.rewards_from=http://127.0.0.1:8700/", "sources.2.empty_score=-7"])
    assert [s.name for s in cfg.sources] == [s.name for s in plain.sources]
    assert [s.endpoint.url for s in cfg.sources] == [f"http://127.0.0.1:8700/v1/score/{s.name}" for s in plain.sources]
    assert {s.kind for s in cfg.sources} == {"http"} and cfg.sources[2].empty_score == -7.0
    assert all(s.num_cpus == 0.1 and s.endpoint.token_env == "RAYRLHF_REWARDS_TOKEN" for s in cfg.sources)
    assert cfg.oracle.reward.endpoint.url == "http://127.0.0.1:8700/v1/score/oracle"
    assert cfg.oracle.reward.empty_score == plain.oracle.reward.empty_score  # the default oracle's own
    saved = tmp_path / "config.yaml"
    saved.write_text(dump_config(cfg))
    assert load_config(saved) == cfg
    with pytest.raises(ConfigError) as err:
        load_config(quickstart, ["run.rewards_from=http://10.1.2.3:8700"])
    assert str(err.value).count("plain http to 10.1.2.3") == 1 and "run.rewards_allow_http=true" in str(err.value)
    remote = load_config(quickstart, ["run.rewards_from=http://10.1.2.3:8700", "run.rewards_allow_http=true"])
    assert remote.sources[0].endpoint.allow_http
