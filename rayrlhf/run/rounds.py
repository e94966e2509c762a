"""An iteration's rounds (docs/method.md steps 2-4): per round the coordinator assigns arms, the rollout engines
generate K responses (and N more on a source arm, Best-of-N filling the transfer slots), the labelling decision says
who labels each prompt, people are asked through the coordinator, and the answers (people's and the label model's)
become the iteration's preference pairs.

A round's responses are saved before they are annotated, so a resumed run replays finished rounds from disk and the
ledger answers their queries. With ``transfer.delay: 1`` a round is generated, scored and asked while the one before
is still being answered (at most two in the coordinator's hands); with ``iteration`` the whole iteration is generated
in one engine call and asked as one batch (docs/architecture.md, "Pipelined rounds").
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass

import numpy as np
import ray

from rayrlhf.algorithms.transfer import crediting_answers
from rayrlhf.config import Config
from rayrlhf.core.faults import BudgetSpent, check_stop
from rayrlhf.core.records import Answer, PreferencePair, RoundItem
from rayrlhf.core.run_dir import RunDir
from rayrlhf.core.seeds import derived_seed
from rayrlhf.run.actor_group import Workers
from rayrlhf.run.coordinator_client import CoordinatorClient
from rayrlhf.run.generation import generate_round, online_samples
from rayrlhf.run.labelling import DecidedRound, Labelling
from rayrlhf.run.pairs import answer_pairs

SETTLE_S = 300.0  # how long a stopping run waits for the rounds it has open to be answered


@dataclass
class OpenRound:
    """A round from being asked to being answered (with ``transfer.delay: 1``, two at once): its items, who labels
    each (its labelling decision), and the Ray future of people's answers."""

    iteration: int
    index: int
    items: list[RoundItem]
    decided: DecidedRound
    future: ray.ObjectRef | None = None

    @property
    def chosen(self) -> tuple[int, ...]:
        """The items people label."""
        return self.decided.decision.human

    def asked(self) -> list[RoundItem]:
        return [self.items[i] for i in self.chosen]


