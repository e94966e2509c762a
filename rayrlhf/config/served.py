"""``run.rewards_from``: score every source and the simulated oracle with one ``rayrlhf rewards serve``
(docs/rewards_service.md), so the runs of a sweep or a compare load no reward model of their own.

A rewrite of the raw config before validation: each source that is not already ``kind: http`` becomes one that
posts to ``<rewards_from>/v1/score/<name>``, the oracle's reward to ``.../oracle``. The served source applies its
own ``weight``; the client keeps the name, ``empty_score`` (empty responses are never sent) and ``batch_size``, and
asks Ray for 0.1 CPU (an HTTP client, not a model). Idempotent: a saved config.yaml loads to the same config.
"""

from __future__ import annotations

from typing import Any

from rayrlhf.config.checks import check_endpoint_url
from rayrlhf.config.learning import _default_oracle_reward

CLIENT_CPUS = 0.1
CLIENT_KEYS = ("name", "empty_score", "batch_size")


def _endpoint(base: str, name: str, token_env: str | None, allow_http: bool) -> dict:
    return {"url": f"{base.rstrip('/')}/v1/score/{name}", "token_env": token_env, "allow_http": allow_http}


def served_sources(raw: Any) -> Any:
    """``raw`` (a config mapping) with its sources and oracle reward pointed at ``run.rewards_from``, if set."""
    if not isinstance(raw, dict) or not isinstance(raw.get("run"), dict) or not raw["run"].get("rewards_from"):
        return raw
    run = raw["run"]
    base, token_env, allow = run["rewards_from"], run.get("rewards_token_env", "RAYRLHF_REWARDS_TOKEN"), bool(run.get("rewards_allow_http", False))
    try:
        check_endpoint_url(str(base), allow)
    except ValueError:
        return raw  # RunConfig names the problem once (run.rewards_from)
    out = dict(raw)
    sources = []
    for s in raw.get("sources") or []:
        if not isinstance(s, dict) or s.get("kind") == "http" or "name" not in s:
            sources.append(s)
            continue
        client = {k: s[k] for k in CLIENT_KEYS if k in s}
        sources.append({**client, "kind": "http", "num_cpus": CLIENT_CPUS,
                        "endpoint": _endpoint(base, str(s["name"]), token_env, allow)})
    out["sources"] = sources
    oracle = dict(raw.get("oracle") or {})
    reward = oracle.get("reward") if isinstance(oracle.get("reward"), dict) else _default_oracle_reward().model_dump()
    if reward.get("kind") != "http":
        client = {k: reward[k] for k in CLIENT_KEYS if k in reward}
        oracle["reward"] = {"name": "oracle", **client, "kind": "http", "num_cpus": CLIENT_CPUS,
                            "endpoint": _endpoint(base, "oracle", token_env, allow)}
        out["oracle"] = oracle
    return out
