"""``rayrlhf rewards serve``: any configured source over the reward service's protocol (docs/rewards_service.md).

A small FastAPI app under uvicorn, not a Ray Serve app: the server must start in seconds beside runs that start
their own local Ray (two local Ray instances on one machine confuse Ray Train's helpers), load each model once in
one process, and need no cluster; the protocol is plain HTTP, so a Ray Serve deployment (or any scorer) that speaks
it serves a cluster's runs the same way. Bound to 127.0.0.1 with a bearer token by default; the token is compared
in constant time, and a refused call scores nothing.

Routes: ``POST /v1/score/{source}`` (the protocol), ``GET /v1/sources`` (names and kinds), ``GET /v1/stats``
(items scored per source; both need the token), ``GET /healthz`` (no token: for load balancers).
"""


# no `from __future__ import annotations`: FastAPI reads the routes' annotations (Request) at runtime
import hmac
import json
import secrets
import threading
from collections.abc import Callable, Sequence

from rayrlhf.rewards.protocol import parse_items

SCORE_REQUEST = {  # the protocol's request body (rayrlhf/rewards/protocol.py), for the OpenAPI schema
    "type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {
        "type": "object", "required": ["prompt", "response"],
        "properties": {"prompt": {"type": "string"}, "response": {"type": "string"},
                       "reference": {"type": ["string", "null"]}}}}}}
SCORE_ANSWER = {"type": "object", "required": ["scores"], "properties": {"scores": {"type": "array", "items": {"type": "number"}}}}
Scorer = Callable[[list[str], list[str], list[str] | None], list[float]]
MAX_BODY_BYTES = 16 << 20


class ServedSource:
    """One source behind a lock (models are not thread-safe; FastAPI runs sync routes in a thread pool)."""

    def __init__(self, kind: str, score: Scorer) -> None:
        self.kind, self.score, self.lock, self.items = kind, score, threading.Lock(), 0

    def __call__(self, prompts: list[str], responses: list[str], references: list[str] | None) -> list[float]:
        with self.lock:
            out = self.score(prompts, responses, references)
            self.items += len(out)
        return out


def reward_app(sources: dict[str, ServedSource], token: str | None):
    """The FastAPI app serving ``sources``; every route but /healthz needs ``Authorization: Bearer <token>``."""
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import JSONResponse

    from rayrlhf.core.api_docs import errors
    from rayrlhf.core.asgi_guard import GuardMiddleware

    app = FastAPI(title="rayrlhf rewards", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(GuardMiddleware, max_body_bytes=MAX_BODY_BYTES)  # a body's size is refused before it is read

    def check_token(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    @app.get("/healthz")
    def healthz() -> dict:
        return {"ok": True}

    @app.get("/v1/sources", responses=errors(401))
    def list_sources(request: Request) -> dict:
        check_token(request)
        return {"sources": [{"name": n, "kind": s.kind} for n, s in sources.items()]}

    @app.get("/v1/stats", responses=errors(401))
    def stats(request: Request) -> dict:
        check_token(request)
        return {"scored": {n: s.items for n, s in sources.items()}}

    @app.post("/v1/score/{name}", responses={200: {"description": "one finite score per item, in order", "content": {
                  "application/json": {"schema": SCORE_ANSWER}}}, **errors(401, 404, 411, 413, 422)},
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": SCORE_REQUEST}}}})
    async def score(name: str, request: Request):
        check_token(request)  # before the body is read: a refused call costs nothing
        if name not in sources:
            raise HTTPException(404, f"no source {name!r} here; served: {sorted(sources)}")
        try:
            items = parse_items(json.loads(await request.body()))
        except (ValueError, UnicodeDecodeError) as exc:
            raise HTTPException(422, str(exc)) from None
        from starlette.concurrency import run_in_threadpool

        refs = [i.reference for i in items]
        scores = await run_in_threadpool(sources[name], [i.prompt for i in items], [i.response for i in items],
                                         None if all(r is None for r in refs) else [r or "" for r in refs])
        return JSONResponse({"scores": [float(s) for s in scores]})

    return app


def build_served(cfg, names: Sequence[str] | None) -> dict[str, ServedSource]:
    """The config's sources (and the simulated oracle's reward, as ``oracle``) named in ``names`` (all if none)."""
    from rayrlhf.config import ConfigError
    from rayrlhf.rewards import build_source
    from rayrlhf.task.build import resolve_model

    available = {s.name: s for s in cfg.sources}
    available.setdefault("oracle", cfg.oracle.reward)
    wanted = list(names) if names else list(available)
    unknown = [n for n in wanted if n not in available]
    if unknown:
        raise ConfigError(f"--source {', '.join(unknown)}: not in the config; it has {sorted(available)}")
    http = [n for n in wanted if available[n].kind == "http"]
    if http:
        raise ConfigError(f"--source {', '.join(http)}: already served elsewhere (kind http); serve its own config")
    out = {}
    for n in wanted:
        source = build_source(available[n], lambda m: resolve_model(m, cfg.task))
        out[n] = ServedSource(available[n].kind, source.score)
    return out


def serve_token(env: str, environ) -> tuple[str, bool]:
    """The token from ``$env``, or a new random one (``True``: made here, to be shown once)."""
    given = environ.get(env, "")
    return (given, False) if given else (secrets.token_urlsafe(24), True)


def run_server(cfg, names: Sequence[str] | None, host: str, port: int, token_env: str, log) -> int:
    """Load the sources once, then serve until interrupted (uvicorn)."""
    import os

    import uvicorn

    from rayrlhf.config.checks import is_loopback

    token, made = serve_token(token_env, os.environ)
    sources = build_served(cfg, names)
    base = f"http://{host}:{port}/v1/score"
    log(f"[rewards serve] {', '.join(sources)} at {base}/<name>")
    if made:
        log(f"[rewards serve] ${token_env} is not set; this server's token (shown once): {token}\n"
            f"[rewards serve] export {token_env}=<that token> where the runs start, and set endpoint.token_env: {token_env}")
    else:
        log(f"[rewards serve] token from ${token_env}")
    if not is_loopback(host):
        log(f"[rewards serve] bound to {host}: reachable from other machines; plain http sends the token "
            "unencrypted, so put a TLS proxy in front (clients refuse plain http to other hosts unless allow_http)")
    uvicorn.run(reward_app(sources, token), host=host, port=port, log_level="warning", access_log=False)
    return 0
