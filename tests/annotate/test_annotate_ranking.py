"""The pure rules of one query's answers: display order, checking a choice, combining overlap (by hand)."""

import pytest

from rayrlhf.annotate.ranking import Vote, check_choice, combine, display_order, to_original


def test_display_order_is_a_stable_permutation_and_not_the_identity_everywhere():
    orders = [display_order(f"id{i}", 4) for i in range(50)]
    assert all(sorted(o) == [0, 1, 2, 3] for o in orders)
    assert orders == [display_order(f"id{i}", 4) for i in range(50)]  # seeded by the id: a resume shows the same order
    assert sum(o != [0, 1, 2, 3] for o in orders) > 40  # shuffled: position says nothing about the source
    first = [o[0] for o in orders]
    assert len(set(first)) == 4  # every response lands in slot 0 for some query


def test_best_and_worst_give_the_partial_ranking_with_the_middle_in_displayed_order():
    assert check_choice(4, 2, 0, None, False) == ([2, 1, 3, 0], True)
    assert check_choice(2, 1, None, None, False) == ([1, 0], False)  # K=2: the best fixes the worst; nothing partial
    assert check_choice(3, None, None, [2, 0, 1], False) == ([2, 0, 1], False)
    assert check_choice(3, None, None, None, True) == (None, False)
    # slots -> original indices: the shown order [2, 0, 1] puts response 2 in slot 0
    assert to_original([2, 0, 1], [0, 1, 2]) == [2, 0, 1]
    assert to_original([2, 0, 1], None) is None


@pytest.mark.parametrize("args, message", [
    ((3, 0, 0, None, False), "must be different"),
    ((3, 0, 3, None, False), "from 0 to 2"),
    ((3, -1, 2, None, False), "from 0 to 2"),
    ((3, 0, None, None, False), "`worst` must be"),
    ((3, None, None, None, False), "give `best` and `worst`"),
    ((3, None, None, [0, 1, 1], False), "permutation"),
    ((3, None, None, [0, 1], False), "permutation"),
    ((3, 0, None, [0, 1, 2], False), "not both"),
    ((3, 0, 1, None, True), "a skip carries no choice"),
])
def test_bad_choices_are_refused_with_the_reason(args, message):
    with pytest.raises(ValueError, match=message):
        check_choice(*args)


def test_combine_overlap_by_borda_by_hand():
    order = [0, 1, 2, 3]
    votes = [
        Vote("a", [0, 1, 2, 3], partial=True, seconds=4.0),   # best 0, worst 3
        Vote("b", [0, 2, 1, 3], partial=True, seconds=6.0),   # best 0, worst 3
        Vote("c", [1, 0, 2, 3], partial=False, seconds=5.0),  # full ranking
        Vote("d", None, partial=False, seconds=1.0),          # skip
    ]
    # points, by hand: partial best 1, worst 0, middle 0.5; full ranking (3 - pos) / 3
    #   0: 1 + 1 + 2/3 = 2.667   1: .5 + .5 + 1 = 2.0   2: .5 + .5 + 1/3 = 1.333   3: 0
    ranking, meta = combine(votes, 4, order)
    assert ranking == [0, 1, 2, 3]
    assert meta["votes"] == 4 and meta["skips"] == 1 and meta["partial"] is True
    assert meta["agreement_best"] == pytest.approx(1 / 3)  # pairs (a,b) agree, (a,c) and (b,c) do not
    assert meta["agreement_worst"] == pytest.approx(1.0)


def test_combine_ties_go_to_best_votes_then_the_random_display_order():
    # two people, opposite best/worst over K=2: points tie, best votes tie -> the displayed order decides
    votes = [Vote("a", [0, 1], False, None), Vote("b", [1, 0], False, None)]
    assert combine(votes, 2, [1, 0])[0] == [1, 0]
    assert combine(votes, 2, [0, 1])[0] == [0, 1]
    assert combine(votes, 2, [0, 1])[1]["agreement_best"] == 0.0
    # all skipped: no label
    assert combine([Vote("a", None, False, 2.0), Vote("b", None, False, 3.0)], 3, [0, 1, 2])[0] is None
    # one vote: kept as given
    assert combine([Vote("a", [2, 0, 1], True, 1.0)], 3, [0, 1, 2]) == ([2, 0, 1], {"votes": 1, "skips": 0, "partial": True})
