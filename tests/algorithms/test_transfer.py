"""UCB over win rates, Best-of-N replacement, win accounting and pair construction."""

import math
from collections import Counter

import numpy as np
import pytest

from rayrlhf.algorithms import (
    SELF_ARM,
    ArmStats,
    assign_round,
    choose_pair,
    rank_by_score,
    replace_with_best_of_n,
    self_win_rate,
    transfer_credit,
    ucb_values,
)
from rayrlhf.algorithms.labels import oracle_ranking
from rayrlhf.algorithms.transfer import stated_pairs
from rayrlhf.config import TransferConfig

ARMS = ("rouge", "t5large", SELF_ARM)


def test_ucb_values_by_hand_and_unplayed_arms_first():
    stats = ArmStats(ARMS)
    for won in (True, True, False, True):
        stats.record("t5large", won, 0.55)
    stats.record(SELF_ARM, False, 0.55)
    stats.record(SELF_ARM, True, 0.55)  # self ignores `won`: it always earns 0.55
    v = ucb_values(stats, c=1.0)
    assert v["t5large"] == pytest.approx(3 / 4 + 1 / math.sqrt(4))
    assert v[SELF_ARM] == pytest.approx(0.55 + 1 / math.sqrt(2))
    assert v["rouge"] == math.inf
    assert stats.win_rates()[SELF_ARM] == pytest.approx(0.55)
    assert math.isnan(stats.win_rates()["rouge"])


def test_first_round_is_uniform_then_argmax():
    rng = np.random.default_rng(0)
    stats = ArmStats(ARMS)
    counts = Counter(assign_round(3000, stats, first_round=True, c=1.0, rng=rng))
    assert set(counts) == set(ARMS) and all(900 < n < 1100 for n in counts.values())
    for arm, n, wins in (("rouge", 10, 2), ("t5large", 10, 8), (SELF_ARM, 10, 0)):
        for i in range(n):
            stats.record(arm, i < wins, 0.55)
    assert assign_round(5, stats, first_round=False, c=1.0, rng=rng) == ["t5large"] * 5
    # with a huge bonus the least-played arm wins
    stats.record("t5large", True, 0.55)
    stats.record(SELF_ARM, False, 0.55)
    assert assign_round(1, stats, first_round=False, c=100.0, rng=rng) == ["rouge"]


def test_self_arm_takes_over_when_transfer_stops_winning():
    stats = ArmStats(ARMS)
    for arm in ARMS:
        for _ in range(200):
            stats.record(arm, False, 0.55)  # sources never win any more
    assert assign_round(1, stats, first_round=False, c=1.0, rng=np.random.default_rng(0)) == [SELF_ARM]


def test_stats_round_trip_and_validation():
    stats = ArmStats(ARMS)
    stats.record("rouge", True, 0.55)
    assert ArmStats.from_dict(stats.to_dict()) == stats
    with pytest.raises(ValueError, match="distinct"):
        ArmStats(("a", "a"))


def test_best_of_n_replaces_first_slots_with_top_scored():
    new, mask = replace_with_best_of_n(["k0", "k1", "k2", "k3"], ["n0", "n1", "n2", "n3", "n4"], [0.1, 0.9, 0.5, 0.9, -1], 2)
    assert new == ["n1", "n3", "k2", "k3"]  # ties keep the earlier response first
    assert mask == [True, True, False, False]
    with pytest.raises(ValueError, match="num_replace"):
        replace_with_best_of_n(["a"], ["b"], [1.0], 2)
    with pytest.raises(ValueError, match="scores"):
        replace_with_best_of_n(["a"], ["b", "c"], [1.0], 1)


