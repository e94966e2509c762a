"""Pipelined rounds (``transfer.delay``; docs/architecture.md, "Pipelined rounds"): the coordinator collecting two
rounds at once, the simulated oracle at people's pace, and `rayrlhf train` with delay 1 and delay iteration, whose
arms are recomputed here by hand from the saved rounds and the ledger."""

import json
import math
import threading
import time
from collections import Counter, defaultdict

import pytest
from pydantic import ValidationError

from rayrlhf.annotate.backend import AnnotationBackend
from rayrlhf.annotate.oracle import SimulatedOracle
from rayrlhf.annotate.paced import PacedOracle, idle_share
from rayrlhf.core.durable import read_jsonl
from rayrlhf.core.records import RoundItem
from rayrlhf.run.coordinator import Coordinator
from tests.support.cli import ledger, train
from tests.support.coordinator import LengthOracle, config, item


class GatedOracle(AnnotationBackend):
    """Answers like the simulated oracle, but the first batch it is asked waits until a second batch has been asked:
    it returns only if the two are asked at once."""

    concurrent_ask = True

    def __init__(self):
        self.inner = SimulatedOracle(LengthOracle(), "deterministic", 1.0, 0.0, seed=0)
        self.batches: list[list[str]] = []
        self.second = threading.Event()

    def ask(self, queries, record):
        self.batches.append([q.prompt for q in queries])
        if len(self.batches) == 1:
            assert self.second.wait(10), "the second round was not asked while the first was open"
        else:
            self.second.set()
        self.inner.ask(queries, record)


def test_two_rounds_are_collected_at_once_and_the_budget_counts_the_labels_in_flight(tmp_path):
    backend = GatedOracle()
    coord = Coordinator(config(oracle={"budget": 5}), str(tmp_path), backend)
    coord.start_iteration(1)
    first = [item(f"a{i}", "good", ["xx", "x", "xxx", "y"]) for i in range(3)]
    second = [first[0], *(item(f"b{i}", "good", ["xx", "x", "xxx", "y"]) for i in range(3))]  # a0 again: in flight
    tickets = [coord.reserve(first), coord.reserve(second)]  # in round order, before either is answered
    results = [None, None]
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, coord.collect(tickets[i]))) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    # budget 5: round 1 asks its 3; round 2 finds a0 in flight (not asked again) and room for 5 - 3 = 2 of b0..b2
    assert backend.batches == [["a0", "a1", "a2"], ["b0", "b1"]]
    assert [a is not None for a in results[0]] == [True, True, True]
    assert [a is not None for a in results[1]] == [True, True, True, False]
    assert results[1][0] == results[0][0]  # the in-flight query's answer, waited for
    assert coord.metrics()["annotation/over_budget"] == 1 and coord.metrics()["oracle_queries"] == 5
    rows = [r for r in read_jsonl(tmp_path / "annotations.jsonl") if "query_id" in r]
    assert len(rows) == len({r["query_id"] for r in rows}) == 5


def test_the_paced_oracle_answers_as_the_simulated_one_at_people_pace(tmp_path):
    inner = SimulatedOracle(LengthOracle(), "deterministic", 1.0, 0.0, seed=0)
    paced = PacedOracle(SimulatedOracle(LengthOracle(), "deterministic", 1.0, 0.0, seed=0), annotators=2,
                        seconds_per_label=0.1)
    paced.iteration = 1
    queries = [item(f"p{i}", "good", ["a", "bbb", "cc", "dddd"][i:] + ["a", "bbb", "cc", "dddd"][:i]).query()
               for i in range(4)]
    expected, got = {}, {}
    inner.ask(queries, lambda q, a: expected.__setitem__(q.id, a.ranking))
    start = time.monotonic()
    paced.ask(queries, lambda q, a: got.__setitem__(q.id, a.ranking))
    took = time.monotonic() - start
    assert got == expected
    assert 0.2 <= took < 1.0  # four answers, two people, 0.1 s each: two at a time
    figures = paced.iteration_figures(1)
    assert figures["people_busy_s"] == pytest.approx(0.4, abs=0.08)
    assert figures["people_idle_share"] == pytest.approx(1 - figures["people_busy_s"] / (2 * figures["people_span_s"]))
    assert idle_share(10.0, 15.0, 2) == pytest.approx(0.25) and idle_share(0.0, 0.0, 4) == 0.0
    assert paced.iteration_figures(2) == {"people_span_s": 0.0, "people_busy_s": 0.0, "people_idle_share": 0.0}


