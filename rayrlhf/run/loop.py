"""``rayrlhf train``: the iteration loop of empirical TPO (docs/method.md) and nothing else.

Per iteration: prompts in rounds -> coordinator assigns arms -> rollout generates K responses (and N more
for source arms) -> each source arm's reward actor scores its N, Best-of-N fills Rp slots -> the oracle
ranks the K (ledgered) and the coordinator records wins -> the learner trains on (chosen, rejected) pairs
-> the rollout engine takes the new weights in place -> evaluation vs the initial policy -> checkpoint.
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
import ray

from rayrlhf.algorithms.label_model import ENSEMBLE_ARM, ensemble_scores
from rayrlhf.algorithms.routing import human_quota
from rayrlhf.algorithms.selection import all_identical, disagreement, label_quota, select_queries
from rayrlhf.algorithms.stats import paired_win_rate, score_summary
from rayrlhf.algorithms.transfer import SELF_ARM, replace_with_best_of_n, stated_pairs
from rayrlhf.config import Config, ConfigError, TransferConfig
from rayrlhf.core.faults import BudgetSpent, check_stop, wait
from rayrlhf.core.logs import logger
from rayrlhf.core.metrics import MetricsRow
from rayrlhf.core.records import Answer, PreferencePair, RoundItem, ScoringBatch
from rayrlhf.core.run_dir import ResumeState, RunDir
from rayrlhf.core.seeds import derived_seed
from rayrlhf.run.actor_group import Workers
from rayrlhf.run.coordinator import Coordinator
from rayrlhf.run.labelling import RoundRouting


def prompt_schedule(num_rows: int, seed: int, cursor: int, count: int) -> list[int]:
    """Row indices of the ``count`` prompts after ``cursor``: this seed's permutation of the training rows (so
    intervals over seeds include the prompt sample), wrapping around after a pass."""
    order = np.random.default_rng(derived_seed(seed, "prompts")).permutation(num_rows)
    return [int(order[(cursor + i) % num_rows]) for i in range(count)]



def replayed_iterations(replay: str, iteration: int) -> list[int]:
    """The earlier iterations whose pairs ``optim.replay`` trains again in ``iteration``: none, all, or the last N."""
    if replay == "none":
        return []
    first = 1 if replay == "all" else max(1, iteration - int(replay.removeprefix("last:")))
    return list(range(first, iteration))


def answer_pairs(items: list[RoundItem], answers: list[Answer | None], transfer: TransferConfig,
                 rng: np.random.Generator) -> tuple[list[PreferencePair], int]:
    """The training pairs of each answered item (``transfer.pairs``: one, the implied ones, or the whole ranking;
    :func:`stated_pairs`), using only the orders the answer states (a person's best/worst is partial). With
    ``transfer.pair_weight: prompt`` an answer's n pairs weigh 1/n each, so a prompt counts once whatever its
    pairs. A pair whose two texts are the same (a Bradley-Terry draw can rank a duplicate first and last) has no
    gradient: it is not trained, only counted. A model label's pairs carry its ``train_weight`` (``oracle.model_weight``).
    Returns the pairs and that count (``train/identical_pairs``)."""
    pairs, identical = [], 0
    for item, answer in zip(items, answers, strict=True):
        if answer is None:
            continue
        stated = stated_pairs(answer.ranking, transfer.pairs, transfer.pair_strategy, rng,
                              partial=bool(answer.meta.get("partial")))
        kept = [(c, j) for c, j in stated if item.responses[c] != item.responses[j]]
        identical += len(stated) - len(kept)
        weight = (1.0 / len(kept) if kept and transfer.pair_weight == "prompt" else 1.0) * answer.meta.get("train_weight", 1.0)
        pairs += [PreferencePair(item.prompt, item.responses[c], item.responses[j], item.explore, weight) for c, j in kept]
    return pairs, identical


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

        self.coordinator = ray.remote(Coordinator).options(num_cpus=0, scheduling_strategy=on_driver_node()).remote(
            cfg, str(run.root), score=ActorScore(self.oracle, cfg.run.timeouts.score))
        if latest:
            self._coord("load_state", self.state.coordinator)
        if url := self._coord("backend_url"):
            logger.info(f"[annotate] answer queries at {url}/?token=TOKEN (tokens: `rayrlhf annotate token {run.root} "
                        "--annotator NAME`)")
        if eval_init is not None and not (run.root / "eval" / "iter_0.json").is_file():
            (run.root / "eval").mkdir(exist_ok=True)
            run.write_json_atomic(run.root / "eval" / "iter_0.json", eval_init)
        self.eval_init = self._initial_eval_samples()
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
        and the ledger answers their queries."""
        from tqdm.auto import tqdm

        cfg = self.cfg
        self._coord("start_iteration", iteration)
        saved = self.run.saved_rounds(iteration)
        self._check_budget(iteration, fresh=not saved)
        pairs: list[PreferencePair] = []
        size, labelled = cfg.transfer.refresh_every, 0
        for r, start in enumerate(tqdm(range(0, len(prompts), size), desc=f"iter {iteration}: rounds", leave=False)):
            check_stop(f"iteration {iteration}, before round {r + 1}")
            arms = self._coord("assign", len(prompts[start : start + size]))
            if r < len(saved):
                items = [RoundItem.from_json(row) for row in saved[r]]
            else:
                self.run.set_status("generate", iteration, r + 1)
                items = self._generate_round(iteration, prompts[start : start + size], arms, timing)
                self.run.save_round(iteration, [it.to_json() for it in items])
            askable = [i for i, it in enumerate(items) if not all_identical(it.responses)]
            self.counts["annotation/identical_responses"] += len(items) - len(askable)  # nothing to rank: not asked
            chosen, routing = self._to_label(items, askable, iteration, r, start + len(items), labelled, timing)
            labelled += len(chosen)
            self.run.set_status("annotate", iteration, r + 1)
            t = time.perf_counter()
            answers: list[Answer | None] = [None] * len(items)
            for i, answer in zip(chosen, self._coord("annotate", [items[i] for i in chosen]), strict=True):
                answers[i] = answer
            timing["annotate_s"] += time.perf_counter() - t
            self._coord("record_wins", items, answers)  # people's answers credit the arms; model labels do not
            if routing is not None:
                self.router.learn(routing, answers)
                for i, answer in routing.model_answers.items():
                    answers[i] = answer
            pairs += self._pairs(items, answers, np.random.default_rng(derived_seed(cfg.run.seed, "pairs", iteration, r)))
        return pairs

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

    def _generate_round(self, iteration: int, chunk: list[dict], arms: list[str], timing: dict) -> list[RoundItem]:
        """K responses per prompt; for prompts on a source arm, N more scored by that source and the top Rp
        swapped into the first Rp slots (docs/method.md step 3)."""
        cfg, K, N, rp = self.cfg, self.cfg.train.responses_per_prompt, self.cfg.transfer.best_of_n, self.cfg.transfer.num_replace
        texts = [row["prompt"] for row in chunk]
        refs = [row.get("reference") for row in chunk]
        chats = [row.get("conversation") for row in chunk]
        t = time.perf_counter()
        seed = derived_seed(cfg.run.seed, "gen", iteration, texts[0])
        by_arm = defaultdict(list)
        for i, arm in enumerate(arms):
            if arm != SELF_ARM:
                by_arm[arm].append(i)
        on_sources = [i for idx in by_arm.values() for i in idx]  # one engine call: K for every prompt, N for these
        rows = [[s["text"] for s in row] for row in self.workers.generate(
            texts + [texts[i] for i in on_sources], [K] * len(texts) + [N] * len(on_sources), None, seed)]
        base, extra_of = rows[: len(texts)], dict(zip(on_sources, rows[len(texts) :], strict=True))
        extra = {arm: [extra_of[i] for i in idx] for arm, idx in by_arm.items()}
        timing["generate_s"] += time.perf_counter() - t
        t = time.perf_counter()
        batches = {arm: ScoringBatch.of([texts[i] for i in idx], extra[arm], [refs[i] for i in idx],
                                        [chats[i] for i in idx]) for arm, idx in by_arm.items()}
        futures = {arm: self._score_refs(arm, batch) for arm, batch in batches.items()}
        responses, masks = [list(b) for b in base], [[False] * K for _ in base]
        for arm, idx in by_arm.items():
            scores = self._arm_scores(arm, futures[arm], batches[arm])
            for j, i in enumerate(idx):
                responses[i], masks[i] = replace_with_best_of_n(base[i], extra[arm][j], scores[j], rp)
        timing["score_s"] += time.perf_counter() - t
        return [RoundItem(texts[i], refs[i], arms[i], tuple(responses[i]), tuple(masks[i]), base[i][-1], chats[i])
                for i in range(len(chunk))]

    def _score_refs(self, arm: str, batch: ScoringBatch):
        """References to an arm's Best-of-N scores: its source's, or every source's for the ensemble arm."""
        if arm == ENSEMBLE_ARM:
            return {name: self.workers.score(name, batch) for name in self.sources}
        return self.workers.score(arm, batch)

    def _arm_scores(self, arm: str, refs, batch: ScoringBatch) -> list[list[float]]:
        """An arm's scores per prompt; the ensemble arm's combine every source's with the label model's weights
        (``transfer.ensemble``; :func:`ensemble_scores`)."""
        if arm != ENSEMBLE_ARM:
            return self.workers.scores(refs, arm, "score", batch)
        per_source = [self.workers.scores(refs[name], name, "score", batch) for name in self.sources]
        return [ensemble_scores(self.router.model, np.array([s[i] for s in per_source]).T) for i in range(len(batch.sizes))]

    def _initial_eval_samples(self) -> dict:
        path = self.run.root / "eval" / "iter_0.json"
        if path.is_file():
            import json

            return json.loads(path.read_text())
        if self.state.iteration:
            raise ConfigError(f"{path} is missing; cannot evaluate against the initial policy on resume")
        return self._eval_samples(0)

    def _eval_samples(self, iteration: int) -> dict:
        """``eval.samples_per_prompt`` samples per held-out prompt from the current policy, with their oracle
        scores (prompts x samples); saved to ``RUN_DIR/eval/iter_N.json`` so that ``rayrlhf compare`` can judge
        policies head to head."""
        texts = [r["prompt"] for r in self.eval_rows]
        refs = [r.get("reference") for r in self.eval_rows]
        chats = [r.get("conversation") for r in self.eval_rows]
        n = self.cfg.eval.samples_per_prompt
        seed = derived_seed(self.cfg.run.seed, "eval", iteration)
        responses = [[s["text"] for s in row] for row in self.workers.generate(
            texts, n, self.cfg.eval.temperature, seed, stage="eval", max_new_tokens=self.cfg.eval.max_new_tokens)]
        batch = ScoringBatch.of(texts, responses, refs, chats)
        scores = self.workers.scores(self.workers.score("oracle", batch), "oracle", "eval", batch)
        out = {"iteration": iteration, "responses": responses, "oracle_scores": scores}
        (self.run.root / "eval").mkdir(exist_ok=True)
        self.run.write_json_atomic(self.run.root / "eval" / f"iter_{iteration}.json", out)
        return out

    def samples_table(self, iteration: int, count: int = 8) -> list[dict]:
        """A few held-out prompts with the policy's first sample and its oracle score after ``iteration``."""
        import json

        data = json.loads((self.run.root / "eval" / f"iter_{iteration}.json").read_text())
        return [{"prompt": row["prompt"][-300:], "response": data["responses"][i][0], "oracle_score": data["oracle_scores"][i][0]}
                for i, row in enumerate(self.eval_rows[:count])]

    def _evaluate(self, iteration: int) -> dict:
        """Oracle-judged win rate of the current policy vs the initial one on held-out prompts."""
        samples = self._eval_samples(iteration)
        wr = paired_win_rate(samples["oracle_scores"], self.eval_init["oracle_scores"], seed=iteration)
        now = score_summary(samples["oracle_scores"], samples["responses"])
        init = score_summary(self.eval_init["oracle_scores"], self.eval_init["responses"])
        return {"eval/win_rate_vs_init": wr.mean, "eval/win_rate_vs_init_ci_low": wr.low,
                "eval/win_rate_vs_init_ci_high": wr.high, "eval/oracle_score": now["mean"],
                "eval/empty_rate": now["empty_rate"], "eval/oracle_score_init": init["mean"]}

    def iteration(self, iteration: int) -> dict:
        """One iteration, ending with its checkpoint as the resume point. Raises :class:`BudgetSpent` after it
        when ``oracle.budget`` ran out during it (or before training, if too few pairs were labelled)."""
        timing = defaultdict(float)
        self.counts = {"annotation/identical_responses": 0, "train/identical_pairs": 0}
        t_iter = time.perf_counter()
        over_budget = self._coord("metrics")["annotation/over_budget"]
        pairs = self._collect(iteration, self._next_prompts(), timing)
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
        result = self.learner.train(pairs + replayed, ckpt, seed=derived_seed(self.cfg.run.seed, "train", iteration))
        train, self.last_steps = result.summary(), result.per_step  # per-optimizer-step metrics, for the trackers
        timing["train_s"] = time.perf_counter() - t
        self.run.set_status("weight_sync", iteration)
        timing["weight_sync_s"] = self.workers.load_weights(str(ckpt))
        self.run.set_status("eval", iteration)
        t = time.perf_counter()
        evaluation = self._evaluate(iteration)
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
