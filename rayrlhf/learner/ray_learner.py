"""The learner: a Ray Train ``TorchTrainer`` (DDP; gloo on CPU, NCCL on GPU) whose workers stay alive across
iterations.

Starting a ``TorchTrainer.fit()`` per iteration costs ~30 s of worker start-up, process-group init and
model loading on a laptop (more than the rest of a quickstart iteration), so one ``fit()`` runs for the
whole job in a background thread and each worker takes per-iteration jobs from its own queue. Each job
carries that worker's Ray Data shard of the iteration's preference pairs; rank 0 writes the HF checkpoint
(+ optimizer state) and answers on the result queue.

Ray touch points: ``TorchTrainer``/``ScalingConfig`` (here), ``ray.train.torch.prepare_model``,
``ray.util.queue.Queue`` and ``ray.data.from_items(...).split`` (below).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import ray
from ray.util.queue import Empty, Queue

from rayrlhf.config import Config, OptimConfig
from rayrlhf.core.records import PreferencePair
from rayrlhf.learner.messages import Ready, ResetDone, ResetJob, TrainJob, TrainResult
from rayrlhf.learner.step import pad_to_workers


def _train_loop(loop_config: dict) -> None:
    """Runs on every Ray Train worker until it receives ``None``."""
    import ray.train
    import ray.train.torch
    import torch

    from rayrlhf.config import Config, OptimConfig
    from rayrlhf.core.records import PreferencePair
    from rayrlhf.learner.messages import Ready, ResetDone, ResetJob, TrainResult
    from rayrlhf.learner.policy import TrainablePolicy
    from rayrlhf.learner.step import make_optimizer, train_epochs
    from rayrlhf.rollout.weights import write_rollout_copy

    ctx = ray.train.get_context()
    rank = ctx.get_world_rank()
    jobs: Queue = loop_config["job_queues"][rank]
    results: Queue = loop_config["results"]
    cfg = Config.model_validate(loop_config["config"])
    torch.manual_seed(loop_config["seed"])

    def start(model_dir: str, init_dir: str):
        """Load the models (a worker that cannot, fails now: the driver waits for "ready" before generating)."""
        return TrainablePolicy(cfg, model_dir, init_dir, ray.train.torch.get_device(),
                               prepare=lambda m: ray.train.torch.prepare_model(m, parallel_strategy=cfg.train.strategy))

    policy, optimizer = start(loop_config["model_dir"], loop_config["init_dir"]), None
    saved_state = loop_config["optimizer_state"]  # an AdamW state that lives on across iterations (resume)
    results.put(Ready(rank))
    while True:
        job = jobs.get()
        if job is None:
            return
        if isinstance(job, ResetJob):  # another run on the same workers (rayrlhf compare): its weights and optimizer
            policy, optimizer = start(job.model_dir, job.init_dir or job.model_dir), None
            saved_state = job.optimizer_state
            if rank == 0:
                results.put(ResetDone(job.model_dir))
            continue
        t0 = time.perf_counter()
        optim = OptimConfig.model_validate(job.optim)  # this run's recipe (optim.reference, disable_dropout: at load)
        model, reference = policy.begin_iteration(job.start_dir)
        if optimizer is None or optim.reset_optimizer or cfg.policy.lora is not None:  # the paper: fresh each iteration
            optimizer = make_optimizer(model, optim)
            if saved_state and not optim.reset_optimizer and Path(saved_state).is_file():
                optimizer.load_state_dict(torch.load(saved_state, weights_only=True))
            saved_state = None
        shard = [PreferencePair.from_json(row) for row in job.shard.iter_rows()]
        stats = train_epochs(model, reference, policy.tokenizer, optimizer, shard, optim, seed=job.seed + rank,
                             num_workers=ctx.get_world_size())
        per_step = stats.pop("per_step")
        # average the diagnostics over workers (tokens/s: summed, every worker reads its own tokens)
        stats["pairs_trained"] = float(sum(1 for p in shard if p.weight > 0))  # what this worker saw, summed below
        keys = sorted(k for k in stats if k != "steps")
        vec = torch.tensor([stats[k] for k in keys], dtype=torch.float64)
        if torch.distributed.is_initialized():
            torch.distributed.all_reduce(vec)
            vec /= torch.distributed.get_world_size()
        means = dict(zip(keys, vec.tolist(), strict=True))
        means["tokens_per_s"] *= ctx.get_world_size()
        trained = round(means.pop("pairs_trained") * ctx.get_world_size())  # every paid pair at least once (every epoch without optim.max_steps)
        policy.end_iteration()
        state = policy.state_dict()  # every rank takes part when the weights are sharded
        if rank == 0:
            out = Path(job.out_dir)
            policy.save(out, state)
            write_rollout_copy(out, cfg)
            if not optim.reset_optimizer and cfg.policy.lora is None:  # the AdamW state lives on: resume needs it
                torch.save(optimizer.state_dict(), out / "optimizer.pt")
            results.put(TrainResult(means, stats["steps"], trained, time.perf_counter() - t0, per_step))


class Learner:
    """Driver-side handle: ``train(pairs, out_dir) -> metrics`` per iteration; ``close()`` at the end."""

    def __init__(self, cfg: Config, model_dir: str, init_dir: str, storage: Path, optimizer_state: str | None = None):
        from ray.train import RunConfig, ScalingConfig
        from ray.train.torch import TorchTrainer

        t0 = time.perf_counter()
        n = cfg.train.num_workers
        self.num_workers = n
        from rayrlhf.core.placement import on_driver_node

        here = {"num_cpus": 0, "scheduling_strategy": on_driver_node()}
        self._jobs = [Queue(actor_options=here) for _ in range(n)]
        self._results = Queue(actor_options=here)
        resources = {"CPU": cfg.train.cpus_per_worker}
        self._trainer = TorchTrainer(
            _train_loop,
            train_loop_config={
                "job_queues": self._jobs, "results": self._results, "config": cfg.model_dump(mode="json"),
                "seed": cfg.run.seed, "model_dir": model_dir, "init_dir": init_dir, "optimizer_state": optimizer_state,
            },
            scaling_config=ScalingConfig(num_workers=n, use_gpu=cfg.train.use_gpu, resources_per_worker=resources),
            run_config=RunConfig(name="learner", storage_path=str(storage.resolve())),
        )
        self.train_timeout_s = cfg.run.timeouts.train
        self.weights = model_dir  # where the next iteration starts (the FSDP reference is loaded from it)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._fit, name="rayrlhf-learner", daemon=True)
        self._thread.start()
        self.startup_s = time.perf_counter() - t0

    def _fit(self) -> None:
        try:
            self._trainer.fit()
        except BaseException as exc:  # surfaced by train()/close()
            self._error = exc

    def train(self, pairs: list[PreferencePair], out_dir: Path, seed: int, optim: OptimConfig) -> TrainResult:
        """Shard ``pairs`` with Ray Data (equal shards, as DDP needs), train with ``optim`` (the run's recipe), wait
        for the checkpoint."""
        if len(pairs) < self.num_workers:
            raise RuntimeError(f"only {len(pairs)} preference pairs for {self.num_workers} learner workers; "
                               "raise train.prompts_per_iteration or lower train.num_workers")
        shards = self._shard(pairs)
        out_dir.mkdir(parents=True, exist_ok=True)
        for q, shard in zip(self._jobs, shards, strict=True):
            q.put(TrainJob(shard, str(out_dir), seed, self.weights, optim.model_dump(mode="json")))
        result = self._wait(self.train_timeout_s, "train")
        self.weights = str(out_dir)
        return result

    def _shard(self, pairs: list[PreferencePair], timeout_s: float = 300.0) -> list:
        """Equal Ray Data shards, one per worker (DDP needs equal step counts), holding every pair: the pairs are
        padded with zero-weight copies to a multiple of the workers first (:func:`pad_to_workers`). Splitting runs
        Ray tasks, which wait for a free CPU: bounded, so a cluster with none to spare stops the run with a message
        instead of hanging."""
        from rayrlhf.core.faults import StageError

        done: list = []

        def run() -> None:
            try:
                padded = pad_to_workers(pairs, self.num_workers)  # equal shards without dropping a pair
                done.append(ray.data.from_items([p.to_json() for p in padded]).split(self.num_workers, equal=True))
            except BaseException as exc:  # raised below, in the caller's thread
                done.append(exc)

        split = threading.Thread(target=run, daemon=True)
        split.start()
        split.join(timeout_s)
        if done and isinstance(done[0], BaseException):
            raise StageError("train", "Ray Data", f"could not split the pairs: {done[0]!r}") from done[0]
        if not done:
            raise StageError("train", "Ray Data", f"could not split the pairs into {self.num_workers} shards within "
                             f"{timeout_s:g}s: its tasks need a free CPU beyond what the run's actors reserve")
        return done[0]

    def wait_ready(self, timeout_s: float) -> None:
        """Wait until every worker has loaded its models (the first thing a run checks, before any generation)."""
        for _ in range(self.num_workers):
            self._wait(timeout_s, "startup")

    def reset(self, model_dir: str, init_dir: str | None = None, optimizer_state: str | None = None) -> None:
        """Start a run on the same workers (:class:`~rayrlhf.learner.messages.ResetJob`): weights from
        ``model_dir``; a resumed run also gives the initial policy and its checkpoint's optimizer state."""
        for q in self._jobs:
            q.put(ResetJob(model_dir, init_dir, optimizer_state))
        self._wait(self.train_timeout_s, "train")
        self.weights = model_dir

    def _wait(self, timeout_s: float, stage: str) -> Ready | ResetDone | TrainResult:
        from rayrlhf.core.faults import StageError, describe_learner_failure

        deadline = time.monotonic() + timeout_s
        while True:
            if self._error is not None or not self._thread.is_alive():
                raise StageError(stage, "the Ray Train learner", f"stopped: {describe_learner_failure(self._error)}") from self._error
            if time.monotonic() > deadline:
                raise StageError(stage, "the Ray Train learner", f"did not answer within {timeout_s:g}s (run.timeouts.{stage})")
            try:
                return self._results.get(timeout=1.0)
            except Empty:
                continue

    def close(self) -> None:
        for q in self._jobs:
            q.put(None)
        self._thread.join(timeout=120)
