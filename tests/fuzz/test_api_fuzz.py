"""Schema fuzzing in CI (tests/support/fuzz.py): the annotation API and `rayrlhf rewards serve`, over 1,000 generated
requests in all, none a server error, every reply documented (401 / 404 / 409 / 411 / 413 / 422 included)."""

from rayrlhf.annotate.server import create_app
from rayrlhf.annotate.store import QueueSettings, QueueStore
from rayrlhf.rewards.serve import ServedSource, reward_app
from tests.support.annotate import make_queries
from tests.support.fuzz import fuzz_app

PER_OPERATION = 300  # per generation mode: ~600 requests to each app's body-taking route, 1,200 or more in all


def test_the_annotation_api_answers_every_generated_request_as_documented(tmp_path):
    store = QueueStore.for_run(tmp_path)
    store.configure(QueueSettings(undo_window_s=30))
    store.post(make_queries(20), iteration=1)
    token = store.issue_token("alice")
    counts = fuzz_app(create_app(store), token, PER_OPERATION)
    assert set(counts) == {"GET /api/next", "POST /api/answer", "POST /api/undo", "GET /api/progress"}
    sent, distinct = counts["POST /api/answer"]
    assert sent >= 500 and distinct >= 150, counts


def test_the_reward_server_answers_every_generated_request_as_documented():
    sources = {"length": ServedSource("python", lambda p, r, refs: [float(len(x)) for x in r])}
    counts = fuzz_app(reward_app(sources, "s3cret-token"), "s3cret-token", PER_OPERATION)
    assert set(counts) == {"GET /healthz", "GET /v1/sources", "GET /v1/stats", "POST /v1/score/{name}"}
    sent, distinct = counts["POST /v1/score/{name}"]
    assert sent >= 500 and distinct >= 150, counts
