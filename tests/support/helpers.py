"""Python sources used by the end-to-end tests (importable inside Ray actors as ``tests.helpers``)."""

import os

from rayrlhf.annotate.backend import AnnotationBackend


def length_then_die_once(prompts, responses, references=None):
    """Scores by length; the first call in a run kills its own process (the reward actor) once."""
    marker = os.environ.get("RAYRLHF_TEST_DIE_ONCE")
    if marker and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return [float(len(r)) for r in responses]


TRACKING = ["tracking.mlflow=true", "tracking.wandb=true", "tracking.wandb_mode=offline"]


def mlflow_runs(root, experiment: str) -> dict[str, dict]:
    """``{run name: {"params": {...}, "status": ..., metric: [(step, value), ...]}}`` from the MLflow file store
    under ``root/mlruns``; two runs with one name fail (a restored trial must continue its own run)."""
    import mlflow

    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    client = mlflow.MlflowClient(tracking_uri=(root / "mlruns").resolve().as_uri())
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no MLflow experiment {experiment!r} under {root}/mlruns"
    out = {}
    for run in client.search_runs([exp.experiment_id]):
        assert run.info.run_name not in out, f"two MLflow runs named {run.info.run_name!r}"
        out[run.info.run_name] = {"params": run.data.params, "status": run.info.status,
                                  **{k: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, k)]
                                     for k in run.data.metrics}}
    return out


def wandb_offline_runs(root) -> list:
    """Offline W&B run directories (``offline-run-*``) anywhere under ``root``."""
    return [p for p in root.rglob("offline-run-*") if p.is_dir()]


def die_while_flag(prompts, responses, references=None):
    """Scores by length, but kills its own process (the reward actor) on every call while the file named by
    ``RAYRLHF_TEST_DIE_FLAG`` exists: a scorer that always crashes, until someone fixes it."""
    flag = os.environ.get("RAYRLHF_TEST_DIE_FLAG")
    if flag and os.path.exists(flag):
        os._exit(1)
    return [float(len(r)) for r in responses]


class BillingOracle(AnnotationBackend):
    """The simulated oracle, counting what it is paid for at the backend: each answer is written (fsynced) to
    ``RUN_DIR/bill.jsonl`` before it is handed to the coordinator. ``RAYRLHF_TEST_ORACLE_DELAY`` seconds per
    answer widen the annotation window for the fault tests."""

    concurrent_ask = True  # as the simulated oracle it wraps (the bill is appended line by line)

    def __init__(self, cfg, run_dir, score):
        from rayrlhf.annotate.oracle import SimulatedOracle

        o = cfg.oracle
        self.inner = SimulatedOracle(score, o.labels, o.temperature, o.abstain_margin, cfg.run.seed)
        self.bill = os.path.join(run_dir, "bill.jsonl")
        self.delay = float(os.environ.get("RAYRLHF_TEST_ORACLE_DELAY", "0"))

    def ask(self, queries, record):
        import time

        from rayrlhf.core.durable import append_jsonl

        def billed(query, answer):
            time.sleep(self.delay)
            append_jsonl(self.bill, [{"query_id": query.id}])
            record(query, answer)

        self.inner.ask(queries, billed)


def length_reward(prompts, responses, references=None):
    """A python source: the response's length in words."""
    return [float(len(r.split())) for r in responses]