def test_win_accounting():
    mask = [True, True, False, False]
    ranking = rank_by_score([0.2, 3.0, 1.0, -1.0])
    assert ranking == [1, 2, 0, 3]
    texts = ["a", "b", "c", "d"]
    assert transfer_credit(ranking[0], mask, texts) == 1.0
    assert transfer_credit(rank_by_score([0.2, 0.0, 5.0, -1.0])[0], mask, texts) == 0.0
    # a tie for best between a transfer slot and an online slot: half credit, whichever slot sorted first
    assert transfer_credit(0, mask, texts, scores=[5.0, 1.0, 5.0, 0.0]) == 0.5
    assert transfer_credit(2, mask, texts, scores=[5.0, 1.0, 5.0, 0.0]) == 0.5
    # identical texts tie whatever the scores (a person ranks one of two identical responses first)
    assert transfer_credit(0, mask, ["x", "b", "x", "x"]) == pytest.approx(2 / 3 - 1 / 3)
    assert transfer_credit(1, mask, ["x", "b", "b", "b"], scores=[0.0, 2.0, 2.0, 2.0]) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="transfer-mask"):
        transfer_credit(0, mask, texts[:3])


def _copy_source_credit(rp: int, k: int, levels: int | None, labels: str, prompts: int, seed: int = 0) -> tuple[float, float]:
    """Mean credit of a "source" whose Rp picks are plain draws from the online policy (a copy of it: Best-of-N
    under a source unrelated to the oracle picks, marginally, policy draws), over the prompts the oracle answered.
    Texts come from a small, skewed vocabulary so identical responses are common; oracle scores are the texts'
    qualities rounded to ``levels`` values (``None``: distinct scores). Returns (tie-fair credit, credit under the
    old rule that gave a tie to the first slot)."""
    rng = np.random.default_rng(seed)
    vocab = 12
    probs = 1.0 / np.arange(1, vocab + 1)
    probs /= probs.sum()
    fair, first = [], []
    for _ in range(prompts):
        quality = rng.uniform(0, 1, vocab)
        score = quality if levels is None else np.round(quality * (levels - 1))
        draws = rng.choice(vocab, size=k, p=probs)  # slots 0..rp-1: the source's picks; the rest: online
        texts = [f"t{d}" for d in draws]
        scores = score[draws].tolist()
        ranking = oracle_ranking(scores, labels, 0.3, rng)
        if ranking is None:  # every score equal: the oracle abstains, nothing is credited
            continue
        mask = [i < rp for i in range(k)]
        fair.append(transfer_credit(ranking[0], mask, texts, scores))
        first.append(float(mask[ranking[0]]))
    return float(np.mean(fair)), float(np.mean(first))


@pytest.mark.parametrize(("levels", "labels"), [(3, "deterministic"), (None, "deterministic"), (3, "bradley_terry"),
                                                (None, "bradley_terry")])
@pytest.mark.parametrize(("rp", "k"), [(2, 4), (1, 4), (4, 8)])
def test_a_copy_of_the_online_policy_earns_rp_over_k(levels, labels, rp, k):
    """Every slot is exchangeable, so a copy of the policy holds the best response in Rp/K of its prompts; the
    tie-fair credit must say so (tolerance 0.02: about 3 standard errors over 6,000 prompts)."""
    fair, first = _copy_source_credit(rp, k, levels, labels, prompts=6000)
    assert fair == pytest.approx(rp / k, abs=0.02)
    if labels == "deterministic" and levels is not None:  # coarse scores: the old rule overcredits the source
        assert first > rp / k + 0.05


def test_self_bar_follows_rp_over_k():
    assert self_win_rate(None, 4, 8) == pytest.approx(0.55)  # the paper's bar
    assert self_win_rate(None, 2, 4) == pytest.approx(0.55)
    assert self_win_rate(None, 1, 4) == pytest.approx(0.30)  # a copy of the policy earns 0.25 here
    assert self_win_rate(None, 6, 8) == pytest.approx(0.80)
    assert self_win_rate(0.9, 4, 8) == 0.9


def test_pair_strategies():
    rng = np.random.default_rng(0)
    ranking = [2, 0, 3, 1]
    assert choose_pair(ranking, "max_min", rng) == (2, 1)
    seen = {choose_pair(ranking, "max_random", rng) for _ in range(200)}
    assert seen == {(2, 0), (2, 3), (2, 1)}
    for _ in range(200):
        c, r = choose_pair(ranking, "random", rng)
        assert ranking.index(c) < ranking.index(r)
    with pytest.raises(ValueError, match="pair strategy"):
        choose_pair(ranking, "best", rng)


