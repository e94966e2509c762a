"""The error replies of rayrlhf's two HTTP apps (the annotation app, ``rayrlhf rewards serve``) as OpenAPI documents
them: every error is ``{"detail": str}`` with one of these statuses, so a generated client (or a schema fuzzer) knows
every status a route can answer."""

from __future__ import annotations

from pydantic import BaseModel

WHY = {
    401: "missing or unknown bearer token",
    404: "no such query or source",
    409: "the query is closed or already answered, or there is nothing to undo",
    411: "a body without a Content-Length",
    413: "a body over the size limit",
    422: "a body that is not what the route takes (the detail names the field)",
}


class Detail(BaseModel):
    """An error reply: one line saying what was wrong and what to do."""

    detail: str


def errors(*statuses: int) -> dict:
    """The ``responses=`` of a FastAPI route that can answer ``statuses`` (each ``{"detail": str}``)."""
    return {status: {"model": Detail, "description": WHY[status]} for status in statuses}