@pytest.mark.parametrize("value", ["2", 2, True, "round", -1])
def test_an_unknown_delay_is_refused(value):
    with pytest.raises(ValidationError, match="must be 0, 1 or 'iteration'|Input should be 0, 1 or 'iteration'"):
        config(transfer={"delay": value})


def test_delay_values_and_pace_need_the_simulated_oracle():
    assert config(transfer={"delay": "1"}).transfer.delay == 1
    assert config(transfer={"delay": "iteration"}).transfer.delay == "iteration"
    with pytest.raises(ValidationError, match="oracle.pace paces the simulated oracle"):
        config(oracle={"backend": "vendor", "pace": {"seconds_per_label": 1.0}})


def test_a_sweep_refuses_eval_every(tmp_path):
    from rayrlhf.config import ConfigError
    from rayrlhf.experiments.sweep import run_sweep

    with pytest.raises(ConfigError, match="eval.every=2: a sweep reports eval/win_rate_vs_init to Tune after every"):
        run_sweep(config(eval={"every": 2}), {"optim.beta": [0.1]}, None, str(tmp_path / "sweep"))
    with pytest.raises(ConfigError, match="leave eval.every at 1 in a sweep"):
        run_sweep(config(), {"eval.every": [1, 2]}, None, str(tmp_path / "sweep"))
    assert not (tmp_path / "sweep").exists()  # refused before anything is written


# -- end to end: the arms each round got, recomputed from what the run wrote ------------------------------------

ARMS = ("judge_lm", "rouge", "dier", "self")  # train_config's sources, then self
SELF_BAR = 2 / 4 + 0.05  # Rp/K + 0.05 at TINY_RUN's K=4, Rp=2


def credit(row: dict, answer: dict) -> float:
    """docs/method.md step 4, written out again: the share of the slots tied with the oracle's best (same text, or
    the same score) that are transfer slots; the self arm earns its bar."""
    if row["arm"] == "self":
        return SELF_BAR
    best, responses, scores = answer["ranking"][0], row["responses"], answer.get("scores")
    tied = [i for i in range(len(responses)) if i == best or responses[i] == responses[best]
            or (scores is not None and math.isclose(scores[i], scores[best], rel_tol=1e-9, abs_tol=1e-9))]
    return sum(row["transfer_mask"][i] for i in tied) / len(tied)


def round_credits(run_dir, iteration: int) -> list[list[tuple[str, float]]]:
    answers = {a["query_id"]: a for a in ledger(run_dir) if a["ranking"] is not None}
    out = []
    for saved in read_jsonl(run_dir / "rounds" / f"iter_{iteration}.jsonl"):
        ids = [RoundItem.from_json(row).query().id for row in saved]
        out.append([(row["arm"], credit(row, answers[q])) for row, q in zip(saved, ids) if q in answers])
    return out


def expected_arms(credits: list[tuple[str, float]]) -> tuple[set[str], str | None]:
    """What a round assigned from ``credits`` must hold: the untried arms, each in turn (a set: their order is
    random), or only the UCB argmax (first of equal values, c = 1)."""
    count, wins = Counter(), defaultdict(float)
    for arm, c in credits:
        count[arm] += 1
        wins[arm] += c
    untried = {a for a in ARMS if not count[a]}
    if untried:
        return untried, None
    ucb = {a: wins[a] / count[a] + 1 / math.sqrt(count[a]) for a in ARMS}
    best = max(ARMS, key=lambda a: ucb[a])
    return {best}, best


