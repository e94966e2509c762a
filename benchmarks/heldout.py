"""One held-out evaluation for every policy a benchmark compares (rayrlhf's, the reference pipeline's, TRL's):
``eval.samples_per_prompt`` samples per held-out prompt with transformers ``generate`` (the same sampler, seed and
settings for each), scored by the run's oracle reward (the built-in task's gold reward ``r*``)."""

from __future__ import annotations

import time


def oracle_source(cfg):
    """The oracle's reward as a plain in-process source (text in, floats out)."""
    from rayrlhf.rewards import build_source
    from rayrlhf.task.build import resolve_model

    return build_source(cfg.oracle.reward, lambda m: resolve_model(m, cfg.task))


def heldout_score(cfg, model_dir: str, eval_rows: list[dict], seed: int = 0, oracle=None) -> dict:
    """Mean oracle score of ``model_dir``'s samples on ``eval_rows`` (``{"prompt", "reference"}``), the share of
    empty responses, and the seconds it took."""
    import torch

    from rayrlhf.rollout.hf_sampler import HFSampler

    t0 = time.perf_counter()
    sampler = HFSampler(model_dir, trust_remote_code=cfg.policy.trust_remote_code, dtype=torch.float32,
                        tokenizer=cfg.policy.tokenizer)
    oracle = oracle or oracle_source(cfg)
    n = cfg.eval.samples_per_prompt
    prompts = [r["prompt"] for r in eval_rows]
    rows = sampler.sample(prompts, n=n, max_new_tokens=cfg.eval.max_new_tokens or cfg.rollout.max_new_tokens,
                          temperature=cfg.eval.temperature, top_p=cfg.rollout.top_p, seed=seed)
    texts = [s.text for row in rows for s in row]
    refs = [r.get("reference") for r in eval_rows for _ in range(n)]
    scores = oracle.score([p for p in prompts for _ in range(n)], texts, None if None in refs else refs)
    return {"oracle_score": sum(scores) / len(scores), "empty_rate": sum(not t.strip() for t in texts) / len(texts),
            "samples": len(texts), "seconds": time.perf_counter() - t0}
