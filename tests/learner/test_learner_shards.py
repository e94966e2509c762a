"""The learner's shards on a real local Ray (Ray Data): every paid pair reaches a worker, in shards of equal size."""

from types import SimpleNamespace

import pytest

from rayrlhf.core.records import PreferencePair
from rayrlhf.learner.ray_learner import Learner

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.parametrize(("pairs", "workers"), [(9, 2), (10, 4), (3, 3)])
def test_every_paid_pair_is_in_exactly_one_shard(local_ray, pairs, workers):
    """``split(num_workers, equal=True)`` puts every paid pair in exactly one shard (9 pairs over 2 workers: none dropped)."""
    paid = [PreferencePair(f"prompt {i}", f"chosen {i}", f"rejected {i}") for i in range(pairs)]
    shards = Learner._shard(SimpleNamespace(num_workers=workers), paid)
    rows = [[PreferencePair.from_json(row) for row in shard.iter_rows()] for shard in shards]
    assert len({len(r) for r in rows}) == 1  # equal shards: DDP's workers take the same number of steps
    seen = [p for shard in rows for p in shard if p.weight > 0]
    assert sorted(p.prompt for p in seen) == sorted(p.prompt for p in paid)  # each paid pair once, none lost
    assert sum(p.weight == 0.0 for shard in rows for p in shard) == -pairs % workers  # the padding, weight 0


def test_listwise_pairs_keep_their_further_rejected_responses_through_ray_data(local_ray):
    """``transfer.pairs: listwise``: a Plackett-Luce factor's further rejected texts (lists of different lengths, some
    empty) arrive at the workers as they were sent, in order."""
    sent = [PreferencePair(f"prompt {i}", f"chosen {i}", f"rejected {i}", more_rejected=tuple(f"below {i}.{j}" for j in range(i % 3)))
            for i in range(6)]
    shards = Learner._shard(SimpleNamespace(num_workers=2), sent)
    got = sorted((PreferencePair.from_json(row) for shard in shards for row in shard.iter_rows()), key=lambda p: p.prompt)
    assert got == sent
