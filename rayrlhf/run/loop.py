"""``rayrlhf train``: the iteration loop of empirical TPO (docs/method.md) and nothing else.

Per iteration: prompts in rounds -> coordinator assigns arms -> rollout generates K responses (and N more
for source arms) -> each source arm's reward actor scores its N, Best-of-N fills Rp slots -> the oracle
ranks the K (ledgered) and the coordinator records wins -> the learner trains on (chosen, rejected) pairs
-> the rollout engine takes the new weights in place -> evaluation vs the initial policy -> checkpoint.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from dataclasses import dataclass

import numpy as np
import ray

from rayrlhf.algorithms.routing import human_quota
from rayrlhf.algorithms.selection import all_identical, disagreement, label_quota, select_queries
from rayrlhf.config import Config
from rayrlhf.core.faults import BudgetSpent, check_stop, wait
from rayrlhf.core.logs import logger
from rayrlhf.core.metrics import MetricsRow
from rayrlhf.core.records import Answer, PreferencePair, RoundItem, ScoringBatch
from rayrlhf.core.run_dir import ResumeState, RunDir
from rayrlhf.core.seeds import derived_seed
from rayrlhf.run.actor_group import Workers
from rayrlhf.run.coordinator import Coordinator
from rayrlhf.run.evaluation import HeldOutEval
from rayrlhf.run.generation import generate_round, online_samples
from rayrlhf.run.labelling import RoundRouting
from rayrlhf.run.pairs import answer_pairs, replayed_iterations

SETTLE_S = 300.0  # how long a stopping run waits for the rounds it has open to be answered


@dataclass
class OpenRound:
    """A round from being asked to being answered (with ``transfer.delay: 1``, two at once): its items, which of them
    people label, the label model's split, and the Ray future of its answers."""

    iteration: int
    index: int
    items: list[RoundItem]
    chosen: list[int]
    routing: RoundRouting | None
    future: ray.ObjectRef | None = None

    def asked(self) -> list[RoundItem]:
        return [self.items[i] for i in self.chosen]


def prompt_schedule(num_rows: int, seed: int, cursor: int, count: int) -> list[int]:
    """Row indices of the ``count`` prompts after ``cursor``: this seed's permutation of the training rows (so
    intervals over seeds include the prompt sample), wrapping around after a pass."""
    order = np.random.default_rng(derived_seed(seed, "prompts")).permutation(num_rows)
    return [int(order[(cursor + i) % num_rows]) for i in range(count)]