def test_oracle_ranking_modes():
    rng = np.random.default_rng(0)
    assert oracle_ranking([0.1, 0.5, -2.0], "deterministic", 1.0, rng) == [1, 0, 2]
    assert oracle_ranking([1.0, 1.0], "deterministic", 1.0, rng) is None  # nothing to learn: abstain
    assert oracle_ranking([1.0, 1.2], "deterministic", 1.0, rng, abstain_margin=0.5) is None
    # Bradley-Terry: P(first preferred) = sigmoid((1.0 - 0.0) / 0.5)
    wins = sum(oracle_ranking([1.0, 0.0], "bradley_terry", 0.5, rng)[0] == 0 for _ in range(20000))
    assert wins / 20000 == pytest.approx(1 / (1 + math.exp(-2.0)), abs=0.01)


def test_with_sparse_labels_every_arm_is_tried_before_any_is_repeated():
    """While several arms have no answered prompt (UCB +inf), the round is shared among the untried arms alone, not
    given whole to the first of them in config order."""
    arms = ("a", "b", "c", "d", SELF_ARM)
    stats = ArmStats(arms)
    for _ in range(3):
        stats.record("c", 1.0, 0.55)
    stats.record(SELF_ARM, 0.0, 0.55)
    rng = np.random.default_rng(0)
    got = assign_round(6, stats, first_round=False, c=1.0, rng=rng)
    untried = {"a", "b", "d"}
    assert set(got) == untried and Counter(got) == dict.fromkeys(untried, 2)  # each twice, in turn
    assert set(assign_round(2, stats, first_round=False, c=1.0, rng=rng)) <= untried
    for arm in untried:
        stats.record(arm, 0.0, 0.55)
    assert assign_round(3, stats, first_round=False, c=1.0, rng=rng) == ["c"] * 3  # then UCB as before


def test_scores_equal_but_for_rounding_are_a_tie():
    """r* of 1.9000000000000004 and 1.9 (the same key facts summed in another order) are one score: the credit is
    shared as a tie, not given whole to the transfer slot by one ulp."""
    responses = ("transfer text", "online text", "worse", "worst")
    mask = (True, False, False, False)
    scores = [1.0 + 0.8 + 0.1, 1.9, 0.5, 0.1]
    assert scores[0] != scores[1]  # the float sums really differ
    assert transfer_credit(0, mask, responses, scores) == pytest.approx(0.5)  # tied: the transfer slot's share
    assert transfer_credit(0, mask, responses, [2.0, 1.9, 0.5, 0.1]) == 1.0  # a real difference is no tie
    rng = np.random.default_rng(0)
    assert oracle_ranking([1.9, 1.0 + 0.8 + 0.1], "deterministic", 1.0, rng) is None  # all equal: abstain


def test_a_partial_answer_trains_only_on_the_orders_it_states():
    """A person's best/worst answer is [best, <others in display order>, worst]: the stated pairs are best > each other
    and each other > worst, never two of the unranked middle by display order."""
    ranking = [3, 0, 1, 4, 2]  # best 3, worst 2, middle 0, 1, 4 unranked
    stated = {(3, x) for x in (0, 1, 4, 2)} | {(x, 2) for x in (0, 1, 4)}  # 2K - 3 = 7
    rng = np.random.default_rng(0)
    seen = Counter(choose_pair(ranking, "random", rng, partial=True) for _ in range(7000))
    assert set(seen) == stated and all(800 < n < 1200 for n in seen.values())  # uniform over the stated pairs
    full = {choose_pair(ranking, "random", rng) for _ in range(2000)}
    assert (0, 1) in full  # a full ranking states every order: the middle pairs are fair there
    assert {choose_pair(ranking, "max_random", rng, partial=True) for _ in range(500)} == {(3, x) for x in (0, 1, 4, 2)}


