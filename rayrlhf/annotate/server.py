"""The annotation web app (FastAPI, served by uvicorn): one page and a small JSON API over the queue.

Every ``/api`` call needs ``Authorization: Bearer TOKEN`` (``rayrlhf annotate token``): a missing or unknown
token gets 401. Bodies over 16 KiB get 413, bodies without a length 411, malformed answers (a body that is not
UTF-8 JSON included) 422 with a message, unknown queries 404, closed or already answered ones 409. The server binds 127.0.0.1 unless told
otherwise (docs/annotate.md: exposing it behind a reverse proxy or tunnel).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from rayrlhf.annotate import queue
from rayrlhf.annotate.errors import QueueError
from rayrlhf.annotate.idle_time import latest_people_figures
from rayrlhf.annotate.store import QueueStore
from rayrlhf.core.api_docs import errors
from rayrlhf.core.app_thread import AppThread
from rayrlhf.core.asgi_guard import GuardMiddleware

MAX_BODY_BYTES = 16 * 1024
STATIC = Path(str(files("rayrlhf.annotate") / "static"))
class AnswerIn(BaseModel):
    """One answer, in the response numbers shown on the page (0-based display slots)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    query_id: str = Field(min_length=1, max_length=64)
    best: int | None = None
    worst: int | None = None
    ranking: list[int] | None = Field(None, max_length=64)
    skip: bool = False


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "malformed answer: " + "; ".join(parts)


def create_app(store: QueueStore) -> FastAPI:
    app = FastAPI(title="rayrlhf annotate", docs_url=None, redoc_url=None, openapi_url=None)
    bearer = HTTPBearer(auto_error=False)

    def annotator(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:
        name = None if creds is None else store.annotator_for(creds.credentials)
        if name is None:
            detail = ("missing token: send 'Authorization: Bearer TOKEN'" if creds is None else "unknown token") + \
                     " (an organiser makes one with `rayrlhf annotate token RUN_DIR --annotator NAME`)"
            raise HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})
        return name

    @app.exception_handler(QueueError)
    async def _queue_error(request: Request, exc: QueueError) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # a body FastAPI cannot decode at all: the same 422 as any other malformed answer
            return JSONResponse({"detail": "malformed answer: the body is not UTF-8 JSON"}, status_code=422)
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _bad_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_message(exc)}, status_code=422)

    def progress_of(who: str) -> dict:
        """The queue's counts for ``who`` and, under ``people``, the latest iteration's idle share (idle_time.py)."""
        return {**queue.progress(store, who), "people": latest_people_figures(store)}

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict:
        return {"ok": True}

    @app.get("/api/next", responses=errors(401))
    def next_query(who: str = Depends(annotator)) -> dict:
        q = queue.lease_next(store, who)
        return {"query": None if q is None else q.shown(), "progress": progress_of(who)}

    @app.post("/api/answer", responses=errors(401, 404, 409, 411, 413, 422))
    def answer(body: AnswerIn, who: str = Depends(annotator)) -> dict:
        queue.submit(store, who, body.query_id, body.best, body.worst, body.ranking, body.skip)
        return {"ok": True, "progress": progress_of(who)}

    @app.post("/api/undo", responses=errors(401, 409, 411, 413))
    def undo(who: str = Depends(annotator)) -> dict:
        q = queue.undo(store, who)
        return {"query": q.shown(), "progress": progress_of(who)}

    @app.get("/api/progress", responses=errors(401))
    def progress(who: str = Depends(annotator)) -> dict:
        return progress_of(who)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(GuardMiddleware, max_body_bytes=MAX_BODY_BYTES)
    return app


class ServerThread(AppThread):
    """The annotation app in a background thread (for a run that serves its own queue, and for tests)."""

    def __init__(self, store: QueueStore, host: str = "127.0.0.1", port: int = 8765) -> None:
        super().__init__(create_app(store), host, port, name="annotation server")

    def start(self, timeout_s: float = 30.0) -> ServerThread:
        super().start(timeout_s, hint="port in use? set oracle.web.port")
        return self


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve ``RUN_DIR``'s queue in the foreground until interrupted."""
    uvicorn.run(create_app(QueueStore.for_run(run_dir)), host=host, port=port, log_level="info")
