"""The stop messages a fault produces: one line per failed learner worker, not the worker group's repr."""

from ray.exceptions import ActorDiedError
from ray.train.v2.api.exceptions import WorkerGroupError

from rayrlhf.core.faults import StageError, describe_learner_failure


def test_a_lost_learner_worker_reads_as_its_rank_and_first_line():
    died = ActorDiedError()  # what a worker whose node is gone raises
    group = WorkerGroupError("Worker 0 failed: ), distributed_context=DistributedContext(...)" * 20, {1: RuntimeError("out of memory\ndetails"), 0: died})
    text = str(StageError("train", "the Ray Train learner", f"stopped: {describe_learner_failure(group)}"))
    first = str(died).strip().splitlines()[0].strip()
    assert text == (f"stage 'train': the Ray Train learner stopped: worker 0: ActorDiedError: {first}; "
                    "worker 1: RuntimeError: out of memory")
    assert "distributed_context" not in text


def test_other_errors_keep_their_text_and_a_thread_that_ended_says_so():
    assert describe_learner_failure(ValueError("bad\n  shape")) == "ValueError: bad shape"
    assert describe_learner_failure(None) == "its thread ended"
