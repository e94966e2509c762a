"""How a run stops: bounded waits on every actor call, one error type that names the stage and the actor, and
SIGTERM honoured at the next safe point.

Every wait on a remote call goes through :func:`wait`, with the stage's timeout (``run.timeouts``). Actors are
restarted by Ray at most ``run.max_restarts`` times; after that, or when a call times out or raises, the run
stops with a :class:`StageError` that says which stage, which actor and what went wrong. Nothing that was paid
for is lost at that point (answers are in the ledger, rounds on disk), and ``rayrlhf train --resume RUN_DIR``
continues from the last complete iteration.

Ray touch points: ``ray.get`` with a timeout and Ray's error types (:func:`wait`).
"""

from __future__ import annotations

import signal
import threading


class StageError(RuntimeError):
    """A stage of the run failed or timed out. ``resume`` says how to continue."""

    def __init__(self, stage: str, actor: str, problem: str) -> None:
        self.stage, self.actor = stage, actor
        super().__init__(f"stage '{stage}': {actor} {problem}")


class RunStopped(RuntimeError):
    """The run stopped on purpose at a safe point (SIGTERM, the label budget spent); ``--resume`` continues."""

    exit_code = 3


class StopRequested(RunStopped):
    exit_code = 143  # 128 + SIGTERM, what a shell reports for a terminated process


class BudgetSpent(RunStopped):
    exit_code = 3


def _cause(exc: BaseException) -> str:
    from ray.exceptions import RayTaskError

    if isinstance(exc, RayTaskError):
        cause = exc.cause if exc.cause is not None else exc
        return f"raised {type(cause).__name__}: {str(cause).strip().splitlines()[-1] if str(cause).strip() else ''}"
    text = " ".join(str(exc).split())
    return f"died ({text[:400]})"


def describe_learner_failure(exc: BaseException | None) -> str:
    """One line per failed Ray Train worker (rank, error type, the error's first line) instead of the worker
    group's whole repr; a lost node reads as its workers' ``ActorDiedError``."""
    if exc is None:
        return "its thread ended"
    failures = getattr(exc, "worker_failures", None)  # ray.train's WorkerGroupError
    if failures:
        return "; ".join(f"worker {rank}: {type(err).__name__}: {_first_line(err)}" for rank, err in sorted(failures.items()))
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[-600:]}"


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0][:300] if lines else ""


def wait(refs, stage: str, actor: str, timeout_s: float | None):
    """``ray.get(refs)`` bounded by ``timeout_s``; failures become a :class:`StageError` naming ``stage`` and
    ``actor`` (Ray has already retried the call on restarted actors up to ``run.max_restarts`` times). A
    deliberate stop raised inside the actor (:class:`RunStopped`, e.g. waiting for labels) passes through."""
    import ray
    from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

    try:
        return ray.get(refs, timeout=timeout_s)
    except GetTimeoutError:
        raise StageError(stage, actor, f"did not answer within {timeout_s:g}s (run.timeouts.{stage}); it may be "
                         "stuck or the cluster too small for the work") from None
    except RayTaskError as exc:
        if isinstance(exc.cause, RunStopped):
            raise exc.cause from None
        raise StageError(stage, actor, _cause(exc)) from exc
    except RayActorError as exc:
        raise StageError(stage, actor, _cause(exc)) from exc


_STOP = threading.Event()


def install_stop_handler() -> None:
    """SIGTERM (a scheduler preempting the job, ``kill``, Kubernetes) sets a flag the pipeline checks at safe
    points (between rounds and between iterations) instead of tearing the run down mid-write. Installed after
    ``ray.init``, which sets its own handler."""
    _STOP.clear()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: _STOP.set())


def check_stop(where: str) -> None:
    """Raise :class:`StopRequested` at a safe point if SIGTERM arrived."""
    if _STOP.is_set():
        raise StopRequested(f"stopped on SIGTERM at a safe point ({where}); everything paid for is saved")
