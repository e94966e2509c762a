"""People answer the oracle's queries: a web annotation app, vendor batches, and their records (docs/annotate.md).

Light to import: the web server (FastAPI, uvicorn) loads only when a server starts.
"""

from rayrlhf.annotate.errors import WAITING_FOR_LABELS_EXIT_CODE, WaitingForLabels

__all__ = ["WAITING_FOR_LABELS_EXIT_CODE", "WaitingForLabels"]
