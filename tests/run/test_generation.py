"""A round's engine call (rayrlhf/run/generation.py round_requests), by hand."""

from rayrlhf.run.generation import round_requests


def test_a_round_asks_k_for_every_prompt_then_n_for_each_on_a_source_arm():
    texts, arms = ["a", "b", "c", "d"], ["rouge", "self", "judge", "rouge"]
    wanted, counts, by_arm = round_requests(texts, arms, k=4, n=6)
    assert wanted == ["a", "b", "c", "d", "a", "d", "c"] and counts == [4, 4, 4, 4, 6, 6, 6]
    assert by_arm == {"rouge": [0, 3], "judge": [2]}
    given = round_requests(texts, arms, k=4, n=6, samples_given=True)  # the K came from one call for the iteration
    assert given == (["a", "d", "c"], [6, 6, 6], by_arm)
    assert round_requests(["a"], ["self"], 4, 6, samples_given=True) == ([], [], {})
