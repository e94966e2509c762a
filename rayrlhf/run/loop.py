"""``rayrlhf train``: the iteration loop of empirical TPO (docs/method.md), read top to bottom in
:meth:`Pipeline.iteration`.

Per iteration: the iteration's prompts -> its rounds (rayrlhf/run/rounds.py: arms, K responses and Best-of-N, who
labels each prompt, people's answers through the coordinator, the label model's for the rest) -> preference pairs ->
the learner trains on them -> the rollout engines take the new weights in place -> evaluation vs the initial policy
-> the metrics row and the checkpoint (rayrlhf/run/writer.py).
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np

from rayrlhf.config import Config
from rayrlhf.core.faults import BudgetSpent, check_stop
from rayrlhf.core.logs import logger
from rayrlhf.core.run_dir import ResumeState, RunDir
from rayrlhf.core.seeds import derived_seed
from rayrlhf.run.actor_group import Workers
from rayrlhf.run.coordinator_client import CoordinatorClient
from rayrlhf.run.evaluation import HeldOutEval
from rayrlhf.run.labelling import Labelling
from rayrlhf.run.rounds import Rounds
from rayrlhf.run.writer import IterationParts, RunWriter, train_figures


def prompt_schedule(num_rows: int, seed: int, cursor: int, count: int) -> list[int]:
    """Row indices of the ``count`` prompts after ``cursor``: this seed's permutation of the training rows (so
    intervals over seeds include the prompt sample), wrapping around after a pass."""
    order = np.random.default_rng(derived_seed(seed, "prompts")).permutation(num_rows)
    return [int(order[(cursor + i) % num_rows]) for i in range(count)]


class Pipeline:
    """One run: its workers (or a compare's shared ones), its coordinator, its labelling and its rounds; resumed
    from the run directory's latest checkpoint with ``resume``."""

    def __init__(self, cfg: Config, run: RunDir, resume: bool, workers: Workers | None = None,
                 eval_init: dict | None = None) -> None:
        from rayrlhf.data.prompts import load_splits
        from rayrlhf.task.build import record_world, resolve_model

        self.cfg, self.run = cfg, run
        self.train_rows, self.eval_rows = load_splits(cfg, log=logger.info)
        record_world(cfg, run.root)
        init_dir = resolve_model(cfg.policy.model, cfg.task)
        latest = run.latest() if resume else None
        self.state = latest[1] if latest else ResumeState()
        self.own_workers = workers is None
        self.workers = workers or Workers(cfg, str(latest[0]) if latest else init_dir, init_dir, run.root / "ray_train",
                                          str(latest[0] / "optimizer.pt") if latest else None)
        self.startup_s = self.workers.startup_s if self.own_workers else 0.0
        self._startup_logged = False  # start-up time goes into the first row this process writes
        self.coordinator = CoordinatorClient(cfg, str(run.root), self.workers.oracle)
        if latest:
            self.coordinator.call("load_state", self.state.coordinator)
        if url := self.coordinator.call("backend_url"):
            logger.info(f"[annotate] answer queries at {url}/?token=TOKEN (tokens: `rayrlhf annotate token {run.root} "
                        "--annotator NAME`)")
        if eval_init is not None and not (run.root / "eval" / "iter_0.json").is_file():
            (run.root / "eval").mkdir(exist_ok=True)
            run.write_json_atomic(run.root / "eval" / "iter_0.json", eval_init)
        self.held_out = HeldOutEval(cfg, run, self.workers, self.eval_rows, self.state.iteration)
        self.labelling = Labelling(cfg, run.root, self.workers, self.state.label_examples)
        self.rounds = Rounds(cfg, run, self.workers, self.coordinator, self.labelling)
        self.writer = RunWriter(run, cfg.optim.replay, cfg.run.keep_checkpoints)

    @property
    def eval_init(self) -> dict:
        """The initial policy's held-out samples (``RUN_DIR/eval/iter_0.json``)."""
        return self.held_out.init

    def samples_table(self, iteration: int, count: int = 8) -> list[dict]:
        return self.held_out.table(iteration, count)

    def _next_prompts(self) -> list[dict]:
        m, start = self.cfg.train.prompts_per_iteration, self.state.cursor
        self.state.cursor = start + m
        return [self.train_rows[i] for i in prompt_schedule(len(self.train_rows), self.cfg.run.seed, start, m)]

    def iteration(self, iteration: int) -> dict:
        """One iteration, ending with its checkpoint as the resume point; returns its metrics row. Raises
        :class:`BudgetSpent` after it when ``oracle.budget`` ran out during it (or before training, if too few pairs
        were labelled)."""
        cfg, timing, t_iter = self.cfg, defaultdict(float), time.perf_counter()
        over_budget = self.coordinator.call("metrics")["annotation/over_budget"]
        calls, tokens = self.workers.engine_calls["generate"], self.workers.generated_tokens["generate"]

        # 1. rounds: arms, responses, Best-of-N, who labels, answers -> preference pairs
        pairs = self.rounds.collect(iteration, self._next_prompts(), timing)
        counts = {**self.rounds.counts, "rollout/engine_calls": self.workers.engine_calls["generate"] - calls,
                  "rollout/generated_tokens": self.workers.generated_tokens["generate"] - tokens}
        coordinator = self.coordinator.call("metrics")
        spent = coordinator["annotation/over_budget"] > over_budget
        if spent and len(pairs) < cfg.train.num_workers:
            raise BudgetSpent(f"oracle.budget={cfg.oracle.budget} labels ran out during iteration {iteration}, "
                              f"leaving {len(pairs)} labelled pairs: too few to train it")
        check_stop(f"iteration {iteration}, before training")

        # 2. the learner trains on them (and on earlier iterations' pairs with optim.replay)
        self.run.set_status("train", iteration)
        t = time.perf_counter()
        ckpt = self.run.checkpoint(iteration)
        replayed = self.writer.replayed_pairs(iteration, pairs)
        result = self.workers.learner.train(pairs + replayed, ckpt, derived_seed(cfg.run.seed, "train", iteration), cfg.optim)
        self.last_steps = result.per_step  # per-optimizer-step metrics, for the trackers
        timing["train_s"] = time.perf_counter() - t

        # 3. the rollout engines take the new weights in place
        self.run.set_status("weight_sync", iteration)
        timing["weight_sync_s"] = self.workers.load_weights(str(ckpt))

        # 4. held-out evaluation (eval.every; always at the last iteration and when the budget is spent)
        evaluation = {}
        if spent or iteration % cfg.eval.every == 0 or iteration == cfg.train.iterations:
            self.run.set_status("eval", iteration)
            t = time.perf_counter()
            evaluation = self.held_out.evaluate(iteration)
            timing["eval_s"] = time.perf_counter() - t
        timing["iteration_s"] = time.perf_counter() - t_iter
        timing["startup_s"] = 0.0 if self._startup_logged else self.startup_s
        self._startup_logged = True

        # 5. the metrics row, then the checkpoint's resume point
        parts = IterationParts(iteration, coordinator, counts, train_figures(result.summary(), len(pairs), len(replayed),
                                                                                result.pairs),
                               evaluation, dict(timing), self.labelling.iteration_metrics())
        row = self.writer.commit(parts, self.state)
        self.state.coordinator = self.coordinator.call("state")
        self.state.label_examples = self.labelling.state()
        self.writer.mark_complete(iteration, self.state)
        if spent:
            raise BudgetSpent(f"oracle.budget={cfg.oracle.budget} labels ran out during iteration {iteration}, "
                              f"which trained on the {len(pairs)} pairs it had")
        return row

    def close(self) -> None:
        self.coordinator.close()
        if self.own_workers:
            self.workers.close()