class Pipeline:
    def __init__(self, cfg: Config, run: RunDir, resume: bool, workers: Workers | None = None,
                 eval_init: dict | None = None) -> None:
        from rayrlhf.task.build import resolve_model

        self.cfg, self.run = cfg, run
        from rayrlhf.data.prompts import load_splits

        self.train_rows, self.eval_rows = load_splits(cfg, log=logger.info)
        init_dir = resolve_model(cfg.policy.model, cfg.task)
        latest = run.latest() if resume else None
        self.state = latest[1] if latest else ResumeState()
        model_dir = str(latest[0]) if latest else init_dir
        self.own_workers = workers is None
        self.workers = workers or Workers(cfg, model_dir, init_dir, run.root / "ray_train",
                                          str(latest[0] / "optimizer.pt") if latest else None)
        self.startup_s = self.workers.startup_s if self.own_workers else 0.0
        self._startup_logged = False  # start-up time goes into the first row this process writes
        w = self.workers
        self.sources, self.oracle, self.learner = w.sources, w.oracle, w.learner
        from rayrlhf.core.placement import on_driver_node
        from rayrlhf.rewards.actor import ActorScore

        # Ray touch point: a threaded actor, up to two rounds collected at once beside its other calls (transfer.delay)
        coordinator = ray.remote(concurrency_groups={"annotate": 2})(Coordinator)
        self.coordinator = coordinator.options(num_cpus=0, scheduling_strategy=on_driver_node()).remote(
            cfg, str(run.root), score=ActorScore(self.oracle, cfg.run.timeouts.score))
        if latest:
            self._coord("load_state", self.state.coordinator)
        if url := self._coord("backend_url"):
            logger.info(f"[annotate] answer queries at {url}/?token=TOKEN (tokens: `rayrlhf annotate token {run.root} "
                        "--annotator NAME`)")
        if eval_init is not None and not (run.root / "eval" / "iter_0.json").is_file():
            (run.root / "eval").mkdir(exist_ok=True)
            run.write_json_atomic(run.root / "eval" / "iter_0.json", eval_init)
        self.held_out = HeldOutEval(cfg, run, self.workers, self.eval_rows, self.state.iteration)
        self.router = None
        if cfg.oracle.route != "all":
            from rayrlhf.run.labelling import LabelRouter

            self.router = LabelRouter(cfg, run.root, self.workers, self.state.label_examples)

    def _coord(self, method: str, *args):
        """Call the coordinator actor (bounded by ``run.timeouts.annotate``; its death stops the run at once)."""
        return wait(getattr(self.coordinator, method).remote(*args), "annotate", "the coordinator", self.cfg.run.timeouts.annotate)

    # -- one iteration ------------------------------------------------------------------------------------
    def _next_prompts(self) -> list[dict]:
        m, start = self.cfg.train.prompts_per_iteration, self.state.cursor
        self.state.cursor = start + m
        return [self.train_rows[i] for i in prompt_schedule(len(self.train_rows), self.cfg.run.seed, start, m)]

    def _collect(self, iteration: int, prompts: list[dict], timing: dict) -> list[PreferencePair]:
        """Rounds of generate -> Best-of-N -> annotate; returns the iteration's preference pairs. A round's
        responses are saved before they are annotated, so a resumed run replays finished rounds from disk
        and the ledger answers their queries. With ``transfer.delay: 1`` a round is generated, scored and asked
        while the one before is still being answered (at most two in the coordinator's hands); with ``iteration``
        the whole iteration is generated in one engine call and asked as one batch (docs/architecture.md,
        "Pipelined rounds")."""
        from tqdm.auto import tqdm

        cfg = self.cfg
        self._coord("start_iteration", iteration)
        saved = self.run.saved_rounds(iteration)
        self._check_budget(iteration, fresh=not saved)
        size, delay = cfg.transfer.refresh_every, cfg.transfer.delay
        chunks = [prompts[start : start + size] for start in range(0, len(prompts), size)]
        if delay == "iteration":
            return self._collect_at_once(iteration, chunks, saved, timing)
        pairs: list[PreferencePair] = []
        in_flight: deque[OpenRound] = deque()
        labelled, bases = 0, self._online_samples(iteration, chunks, len(saved), timing)
        try:
            for r, chunk in enumerate(tqdm(chunks, desc=f"iter {iteration}: rounds", leave=False)):
                while len(in_flight) > delay:  # the statistics round r may see: every round but the last `delay`
                    pairs += self._finish_oldest(in_flight, timing)
                check_stop(f"iteration {iteration}, before round {r + 1}")
                arms = self._coord("assign", len(chunk))
                items = self._round_items(iteration, r, chunk, arms, saved, timing, bases.get(r))
                open_round = self._open(iteration, r, items, r * size + len(items), labelled, timing)
                labelled += len(open_round.chosen)
                open_round.future = self._ask(open_round.asked())
                in_flight.append(open_round)
            while in_flight:
                pairs += self._finish_oldest(in_flight, timing)
        except BaseException:
            self._settle(in_flight)
            raise
        return pairs

    def _settle(self, in_flight: deque[OpenRound]) -> None:
        """A stop or a fault while rounds are open (``transfer.delay``): before the run stops, give their backends time
        (at most :data:`SETTLE_S`) to hand over what they are paying for, so it is in the ledger, not asked again on
        resume. A web or vendor round needs none: its answers wait in the queue and a resume records them."""
        if in_flight and self.cfg.oracle.backend not in ("web", "vendor"):
            ray.wait([r.future for r in in_flight], num_returns=len(in_flight), timeout=SETTLE_S)

    def _collect_at_once(self, iteration: int, chunks: list[list[dict]], saved: list, timing: dict) -> list[PreferencePair]:
        """``transfer.delay: iteration``: every round's arms from the statistics of the iterations before, the
        rounds not on disk generated in one engine call, then every round's queries asked as one batch."""
        check_stop(f"iteration {iteration}, before its rounds")
        arms = [self._coord("assign", len(chunk)) for chunk in chunks]
        by_round = [[RoundItem.from_json(row) for row in saved_round] for saved_round in saved]
        fresh = range(len(saved), len(chunks))
        if fresh:
            self.run.set_status("generate", iteration, len(saved) + 1)
            generated = generate_round(self.cfg, self.workers, iteration, [row for r in fresh for row in chunks[r]],
                                       [arm for r in fresh for arm in arms[r]], timing, self._label_model())
            for r in fresh:
                by_round.append(generated[: len(chunks[r])])
                generated = generated[len(chunks[r]) :]
                self.run.save_round(iteration, [it.to_json() for it in by_round[-1]])
        size, labelled, rounds = self.cfg.transfer.refresh_every, 0, []
        for r, items in enumerate(by_round):
            rounds.append(self._open(iteration, r, items, r * size + len(items), labelled, timing))
            labelled += len(rounds[-1].chosen)
        answers = self._answers(self._ask([it for rnd in rounds for it in rnd.asked()]), timing)
        pairs = []
        for rnd in rounds:
            pairs += self._finish(rnd, answers[: len(rnd.chosen)])
            answers = answers[len(rnd.chosen) :]
        return pairs

    def _online_samples(self, iteration: int, chunks: list[list[dict]], saved: int, timing: dict) -> dict[int, list]:
        """``rollout.samples_in_one_call``: the K samples of every round not on disk, by round, from one engine call."""
        if not self.cfg.rollout.samples_in_one_call or saved >= len(chunks):
            return {}
        self.run.set_status("generate", iteration, saved + 1)
        samples = online_samples(self.cfg, self.workers, iteration, [row for c in chunks[saved:] for row in c], timing)
        bases, start = {}, 0
        for r in range(saved, len(chunks)):
            bases[r], start = samples[start : start + len(chunks[r])], start + len(chunks[r])
        return bases

    def _round_items(self, iteration: int, r: int, chunk: list[dict], arms: list[str], saved: list,
                     timing: dict, base: list | None = None) -> list[RoundItem]:
        """Round ``r``'s items: from disk (a resumed run), else generated (on ``base``, its K samples, when given)
        and saved before anyone is asked."""
        if r < len(saved):
            return [RoundItem.from_json(row) for row in saved[r]]
        self.run.set_status("generate", iteration, r + 1)
        items = generate_round(self.cfg, self.workers, iteration, chunk, arms, timing, self._label_model(), base)
        self.run.save_round(iteration, [it.to_json() for it in items])
        return items

    def _label_model(self):
        return self.router.model if self.router is not None else None

    def _open(self, iteration: int, r: int, items: list[RoundItem], seen_after: int, labelled: int,
              timing: dict) -> OpenRound:
        """A round ready to be asked: the items with more than one distinct response, and which of them people label."""
        askable = [i for i, it in enumerate(items) if not all_identical(it.responses)]
        self.counts["annotation/identical_responses"] += len(items) - len(askable)  # nothing to rank: not asked
        chosen, routing = self._to_label(items, askable, iteration, r, seen_after, labelled, timing)
        self.run.set_status("annotate", iteration, r + 1)
        return OpenRound(iteration, r, items, chosen, routing)

    def _ask(self, items: list[RoundItem]) -> ray.ObjectRef:
        """Reserve ``items``' queries (in round order) and start collecting their answers: a Ray future on the
        coordinator's annotate group."""
        return self.coordinator.collect.remote(self._coord("reserve", items))

    def _answers(self, future: ray.ObjectRef, timing: dict) -> list[Answer | None]:
        """Wait for asked answers (bounded by ``run.timeouts.annotate``)."""
        t = time.perf_counter()
        got = wait(future, "annotate", "the coordinator", self.cfg.run.timeouts.annotate)
        timing["annotate_s"] += time.perf_counter() - t  # the wait the pipeline did not hide
        return got

    def _finish_oldest(self, in_flight: deque[OpenRound], timing: dict) -> list[PreferencePair]:
        oldest = in_flight.popleft()
        return self._finish(oldest, self._answers(oldest.future, timing))

    def _finish(self, open_round: OpenRound, got: list[Answer | None]) -> list[PreferencePair]:
        """Credit a round's arms with its answers, let the label model learn from them; its training pairs."""
        items, answers = open_round.items, [None] * len(open_round.items)
        for i, answer in zip(open_round.chosen, got, strict=True):
            answers[i] = answer
        self._coord("record_wins", items, answers)  # people's answers credit the arms; model labels do not
        if (routing := open_round.routing) is not None:
            self.router.learn(routing, answers)
            for i, answer in routing.model_answers.items():
                answers[i] = answer
        rng = np.random.default_rng(derived_seed(self.cfg.run.seed, "pairs", open_round.iteration, open_round.index))
        return self._pairs(items, answers, rng)

    def _to_label(self, items: list[RoundItem], askable: list[int], iteration: int, r: int, seen_after: int,
                  labelled: int, timing: dict) -> tuple[list[int], RoundRouting | None]:
        """The round's items people label, among ``askable`` (those with more than one distinct response): all of
        them, or (``oracle.labels_per_iteration``) this round's share of the labels, picked at random or where the
        sources disagree most (``oracle.query_selection``), or with ``oracle.route`` where the label model is least
        sure (run/labelling.py: the model labels the rest). Deterministic, so a resumed run picks the same ones."""
        o, prompts = self.cfg.oracle, self.cfg.train.prompts_per_iteration
        rng = np.random.default_rng(derived_seed(self.cfg.run.seed, "select", iteration, r))
        if self.router is not None:
            t = time.perf_counter()
            quota = label_quota(human_quota(o.labels_per_iteration, o.human_share, prompts), prompts, seen_after, labelled)
            routing = self.router.route(iteration, r, items, askable, quota, rng)
            timing["route_s"] += time.perf_counter() - t
            return routing.human, routing
        if o.labels_per_iteration is None or o.labels_per_iteration >= prompts:
            return askable, None
        quota = label_quota(o.labels_per_iteration, prompts, seen_after, labelled)
        if o.query_selection == "random" or not askable:
            return [askable[i] for i in select_queries(quota, rng, num_items=len(askable))], None
        t = time.perf_counter()
        per_source = self.workers.every_source(ScoringBatch.of_items([items[i] for i in askable]))
        spread = [disagreement([per_source[name][i] for name in per_source]) for i in range(len(askable))]
        timing["select_s"] += time.perf_counter() - t
        return [askable[i] for i in select_queries(quota, rng, spread)], None

    def _check_budget(self, iteration: int, fresh: bool) -> None:
        """Stop before an iteration that could buy no label (``oracle.budget`` spent); an interrupted iteration
        (rounds on disk) still replays, its answers coming from the ledger."""
        budget = self.cfg.oracle.budget
        if fresh and budget is not None and self._coord("metrics")["oracle_queries"] >= budget:
            raise BudgetSpent(f"oracle.budget={budget} labels are spent (all {budget} used) before iteration {iteration}")

    def _pairs(self, items: list[RoundItem], answers: list[Answer | None], rng: np.random.Generator) -> list[PreferencePair]:
        pairs, identical = answer_pairs(items, answers, self.cfg.transfer, rng)
        self.counts["train/identical_pairs"] += identical
        return pairs

    def _replay(self, iteration: int, pairs: list[PreferencePair]) -> list[PreferencePair]:
        """``optim.replay``: this iteration's pairs are saved (``RUN_DIR/pairs/iter_N.jsonl``) and earlier iterations'
        read back to train again (all of them, or the last N)."""
        folder = self.run.root / "pairs"
        folder.mkdir(exist_ok=True)
        self.run.write_json_atomic(folder / f"iter_{iteration}.json", [p.to_json() for p in pairs])
        import json

        return [PreferencePair.from_json(row) for i in replayed_iterations(self.cfg.optim.replay, iteration)
                if (folder / f"iter_{i}.json").is_file() for row in json.loads((folder / f"iter_{i}.json").read_text())]

    @property
    def eval_init(self) -> dict:
        """The initial policy's held-out samples (``RUN_DIR/eval/iter_0.json``)."""
        return self.held_out.init

    def samples_table(self, iteration: int, count: int = 8) -> list[dict]:
        return self.held_out.table(iteration, count)

    def iteration(self, iteration: int) -> dict:
        """One iteration, ending with its checkpoint as the resume point. Raises :class:`BudgetSpent` after it
        when ``oracle.budget`` ran out during it (or before training, if too few pairs were labelled)."""
        timing = defaultdict(float)
        self.counts = {"annotation/identical_responses": 0, "train/identical_pairs": 0}
        t_iter = time.perf_counter()
        over_budget, calls = self._coord("metrics")["annotation/over_budget"], self.workers.engine_calls["generate"]
        pairs = self._collect(iteration, self._next_prompts(), timing)
        self.counts["rollout/engine_calls"] = self.workers.engine_calls["generate"] - calls
        coord = self._coord("metrics")
        spent = coord["annotation/over_budget"] > over_budget
        if spent and len(pairs) < self.cfg.train.num_workers:
            raise BudgetSpent(f"oracle.budget={self.cfg.oracle.budget} labels ran out during iteration {iteration}, "
                              f"leaving {len(pairs)} labelled pairs: too few to train it")
        check_stop(f"iteration {iteration}, before training")
        self.run.set_status("train", iteration)
        t = time.perf_counter()
        ckpt = self.run.checkpoint(iteration)
        replayed = self._replay(iteration, pairs)
        result = self.learner.train(pairs + replayed, ckpt, derived_seed(self.cfg.run.seed, "train", iteration), self.cfg.optim)
        train, self.last_steps = result.summary(), result.per_step  # per-optimizer-step metrics, for the trackers
        timing["train_s"] = time.perf_counter() - t
        self.run.set_status("weight_sync", iteration)
        timing["weight_sync_s"] = self.workers.load_weights(str(ckpt))
        evaluation = {}
        if spent or iteration % self.cfg.eval.every == 0 or iteration == self.cfg.train.iterations:
            self.run.set_status("eval", iteration)
            t = time.perf_counter()
            evaluation = self.held_out.evaluate(iteration)
            timing["eval_s"] = time.perf_counter() - t
        timing["iteration_s"] = time.perf_counter() - t_iter
        timing["startup_s"] = 0.0 if self._startup_logged else self.startup_s
        self._startup_logged = True
        metrics = MetricsRow.from_json({"iteration": iteration, **coord, **self.counts, **evaluation})
        metrics.train |= {"pairs": len(pairs), "replayed_pairs": len(replayed), "pairs_trained": result.pairs, **{k: v for k, v in train.items() if k in (
            "loss", "reward_margin", "reward_accuracy", "logratio", "steps", "lr", "tokens_per_s")}}
        metrics.timing |= timing
        if self.router is not None:
            metrics.label_model, detail = self.router.iteration_metrics()
            (self.run.root / "label_model").mkdir(exist_ok=True)
            self.run.write_json_atomic(self.run.root / "label_model" / f"iter_{iteration}.json", {"iteration": iteration, **detail})
        row = metrics.to_json()
        # the row before the resume pointer: a crash between the two re-runs this iteration (resume_point
        # drops the row), so metrics.jsonl always holds exactly iterations 1..latest after a resume
        self.run.append_metrics(row)
        self.state.iteration = iteration
        self.run.set_status("checkpoint", iteration)
        self.state.coordinator = self._coord("state")
        if self.router is not None:
            self.state.label_examples = self.router.state()
        self.run.mark_complete(iteration, self.state,
                               keep=self.cfg.run.keep_checkpoints)
        self.run.set_status("done", iteration)
        if spent:
            raise BudgetSpent(f"oracle.budget={self.cfg.oracle.budget} labels ran out during iteration {iteration}, "
                              f"which trained on the {len(pairs)} pairs it had")
        return row

    def close(self) -> None:
        try:
            wait(self.coordinator.close.remote(), "close", "the coordinator", 60)
        except Exception:  # a dead coordinator has nothing left to close
            pass
        ray.kill(self.coordinator)
        if self.own_workers:
            self.workers.close()