def check_round(arms: list[str], credits: list[tuple[str, float]], where: str) -> None:
    allowed, best = expected_arms(credits)
    if best is not None:
        assert arms == [best] * len(arms), where
    else:  # shared among the untried arms in turn: every one of them, none twice before all have had one
        assert set(arms) <= allowed and len(set(arms)) == min(len(arms), len(allowed)), where
        assert max(Counter(arms).values()) - min(Counter(arms).values()) <= 1, where


def arms_of(run_dir, iteration: int) -> list[list[str]]:
    return [[row["arm"] for row in saved] for saved in read_jsonl(run_dir / "rounds" / f"iter_{iteration}.jsonl")]


def asked_events(run_dir) -> list[dict]:
    return [r for r in read_jsonl(run_dir / "annotations.jsonl") if r.get("event") == "asked"]


@pytest.mark.ray
@pytest.mark.slow
def test_delay_one_assigns_from_all_but_the_last_round_asks_the_next_round_early_and_samples_in_one_call(train_config, tmp_path, tiny_task):
    run = tmp_path / "run"
    rows = train(train_config, run, "transfer.delay=1", "transfer.refresh_every=4", "rollout.backend=hf",
                 "oracle.pace.seconds_per_label=0.3", "rollout.samples_in_one_call=true", cwd=tmp_path,
                 RAYRLHF_TEST_DIE_ONCE=str(tmp_path / "died"))
    overlapped = 0
    for iteration in (1, 2):
        arms, credits = arms_of(run, iteration), round_credits(run, iteration)
        assert len(arms) == 4
        # samples_in_one_call: one engine call for the K samples of all 4 rounds, then one per round with a source arm
        extras_calls = sum(any(a != "self" for a in round_arms) for round_arms in arms)
        assert rows[iteration - 1]["rollout/engine_calls"] == 1 + extras_calls
        for r in range(1, 4):  # round r sees the credit of rounds 0..r-2 only (round 0 is uniform at random)
            check_round(arms[r], [c for earlier in credits[: max(0, r - 1)] for c in earlier], f"iter {iteration} round {r}")
        saved = read_jsonl(run / "rounds" / f"iter_{iteration}.jsonl")
        round_of = {RoundItem.from_json(row).query().id: r for r, rnd in enumerate(saved) for row in rnd}
        answered = defaultdict(list)
        for a in ledger(run):
            if a["iteration"] == iteration:
                answered[round_of[a["query_id"]]].append(a["time"])
        asked = [e for e in asked_events(run) if e["iteration"] == iteration]
        asked_at = {round_of[e["query_ids"][0]]: e["time"] for e in asked}
        # round r+1's queries went to the oracle before round r's last answer came back (impossible with delay 0)
        overlapped += sum(asked_at[r + 1] < max(answered[r]) for r in range(3) if r + 1 in asked_at and answered[r])
    assert overlapped >= 1
    last = rows[-1]
    assert last["train/pairs_trained"] == last["train/pairs"]
    assert 0.0 <= last["annotation/people_idle_share"] < 1.0 and last["annotation/people_busy_s"] > 0
    entries = ledger(run)
    assert len(entries) == len({e["query_id"] for e in entries}) == last["oracle_queries"]


