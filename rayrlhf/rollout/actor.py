"""The rollout actor: a vLLM engine (or transformers ``generate``) that samples K (+N) responses per prompt and
takes new weights in place after each learner update (docs/architecture.md).

Ray touch points: ``ray.remote`` options in :func:`rollout_actor` (resources, restarts, retries).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import ray

from rayrlhf.config import Config
from rayrlhf.core.durable import write_text_atomic
from rayrlhf.core.logs import QUIET


def current_weights(model_dir: str, weights_file: str | None) -> str:
    """The checkpoint named in ``weights_file`` (the policy's latest weights), else ``model_dir``."""
    if weights_file and Path(weights_file).is_file():
        return Path(weights_file).read_text().strip()
    return model_dir


def point_weights(weights_file: str, model_dir: str) -> None:
    """Name ``model_dir`` as the rollout engines' weights, atomically (read by a restarting engine)."""
    Path(weights_file).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(Path(weights_file), model_dir)


class RolloutWorker:
    """Generates K (+N) responses per prompt; takes new weights in place after each learner update.

    ``weights_file`` names the latest weights: Ray restarts a lost rollout actor (its process or node died) by
    running this constructor again, and the engine then starts from the current policy, not the initial one."""

    def __init__(self, model_dir: str, cfg: Config, weights_file: str | None = None) -> None:
        self.backend = cfg.rollout.backend
        self.cfg = cfg.rollout
        model_dir = self.model_dir = current_weights(model_dir, weights_file)
        self.policy = cfg.policy
        if self.backend == "vllm":
            from rayrlhf.rollout.vllm_engine import VllmGenerator

            self.engine = VllmGenerator(model_dir, cfg.rollout, seed=cfg.run.seed, policy=cfg.policy)
        else:
            self.engine = self._hf_sampler(model_dir)

    def _hf_sampler(self, model_dir: str):
        import torch

        from rayrlhf.core.devices import resolve_dtype
        from rayrlhf.rollout.hf_sampler import HFSampler

        device = "cuda" if self.cfg.num_gpus > 0 and torch.cuda.is_available() else "cpu"
        return HFSampler(model_dir, trust_remote_code=self.policy.trust_remote_code, device=device,
                         dtype=resolve_dtype(self.cfg.dtype, device == "cuda"), tokenizer=self.policy.tokenizer)

    def generate(self, prompts: list[str], n: int | list[int], temperature: float | None = None, seed: int = 0,
                 max_new_tokens: int | None = None) -> list[list[dict]]:
        """``n`` samples for each prompt (or ``n[i]`` for prompt ``i``), as ``{"text", "token_ids", "logprob"}``, of at
        most ``max_new_tokens`` tokens (default ``rollout.max_new_tokens``). A vLLM engine takes every prompt in one call
        and follows its own seeded stream; the ``hf`` backend samples each distinct count in turn, seeded ``seed``,
        ``seed + 1``, ..."""
        temp = self.cfg.temperature if temperature is None else temperature
        if self.backend == "vllm":
            rows = self.engine.generate(prompts, n=n, temperature=temp, max_tokens=max_new_tokens)
        else:
            counts = [n] * len(prompts) if isinstance(n, int) else list(n)
            rows = [None] * len(prompts)
            for j, count in enumerate(dict.fromkeys(counts)):
                idx = [i for i, c in enumerate(counts) if c == count]
                sampled = self.engine.sample([prompts[i] for i in idx], n=count, temperature=temp, top_p=self.cfg.top_p,
                                             max_new_tokens=max_new_tokens or self.cfg.max_new_tokens, seed=seed + j)
                for i, row in zip(idx, sampled, strict=True):
                    rows[i] = row
        return [[asdict(s) for s in row] for row in rows]

    def load_weights(self, model_dir: str) -> float:
        """Update the weights in place from an HF checkpoint; returns the seconds it took."""
        t0 = time.perf_counter()
        if self.backend == "vllm":
            self.engine.load_weights(model_dir)
        else:
            self.engine = self._hf_sampler(model_dir)
        self.model_dir = model_dir
        return time.perf_counter() - t0

    def weights(self) -> str:
        """The checkpoint the engine's weights came from."""
        return self.model_dir

    def node_id(self) -> str:
        return ray.get_runtime_context().get_node_id()


def rollout_actor(model_dir: str, cfg: Config, scheduling="DEFAULT", weights_file: str | None = None):
    """Restarted by Ray (at most ``run.max_restarts`` times) if its process or node dies, from the weights
    ``weights_file`` names; a call in flight is retried on the new engine (generation and weight loads are safe
    to repeat). A CPU engine runs inside the actor's process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``): two fewer
    processes importing torch and vLLM at start-up, and none left behind if the actor dies (benchmarks/README.md,
    start-up)."""
    env = {"VLLM_CPU_KVCACHE_SPACE": str(max(1, round(cfg.rollout.kv_cache_gib))), **QUIET}
    if cfg.rollout.num_gpus == 0:
        env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    return ray.remote(RolloutWorker).options(
        num_cpus=cfg.rollout.num_cpus, num_gpus=cfg.rollout.num_gpus, resources=cfg.rollout.resources,
        max_restarts=cfg.run.max_restarts, max_task_retries=-1, scheduling_strategy=scheduling,
        runtime_env={"env_vars": env},
    ).remote(model_dir, cfg, weights_file)