class Rounds:
    """Collects an iteration's rounds into its preference pairs; ``counts`` holds the iteration's counters
    (``annotation/identical_responses``, ``train/identical_pairs``)."""

    def __init__(self, cfg: Config, run: RunDir, workers: Workers, coordinator: CoordinatorClient,
                 labelling: Labelling) -> None:
        self.cfg, self.run, self.workers, self.coordinator, self.labelling = cfg, run, workers, coordinator, labelling
        self.answers_wait_in_queue = coordinator.call("answers_wait_in_queue")
        self.counts: Counter[str] = Counter()

    def collect(self, iteration: int, prompts: list[dict], timing: dict) -> list[PreferencePair]:
        """The iteration's rounds over ``prompts``: generate, Best-of-N, decide who labels, ask; its preference pairs."""
        from tqdm.auto import tqdm

        cfg = self.cfg
        self.counts = Counter({"annotation/identical_responses": 0, "train/identical_pairs": 0})
        self.coordinator.call("start_iteration", iteration)
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
                arms = self.coordinator.call("assign", len(chunk))
                items = self._round_items(iteration, r, chunk, arms, saved, timing, bases.get(r))
                open_round = self._open(iteration, r, items, r * size + len(items), labelled, timing)
                labelled += len(open_round.chosen)
                open_round.future = self.coordinator.ask(open_round.asked())
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
        resume. A backend whose answers wait in a queue (web, vendor) needs none: a resume records them."""
        if in_flight and not self.answers_wait_in_queue:
            ray.wait([r.future for r in in_flight], num_returns=len(in_flight), timeout=SETTLE_S)

    def _collect_at_once(self, iteration: int, chunks: list[list[dict]], saved: list, timing: dict) -> list[PreferencePair]:
        """``transfer.delay: iteration``: every round's arms from the statistics of the iterations before, the
        rounds not on disk generated in one engine call, then every round's queries asked as one batch."""
        check_stop(f"iteration {iteration}, before its rounds")
        arms = [self.coordinator.call("assign", len(chunk)) for chunk in chunks]
        by_round = [[RoundItem.from_json(row) for row in saved_round] for saved_round in saved]
        fresh = range(len(saved), len(chunks))
        if fresh:
            self.run.set_status("generate", iteration, len(saved) + 1)
            generated = generate_round(self.cfg, self.workers, iteration, [row for r in fresh for row in chunks[r]],
                                       [arm for r in fresh for arm in arms[r]], timing, self.labelling.model)
            for r in fresh:
                by_round.append(generated[: len(chunks[r])])
                generated = generated[len(chunks[r]) :]
                self.run.save_round(iteration, [it.to_json() for it in by_round[-1]])
        size, labelled, rounds = self.cfg.transfer.refresh_every, 0, []
        for r, items in enumerate(by_round):
            rounds.append(self._open(iteration, r, items, r * size + len(items), labelled, timing))
            labelled += len(rounds[-1].chosen)
        answers = self._answers(self.coordinator.ask([it for rnd in rounds for it in rnd.asked()]), timing)
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
        items = generate_round(self.cfg, self.workers, iteration, chunk, arms, timing, self.labelling.model, base)
        self.run.save_round(iteration, [it.to_json() for it in items])
        return items

    def _open(self, iteration: int, r: int, items: list[RoundItem], seen_after: int, labelled: int,
              timing: dict) -> OpenRound:
        """A round ready to be asked: who labels each item (people, the label model or nobody)."""
        decided = self.labelling.decide(iteration, r, items, seen_after, labelled, timing)
        self.counts["annotation/identical_responses"] += len(decided.decision.identical)  # nothing to rank: not asked
        self.run.set_status("annotate", iteration, r + 1)
        return OpenRound(iteration, r, items, decided)

    def _answers(self, future: ray.ObjectRef, timing: dict) -> list[Answer | None]:
        """Wait for asked answers (bounded by ``run.timeouts.annotate``)."""
        t = time.perf_counter()
        got = self.coordinator.answers(future)
        timing["annotate_s"] += time.perf_counter() - t  # the wait the pipeline did not hide
        return got

    def _finish_oldest(self, in_flight: deque[OpenRound], timing: dict) -> list[PreferencePair]:
        oldest = in_flight.popleft()
        return self._finish(oldest, self._answers(oldest.future, timing))

    def _finish(self, open_round: OpenRound, got: list[Answer | None]) -> list[PreferencePair]:
        """Let the label model learn from a round's answers and label its share, credit the round's arms
        (``transfer.credit``); its training pairs."""
        items, answers = open_round.items, [None] * len(open_round.items)
        for i, answer in zip(open_round.chosen, got, strict=True):
            answers[i] = answer
        labelled = self.labelling.complete(open_round.decided, answers)
        self.coordinator.call("record_wins", items, crediting_answers(self.cfg.transfer.credit, answers, labelled))
        rng = np.random.default_rng(derived_seed(self.cfg.run.seed, "pairs", open_round.iteration, open_round.index))
        return self._pairs(items, labelled, rng)

    def _check_budget(self, iteration: int, fresh: bool) -> None:
        """Stop before an iteration that could buy no label (``oracle.budget`` spent); an interrupted iteration
        (rounds on disk) still replays, its answers coming from the ledger."""
        budget = self.cfg.oracle.budget
        if fresh and budget is not None and self.coordinator.call("metrics")["oracle_queries"] >= budget:
            raise BudgetSpent(f"oracle.budget={budget} labels are spent (all {budget} used) before iteration {iteration}")

    def _pairs(self, items: list[RoundItem], answers: list[Answer | None], rng: np.random.Generator) -> list[PreferencePair]:
        pairs, identical = answer_pairs(items, answers, self.cfg.transfer, rng)
        self.counts["train/identical_pairs"] += identical
        return pairs