@pytest.mark.ray
@pytest.mark.slow
def test_delay_iteration_asks_one_batch_per_iteration_and_eval_every_skips_the_iterations_between(train_config, tmp_path, tiny_task):
    run = tmp_path / "run"
    rows = train(train_config, run, "transfer.delay=iteration", "transfer.refresh_every=4", "rollout.backend=hf",
                 "eval.every=2", cwd=tmp_path, RAYRLHF_TEST_DIE_ONCE=str(tmp_path / "died"))
    # eval.every=2 over 2 iterations: the initial policy and iteration 2 (the last) are evaluated, iteration 1 not
    assert sorted(p.name for p in (run / "eval").iterdir()) == ["iter_0.json", "iter_2.json"]
    assert [any(k.startswith("eval/") for k in r) for r in rows] == [False, True]
    assert [r["rollout/engine_calls"] for r in rows] == [1, 1]  # the iteration's rounds in one call
    # 16 prompts, each K = 4 samples and at most N = 4 more, each at most rollout.max_new_tokens = 16 tokens
    assert all(0 < r["rollout/generated_tokens"] <= 16 * (4 + 4) * 16 for r in rows)
    assert "timing/eval_s" not in rows[0] or rows[0]["timing/eval_s"] == 0.0
    events = asked_events(run)
    assert [e["iteration"] for e in events] == [1, 2]  # one batch per iteration: a vendor gets one export
    for e, iteration in zip(events, (1, 2), strict=True):
        saved = read_jsonl(run / "rounds" / f"iter_{iteration}.jsonl")
        ids = {RoundItem.from_json(row).query().id for rnd in saved for row in rnd
               if len(set(row["responses"])) > 1}
        assert set(e["query_ids"]) == ids
    first = arms_of(run, 1)
    for r in range(1, 4):  # nothing known in iteration 1: after the uniform round 0, the untried arms in turn
        check_round(first[r], [], f"iter 1 round {r}")
    carried = [c for rnd in round_credits(run, 1) for c in rnd]  # iteration 2: iteration 1's statistics, carried
    for r, arms in enumerate(arms_of(run, 2)):
        check_round(arms, carried, f"iter 2 round {r}")
    assert rows[-1]["train/pairs_trained"] == rows[-1]["train/pairs"]
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["iteration"] == 2


def test_compare_takes_the_delay_as_a_method_option():
    from rayrlhf.experiments.methods import method_config, method_dir

    base = config()
    assert method_config(base, "ucb[transfer.delay=1]").transfer.delay == 1
    assert method_config(base, "ucb+uncertain[transfer.delay=iteration]@2").transfer.delay == "iteration"
    assert method_config(base, "ucb").transfer.delay == 0
    assert method_dir("ucb[transfer.delay=1]") != method_dir("ucb")
    with pytest.raises(Exception, match="Input should be 0, 1 or 'iteration'"):
        method_config(base, "ucb[transfer.delay=2]")


class CountingOracle(AnnotationBackend):
    """A backend that does not declare ``concurrent_ask``: records how many of its asks ever overlapped."""

    def __init__(self):
        self.inner = SimulatedOracle(LengthOracle(), "deterministic", 1.0, 0.0, seed=0)
        self.running, self.most = 0, 0
        self.lock = threading.Lock()

    def ask(self, queries, record):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.2)
        self.inner.ask(queries, record)
        with self.lock:
            self.running -= 1


class FailingOracle(AnnotationBackend):
    concurrent_ask = True

    def ask(self, queries, record):
        raise RuntimeError("the vendor has the queries now")


def test_a_backend_that_does_not_say_it_is_thread_safe_is_asked_one_round_at_a_time(tmp_path):
    backend = CountingOracle()
    coord = Coordinator(config(), str(tmp_path), backend)
    coord.start_iteration(1)
    tickets = [coord.reserve([item(f"{r}{i}", "good", ["xx", "x", "xxx", "y"]) for i in range(2)]) for r in "ab"]
    threads = [threading.Thread(target=coord.collect, args=(t,)) for t in tickets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert backend.most == 1 and coord.metrics()["oracle_queries"] == 4


def test_a_failed_round_keeps_its_queries_in_the_budget_and_is_not_asked_again(tmp_path):
    coord = Coordinator(config(oracle={"budget": 3}), str(tmp_path), FailingOracle())
    coord.start_iteration(1)
    first = [item(f"a{i}", "good", ["xx", "x", "xxx", "y"]) for i in range(2)]
    with pytest.raises(RuntimeError, match="the vendor has the queries"):
        coord.collect(coord.reserve(first))
    # the two posted queries may still be labelled (imported): budget 3 leaves room for 1, a0 is not asked again
    coord.backend = SimulatedOracle(LengthOracle(), "deterministic", 1.0, 0.0, seed=0)
    answers = coord.collect(coord.reserve([first[0], *(item(f"b{i}", "good", ["xx", "x", "xxx", "y"]) for i in range(2))]))
    assert [a is not None for a in answers] == [False, True, False]
    assert coord.metrics()["annotation/over_budget"] == 1 and coord.metrics()["oracle_queries"] == 1
