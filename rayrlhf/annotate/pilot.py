"""``rayrlhf annotate pilot``: a few hundred representative prompts, K policy responses each, queued for people.

The rankings people give become a pairs file (``rayrlhf annotate pairs``) for ``rayrlhf rewards evaluate
--pairs``, which shows which sources agree with people before any training (docs/annotate.md). Sampling
uses the ``hf`` rollout backend (transformers ``generate``; no Ray, no vLLM).
"""

from __future__ import annotations

from pathlib import Path

from rayrlhf.annotate.store import QueueSettings, QueueStore
from rayrlhf.config import Config
from rayrlhf.core.records import Query


def pilot_queries(cfg: Config, num_prompts: int, k: int, log=print) -> list[Query]:
    from rayrlhf.data.prompts import load_prompts
    from rayrlhf.rollout.hf_sampler import HFSampler
    from rayrlhf.task.build import resolve_model

    ds, report = load_prompts(cfg, cfg.data.split)
    ds = ds.shuffle(seed=cfg.run.seed).select(range(min(num_prompts, len(ds))))
    prompts = list(ds["prompt"])
    refs = list(ds["reference"]) if "reference" in ds.column_names else [None] * len(prompts)
    log(f"pilot: sampling {k} responses for each of {len(prompts)} prompts from {cfg.policy.model}")
    sampler = HFSampler(resolve_model(cfg.policy.model, cfg.task), cfg.policy.trust_remote_code)
    samples = sampler.sample(prompts, n=k, max_new_tokens=cfg.rollout.max_new_tokens, temperature=cfg.rollout.temperature,
                             top_p=cfg.rollout.top_p, seed=cfg.run.seed)
    return [Query(p, tuple(s.text for s in row), ref) for p, row, ref in zip(prompts, samples, refs, strict=True)]


def make_pilot(cfg: Config, out_dir: str | Path, num_prompts: int, k: int, log=print) -> dict:
    queries = pilot_queries(cfg, num_prompts, k, log)
    store = QueueStore.for_run(out_dir)
    o = cfg.oracle
    store.configure(QueueSettings(o.timeout, o.on_timeout, o.overlap, o.web.undo_window))
    new = store.post(queries, origin="pilot")
    return {"dir": str(Path(out_dir)), "queries": len(queries), "new": new, "responses_per_prompt": k, "overlap": o.overlap}