def test_a_pair_of_one_text_is_not_trained_but_counted():
    """A Bradley-Terry draw can rank a duplicated text first and last: that pair has no gradient, so it is counted and
    not trained on."""
    from rayrlhf.core.records import Answer, RoundItem
    from rayrlhf.run.pairs import answer_pairs

    dup = RoundItem("p", None, SELF_ARM, ("same", "other", "same"), (False, False, False), "same")
    fine = RoundItem("q", None, SELF_ARM, ("a", "b", "c"), (False, False, False), "a")
    answers = [Answer("x", [0, 1, 2]), Answer("y", [2, 0, 1]), None]
    pairs, identical = answer_pairs([dup, fine, fine], answers, TransferConfig(), np.random.default_rng(0))
    assert identical == 1 and [(p.prompt, p.chosen, p.rejected, p.weight) for p in pairs] == [("q", "c", "b", 1.0)]


@pytest.mark.parametrize("k", [2, 3, 4, 8])
def test_every_pair_an_answer_states(k):
    """``implied`` = the 2K-3 pairs of a best/worst answer, ``ranking`` = the K(K-1)/2 of a full ranking
    (a partial answer states only its implied ones), each (better, worse); enumerated here from the positions."""
    rng = np.random.default_rng(k)
    ranking = [int(i) for i in rng.permutation(k)]
    pos = {r: i for i, r in enumerate(ranking)}
    full = stated_pairs(ranking, "ranking", "max_min", rng)
    implied = stated_pairs(ranking, "implied", "max_min", rng)
    assert len(full) == len(set(full)) == k * (k - 1) // 2 and all(pos[c] < pos[j] for c, j in full)
    by_hand = {(a, b) for a in range(k) for b in range(k) if pos[a] < pos[b] and (pos[a] == 0 or pos[b] == k - 1)}
    assert len(implied) == len(set(implied)) == 2 * k - 3 and set(implied) == by_hand
    assert stated_pairs(ranking, "ranking", "max_min", rng, partial=True) == implied
    assert stated_pairs(ranking, "best_worst", "max_min", rng) == [(ranking[0], ranking[-1])]


def test_implied_pairs_weigh_one_prompt_and_skip_duplicates():
    from rayrlhf.core.records import Answer, RoundItem
    from rayrlhf.run.pairs import answer_pairs

    item = RoundItem("p", None, SELF_ARM, ("a", "b", "c", "b"), (False,) * 4, "a")
    answer = Answer("x", [0, 1, 3, 2])  # a > b > b(copy) > c: the pair (b, b) has one text
    for weight, each in (("prompt", 1 / 5), ("pair", 1.0)):  # 6 pairs, one of them (b, b) left out
        cfg = TransferConfig(pairs="ranking", pair_weight=weight)
        pairs, identical = answer_pairs([item], [answer], cfg, np.random.default_rng(0))
        assert identical == 1 and len(pairs) == 5 and all(p.weight == pytest.approx(each) for p in pairs)
        assert {(p.chosen, p.rejected) for p in pairs} == {("a", "b"), ("a", "c"), ("b", "c")}


@pytest.mark.parametrize("k", [2, 3, 4, 8])
def test_listwise_factors_are_each_response_over_all_ranked_below(k):
    """``transfer.pairs: listwise``: a full ranking's K-1 Plackett-Luce factors (position i over positions > i); a
    partial answer's: the best over all others, each other over the worst; their pairs are those of ``ranking`` and
    ``implied``. Enumerated here from the positions."""
    from rayrlhf.algorithms.transfer import stated_lists

    rng = np.random.default_rng(k)
    ranking = [int(i) for i in rng.permutation(k)]
    pos = {r: i for i, r in enumerate(ranking)}
    full = stated_lists(ranking)
    assert [c for c, _ in full] == ranking[:-1]
    assert all(set(below) == {x for x in range(k) if pos[x] > pos[c]} for c, below in full)
    assert all(list(below) == sorted(below, key=pos.get) for _, below in full)  # in the ranking's order
    partial = stated_lists(ranking, partial=True)
    assert partial[0] == (ranking[0], tuple(ranking[1:])) and partial[1:] == [(x, (ranking[-1],)) for x in ranking[1:-1]]
    assert sorted(stated_pairs(ranking, "listwise", "max_min", rng)) == sorted(stated_pairs(ranking, "ranking", "max_min", rng))


