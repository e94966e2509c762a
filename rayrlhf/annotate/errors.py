"""Errors of the human-annotation loop, shared by the server, the backends and the CLI."""

from __future__ import annotations

from rayrlhf.core.faults import RunStopped

# sysexits.h EX_TEMPFAIL: "a temporary failure; the user is invited to retry later". `rayrlhf train` exits with it
# when the run stops to wait for labels; `rayrlhf train --resume RUN_DIR` continues once they are in.
WAITING_FOR_LABELS_EXIT_CODE = 75


class WaitingForLabels(RunStopped):
    """The run must stop until people or a vendor answer ``pending_count`` queries (they stay queued).

    Picklable (both arguments are in ``args``), so it crosses a Ray actor boundary intact."""

    exit_code = WAITING_FOR_LABELS_EXIT_CODE

    def __init__(self, pending_count: int, message: str) -> None:
        super().__init__(pending_count, message)
        self.pending_count = pending_count
        self.message = message

    def __str__(self) -> str:
        return self.message


class AnnotateError(ValueError):
    """Bad input to the annotation tools (a bad import row, a missing queue); the message names the fix."""


class QueueError(Exception):
    """A request the queue refuses; ``status`` is the HTTP status the server answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return self.message
