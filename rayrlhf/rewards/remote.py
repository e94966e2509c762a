"""``kind: http``: a source (or the oracle) scored by a server (docs/rewards_service.md; the wire format is
:mod:`rayrlhf.rewards.protocol`).

Batches of ``batch_size`` items go out ``max_concurrency`` at a time (httpx's async client, TLS verified, no
redirects followed). A call that cannot connect, times out or gets a 5xx/429 answer is retried ``retries`` times
with exponential backoff; a refused token, any other status, an answer that is not ``{"scores": [...]}`` with one
finite number per item, or a body over ``max_response_bytes`` is not retried: the call raises
:class:`~rayrlhf.rewards.protocol.EndpointError`, one line naming the source, the URL (no credentials or query)
and what was wrong, and the run stops there (``--resume`` continues; docs/faults.md). Scores are cached per
(prompt, response, reference) in memory and, when the run gives a file, on disk, so a retry or a resume does not
pay the endpoint twice. The token is read from the environment variable ``token_env`` when a call is made and
goes nowhere but the Authorization header.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from rayrlhf.config import SourceConfig
from rayrlhf.core.durable import append_jsonl, read_jsonl
from rayrlhf.rewards.base import SourceReward
from rayrlhf.rewards.protocol import EndpointError, ScoreItem, parse_scores, request_body, safe_url

RETRY_STATUS = {429, 500, 502, 503, 504}
MAX_BACKOFF_S = 8.0


class ScoreCache:
    """Scores by item key; appended to ``path`` (JSONL of ``{"key", "score"}``, no text) when one is given."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.scores = {row["key"]: float(row["score"]) for row in read_jsonl(path)} if path and path.exists() else {}

    def __contains__(self, key: str) -> bool:
        return key in self.scores

    def __getitem__(self, key: str) -> float:
        return self.scores[key]

    def add(self, items: list[ScoreItem], scores: list[float]) -> None:
        rows = [{"key": it.key(), "score": s} for it, s in zip(items, scores, strict=True)]
        self.scores.update((r["key"], r["score"]) for r in rows)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            append_jsonl(self.path, rows)


class HttpReward(SourceReward):
    """Scores from ``cfg.endpoint``; see the module docstring for the rules."""

    def __init__(self, cfg: SourceConfig, cache_path: Path | None = None) -> None:
        super().__init__(cfg)
        assert cfg.endpoint is not None
        self.endpoint = cfg.endpoint
        self.shown = safe_url(cfg.endpoint.url)
        self.cache = ScoreCache(cache_path)
        self.stats.update(calls=0, retries=0, cached=0)

    def _fail(self, problem: str) -> EndpointError:
        return EndpointError(f"source '{self.name}' ({self.shown}): {problem}")

    def _headers(self) -> dict[str, str]:
        env = self.endpoint.token_env
        if env is None:
            return {"Content-Type": "application/json"}
        token = os.environ.get(env, "")
        if not token:
            raise self._fail(f"${env} (endpoint.token_env) is not set in the environment of the process that scores; "
                             "export it where the run starts (on a cluster: on every node)")
        return {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

    def _score(self, prompts: list[str], responses: list[str], references: list[str] | None) -> list[float]:
        items = [ScoreItem(p, r, None if references is None else references[i])
                 for i, (p, r) in enumerate(zip(prompts, responses, strict=True))]
        keys = [it.key() for it in items]
        todo = list({k: it for k, it in zip(keys, items, strict=True) if k not in self.cache}.values())
        self.stats["cached"] += len(items) - len(todo)
        if todo:
            size = self.cfg.batch_size
            asyncio.run(self._post_all([todo[i:i + size] for i in range(0, len(todo), size)]))
        return [self.cache[k] for k in keys]

    async def _post_all(self, batches: list[list[ScoreItem]]) -> None:
        import httpx

        headers = self._headers()
        gate = asyncio.Semaphore(self.endpoint.max_concurrency)
        async with httpx.AsyncClient(timeout=httpx.Timeout(self.endpoint.timeout_s), verify=True,
                                     follow_redirects=False, trust_env=False) as client:

            async def one(batch: list[ScoreItem]) -> None:
                async with gate:
                    scores = await self._post(client, headers, batch)
                self.cache.add(batch, scores)  # each batch as it comes back: a later failure keeps it

            await asyncio.gather(*(one(b) for b in batches))

    async def _post(self, client, headers: dict, batch: list[ScoreItem]) -> list[float]:
        import httpx

        body, problem = request_body(batch), ""
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
                raise self._fail(f"refused the token (HTTP {status}); check ${self.endpoint.token_env or '(no token_env set)'}")
            if status != 200:
                raise self._fail(f"answered HTTP {status} (first bytes: {answer[:80]!r})")
            try:
                return parse_scores(answer, len(batch))
            except ValueError as exc:
                raise self._fail(str(exc)) from None
        raise self._fail(f"{problem}, after {self.endpoint.retries} retries (endpoint.retries)")

    async def _call(self, client, headers: dict, body: bytes) -> tuple[int, bytes]:
        """POST once; read at most ``max_response_bytes`` of the answer."""
        limit = self.endpoint.max_response_bytes
        async with client.stream("POST", self.endpoint.url, content=body, headers=headers) as answer:
            declared = answer.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise self._fail(f"answered a {int(declared)}-byte body, more than endpoint.max_response_bytes={limit}")
            chunks, size = [], 0
            async for chunk in answer.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise self._fail(f"answered more than endpoint.max_response_bytes={limit} bytes")
                chunks.append(chunk)
            return answer.status_code, b"".join(chunks)
