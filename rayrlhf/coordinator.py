"""The coordinator: arm statistics, arm assignment in rounds, annotation routing, the label budget.

It is the only stateful actor besides the learner. Within an iteration, prompts arrive in rounds of
``transfer.refresh_every``; ``assign`` gives a round its arms (uniform in the first round, UCB-argmax
after, PAPER.md step 2) and ``annotate`` asks the oracle about the round's K responses, records which arms
won (step 4) and refreshes the statistics.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np

from rayrlhf.algorithms.transfer import SELF_ARM, ArmStats, assign_round, transfer_won, ucb_values
from rayrlhf.annotation import AnnotationLedger, Query
from rayrlhf.config import Config


def derived_seed(*parts) -> int:
    """A stable 31-bit seed from any parts (run seed, iteration, round, purpose...)."""
    return int(hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


class Coordinator:
    def __init__(self, cfg: Config, run_dir: str, oracle_reward_actor) -> None:
        from rayrlhf.annotation import SimulatedOracle

        self.cfg = cfg
        self.mode = cfg.transfer.mode
        sources = [s.name for s in cfg.sources]
        if self.mode == "none":
            self.arms: tuple[str, ...] = (SELF_ARM,)
        elif self.mode.startswith("fixed:"):
            self.arms = (self.mode[6:],)
        else:
            self.arms = (*sources, SELF_ARM)
        o = cfg.oracle
        self.backend = SimulatedOracle(oracle_reward_actor, o.labels, o.temperature, o.abstain_margin, cfg.run.seed)
        self.ledger = AnnotationLedger(Path(run_dir) / "annotations.jsonl")
        self.iteration = 0
        self.stats = ArmStats(self.arms)
        self.first_round = True
        self.rounds = 0
        self.counters = {"asked": 0, "reused": 0, "abstained": 0, "over_budget": 0}

    def start_iteration(self, iteration: int) -> None:
        """Statistics are reset every iteration: the policy changed, old win rates are stale."""
        self.iteration = iteration
        self.stats = ArmStats(self.arms)
        self.first_round = True
        self.rounds = 0

    def assign(self, num_prompts: int) -> list[str]:
        rng = np.random.default_rng(derived_seed(self.cfg.run.seed, "arms", self.iteration, self.rounds))
        self.rounds += 1
        if len(self.arms) == 1:
            return [self.arms[0]] * num_prompts
        return assign_round(num_prompts, self.stats, first_round=self.first_round, c=self.cfg.transfer.ucb_c, rng=rng)

    def annotate(self, items: list[dict]) -> list[list[int] | None]:
        """Oracle rankings (best first) for ``{"prompt", "responses", "reference", "arm", "transfer_mask"}``
        items; ``None`` where the oracle abstained or the budget is spent. Answers already in the ledger are
        reused, never asked again."""
        queries = [Query(it["prompt"], tuple(it["responses"]), it.get("reference")) for it in items]
        rankings: list[list[int] | None] = [None] * len(items)
        to_ask = []
        for i, q in enumerate(queries):
            cached = self.ledger.get(q)
            if cached is not None:
                rankings[i] = cached.ranking
                self.counters["reused"] += 1
            elif self.cfg.oracle.budget is not None and len(self.ledger) + len(to_ask) >= self.cfg.oracle.budget:
                self.counters["over_budget"] += 1
            else:
                to_ask.append(i)
        if to_ask:
            self.backend.rng = np.random.default_rng(derived_seed(self.cfg.run.seed, "oracle", queries[to_ask[0]].id))
            answers = self.backend.ask([queries[i] for i in to_ask])
            for i, answer in zip(to_ask, answers, strict=True):
                if answer is None:  # timed out: not paid, not recorded
                    continue
                self.ledger.append(queries[i], answer, self.iteration)
                rankings[i] = answer.ranking
                self.counters["asked"] += 1
        for item, ranking in zip(items, rankings, strict=True):
            if ranking is None:
                self.counters["abstained"] += 1
                continue
            self.stats.record(item["arm"], transfer_won(ranking[0], item["transfer_mask"]), self.cfg.transfer.self_win_rate)
        self.first_round = False
        return rankings

    def metrics(self) -> dict:
        ucb = ucb_values(self.stats, self.cfg.transfer.ucb_c)
        rates = self.stats.win_rates()
        out: dict[str, float] = {"oracle_queries": len(self.ledger)}
        for arm in self.arms:
            out[f"arm/{arm}/count"] = self.stats.counts[arm]
            out[f"arm/{arm}/win_rate"] = None if math.isnan(rates[arm]) else rates[arm]
            out[f"arm/{arm}/ucb"] = None if math.isinf(ucb[arm]) else ucb[arm]
        return out | {f"annotation/{k}": v for k, v in self.counters.items()}

    def state(self) -> dict:
        return {"iteration": self.iteration, "stats": self.stats.to_dict(), "counters": dict(self.counters)}

    def load_state(self, state: dict) -> None:
        self.iteration = state["iteration"]
        self.stats = ArmStats.from_dict(state["stats"])
        self.counters.update(state["counters"])