def test_listwise_answers_become_factors_without_the_chosen_text_among_the_rejected():
    from rayrlhf.core.records import Answer, RoundItem
    from rayrlhf.run.pairs import answer_pairs

    item = RoundItem("p", None, SELF_ARM, ("a", "b", "c", "b"), (False,) * 4, "e")
    answer = Answer("x", [0, 1, 3, 2])  # a > b > b(copy) > c: b's factor over (b, c) keeps only c
    pairs, identical = answer_pairs([item], [answer], TransferConfig(pairs="listwise"), np.random.default_rng(0))
    assert identical == 1
    assert [(p.chosen, p.rejected, p.more_rejected, p.explore) for p in pairs] == [
        ("a", "b", ("b", "c"), "e"), ("b", "c", (), "e"), ("b", "c", (), "e")]
    assert all(p.weight == pytest.approx(1 / 3) for p in pairs)  # one prompt, three factors
    person = Answer("y", [2, 0, 1, 3], partial=True)  # best c, worst b(copy); a and b unranked
    pairs, identical = answer_pairs([item], [person], TransferConfig(pairs="listwise"), np.random.default_rng(0))
    assert identical == 1  # b over b(copy)
    assert [(p.chosen, p.rejected, p.more_rejected) for p in pairs] == [("c", "a", ("b", "b")), ("a", "b", ())]


def test_model_labels_weigh_model_weight_and_replay_picks_earlier_iterations():
    from rayrlhf.core.records import Answer, PreferencePair, RoundItem
    from rayrlhf.run.pairs import answer_pairs, replayed_iterations

    item = RoundItem("p", None, SELF_ARM, ("a", "b", "c"), (False,) * 3, "a")
    model = Answer("x", [2, 0, 1], partial=True, labeller="model", train_weight=0.25)
    pairs, _ = answer_pairs([item], [model], TransferConfig(pairs="implied"), np.random.default_rng(0))
    assert {(p.chosen, p.rejected) for p in pairs} == {("c", "a"), ("c", "b"), ("a", "b")}
    assert all(p.weight == pytest.approx(0.25 / 3) for p in pairs)
    assert PreferencePair.from_json(pairs[0].to_json()) == pairs[0]
    assert replayed_iterations("none", 4) == [] and replayed_iterations("all", 4) == [1, 2, 3]
    assert replayed_iterations("last:2", 4) == [2, 3] and replayed_iterations("last:5", 2) == [1]
    assert replayed_iterations("all", 1) == []


def test_arm_statistics_add_and_discount():
    a = ArmStats(("x", SELF_ARM), {"x": 4, SELF_ARM: 2}, {"x": 3.0, SELF_ARM: 1.1})
    b = ArmStats(("x", SELF_ARM), {"x": 1, SELF_ARM: 0}, {"x": 0.5, SELF_ARM: 0.0})
    both = a.plus(b).discounted(0.5)
    assert both.counts == {"x": 2.5, SELF_ARM: 1.0} and both.wins == pytest.approx({"x": 1.75, SELF_ARM: 0.55})
    assert ucb_values(both, 1.0)["x"] == pytest.approx(1.75 / 2.5 + 1 / 2.5**0.5)


def test_a_model_label_that_states_some_pairs_trains_on_those_pairs_only():
    from rayrlhf.core.records import Answer, RoundItem
    from rayrlhf.run.pairs import answer_pairs

    item = RoundItem("p", None, SELF_ARM, ("a", "b", "c", "d"), (False,) * 4, "a")
    model = Answer("x", [2, 0, 1, 3], partial=True, labeller="model", pairs=[(2, 0), (1, 3)])
    for pairs_setting in ("best_worst", "implied", "ranking", "listwise"):
        pairs, _ = answer_pairs([item], [model], TransferConfig(pairs=pairs_setting), np.random.default_rng(0))
        assert sorted((p.chosen, p.rejected) for p in pairs) == [("b", "d"), ("c", "a")]
