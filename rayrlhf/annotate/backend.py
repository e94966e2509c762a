"""The oracle backend contract: every member a run uses, with defaults (docs/extending.md, "An oracle backend").

A backend answers queries ("best and worst of these K responses") for the coordinator. It subclasses
:class:`AnnotationBackend` and implements :meth:`~AnnotationBackend.ask`; the rest has defaults it may override.
"""

from __future__ import annotations

from typing import ClassVar

from rayrlhf.core.records import Query, Record


class AnnotationBackend:
    """Who answers a run's queries.

    - ``concurrent_ask``: True if two rounds may be asked at once from two threads (``transfer.delay``); otherwise
      the coordinator asks one call at a time.
    - ``answers_wait_in_queue``: True if a query asked when the run stops keeps waiting for its answer outside the run
      (a web queue, a vendor's batch) and a resume records it; otherwise a stopping run first gives the rounds it
      has open time to be answered, so what is being paid for reaches the ledger.
    - ``iteration``: the iteration whose queries are being asked (set by :meth:`start_iteration`)."""

    concurrent_ask: ClassVar[bool] = False
    answers_wait_in_queue: ClassVar[bool] = False
    iteration: int | None = None

    def ask(self, queries: list[Query], record: Record) -> None:
        """Hand each answer to ``record`` the moment it arrives (any order; ``record`` writes it durably before it
        returns); return when every query is answered, abstained or given up on (timed out: not paid, not
        recorded). Never blocks forever."""
        raise NotImplementedError(f"{type(self).__name__} must implement ask(queries, record)")

    def start_iteration(self, iteration: int) -> None:
        """The queries asked from now on belong to ``iteration`` (people backends file them under it)."""
        self.iteration = iteration

    def iteration_figures(self, iteration: int) -> dict[str, float]:
        """Figures of ``iteration`` for its metrics row, as ``annotation/<key>`` (people's waiting, say); none by default."""
        return {}

    @property
    def url(self) -> str | None:
        """Where people answer, if the backend serves a page; None by default."""
        return None

    def close(self) -> None:
        """Stop what the backend runs (a server, threads); nothing by default."""


def require_backend(backend: object, named: str) -> AnnotationBackend:
    """``backend`` if it is an :class:`AnnotationBackend`, else a one-line error naming ``named`` and the fix."""
    if not isinstance(backend, AnnotationBackend):
        raise TypeError(f"{named}: {type(backend).__module__}.{type(backend).__qualname__} is not an oracle backend; "
                        "subclass rayrlhf.annotate.backend.AnnotationBackend (it gives defaults for everything but ask)")
    return backend
