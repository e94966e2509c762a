"""One endpoint's HTTP calls, with the rules every remote scorer shares (docs/rewards_service.md, "Failures"):
the token from the environment, TLS verified, no redirects, ``max_concurrency`` calls in flight, a per-call
timeout, retries with exponential backoff on connect errors, timeouts, 5xx and 429 only, and a cap on the answer's
size. Every failure is one :class:`~rayrlhf.rewards.protocol.EndpointError` line naming the caller, the URL
(without credentials or query) and what was wrong.

Used by ``kind: http`` (:mod:`rayrlhf.rewards.remote`), ``lm_logprob`` over a completions endpoint
(:mod:`rayrlhf.rewards.remote_logprob`) and LLM judges (:mod:`rayrlhf.rewards.judge`).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Sequence
from typing import TypeVar

from rayrlhf.config import EndpointConfig, SourceConfig
from rayrlhf.rewards.protocol import EndpointError, safe_url

RETRY_STATUS = {429, 500, 502, 503, 504}
MAX_BACKOFF_S = 8.0
T = TypeVar("T")


class EndpointCaller:
    """POSTs JSON to ``endpoint.url`` and parses the answer with the caller's function (``ValueError`` = a bad
    answer, not retried). ``who`` names the caller in errors, e.g. ``source 'judge'``."""

    def __init__(self, endpoint: EndpointConfig, who: str) -> None:
        self.endpoint, self.who = endpoint, who
        self.shown = safe_url(endpoint.url)
        self.stats = {"calls": 0, "retries": 0}

    def fail(self, problem: str) -> EndpointError:
        return EndpointError(f"{self.who} ({self.shown}): {problem}")

    def headers(self) -> dict[str, str]:
        env = self.endpoint.token_env
        if env is None:
            return {"Content-Type": "application/json"}
        token = os.environ.get(env, "")
        if not token:
            raise self.fail(f"${env} (endpoint.token_env) is not set in the environment of the process that scores; "
                            "export it where the run starts (on a cluster: on every node)")
        return {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

    def run_all(self, payloads: Sequence[object], parse: Callable[[int, bytes], T],
                done: Callable[[int, T], None] = lambda i, v: None) -> list[T]:
        """POST every payload (``max_concurrency`` at a time) and return the answers in order, each parsed by
        ``parse(i, body)``; ``done(i, answer)`` is called as each arrives, so a caller can keep what came back
        before a later call fails."""
        return asyncio.run(self._all(payloads, parse, done))

    async def _all(self, payloads, parse, done) -> list:
        import httpx

        headers = self.headers()
        gate = asyncio.Semaphore(self.endpoint.max_concurrency)
        async with httpx.AsyncClient(timeout=httpx.Timeout(self.endpoint.timeout_s), verify=True,
                                     follow_redirects=False, trust_env=False) as client:

            async def one(i: int, payload) -> object:
                async with gate:
                    answer = await self.post(client, headers, payload, lambda body: parse(i, body))
                done(i, answer)
                return answer

            return list(await asyncio.gather(*(one(i, p) for i, p in enumerate(payloads))))

    async def post(self, client, headers: dict, payload, parse: Callable[[bytes], T]) -> T:
        """One call with the retry rules; ``payload`` is JSON-able or already bytes."""
        import httpx

        body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode("utf-8")
        problem = ""
        for attempt in range(self.endpoint.retries + 1):
            if attempt:
                self.stats["retries"] += 1
                await asyncio.sleep(min(2.0 ** (attempt - 1), MAX_BACKOFF_S))
            self.stats["calls"] += 1
            try:
                status, answer = await self._call(client, headers, body)
            except httpx.TimeoutException:
                problem = f"did not answer within {self.endpoint.timeout_s:g}s (endpoint.timeout_s)"
                continue
            except httpx.TransportError as exc:
                problem = f"could not be reached ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
                continue
            if status in RETRY_STATUS:
                problem = f"answered HTTP {status}"
                continue
            if status in (401, 403):
                raise self.fail(f"refused the token (HTTP {status}); check ${self.endpoint.token_env or '(no token_env set)'}")
            if status != 200:
                raise self.fail(f"answered HTTP {status} (first bytes: {answer[:80]!r})")
            try:
                return parse(answer)
            except ValueError as exc:
                raise self.fail(str(exc)) from None
        raise self.fail(f"{problem}, after {self.endpoint.retries} retries (endpoint.retries)")

    async def _call(self, client, headers: dict, body: bytes) -> tuple[int, bytes]:
        """POST once; read at most ``max_response_bytes`` of the answer."""
        limit = self.endpoint.max_response_bytes
        async with client.stream("POST", self.endpoint.url, content=body, headers=headers) as answer:
            declared = answer.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise self.fail(f"answered a {int(declared)}-byte body, more than endpoint.max_response_bytes={limit}")
            chunks, size = [], 0
            async for chunk in answer.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise self.fail(f"answered more than endpoint.max_response_bytes={limit} bytes")
                chunks.append(chunk)
            return answer.status_code, b"".join(chunks)


def json_object(body: bytes) -> dict:
    """An answer body as a JSON object, or ValueError saying what it was."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(f"answered a body that is not JSON (first bytes: {body[:60]!r})") from None
    if not isinstance(data, dict):
        raise ValueError(f"answered JSON that is not an object (first bytes: {body[:60]!r})")
    return data


def served_model(cfg: SourceConfig) -> str:
    """The ``model`` a judge or completions endpoint is asked for: endpoint.model, else the source's model."""
    assert cfg.endpoint is not None
    name = cfg.endpoint.model or cfg.model
    if not name:
        raise ValueError(f"source '{cfg.name}': set endpoint.model (the model name the server serves)")
    return name
