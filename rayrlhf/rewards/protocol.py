"""The reward service's wire format (docs/rewards_service.md), shared by the client (``kind: http``) and
``rayrlhf rewards serve``: pure functions, no HTTP.

Request: ``POST <url>`` with ``{"items": [{"prompt": str, "response": str, "reference": str | null}, ...]}`` and
``Authorization: Bearer <token>``. Answer: ``200`` with ``{"scores": [float, ...]}``, one finite number per item,
in order. Anything else is an error that names what was wrong.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

MAX_ITEMS = 4096  # per request: the server refuses more (413)


class EndpointError(RuntimeError):
    """A reward endpoint answered something the run cannot use, or not at all; the message is one line that names
    the source, the URL (without query or credentials) and what was wrong."""


@dataclass(frozen=True)
class ScoreItem:
    prompt: str
    response: str
    reference: str | None = None

    def key(self) -> str:
        """The cache key of this (prompt, response, reference): a hash, so no text is kept twice on disk."""
        blob = json.dumps([self.prompt, self.response, self.reference], ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def request_body(items: Sequence[ScoreItem]) -> bytes:
    return json.dumps({"items": [{"prompt": i.prompt, "response": i.response, "reference": i.reference}
                                 for i in items]}, ensure_ascii=False).encode("utf-8")


def safe_url(url: str) -> str:
    """``url`` as it may be shown: no user, password, query or fragment (they can hold keys)."""
    p = urlsplit(url)
    host = p.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{p.port}" if p.port else "")
    return urlunsplit((p.scheme, netloc, p.path, "", ""))


def parse_scores(body: bytes, expected: int) -> list[float]:
    """The scores in an answer body, checked: JSON, an object with a ``scores`` list of ``expected`` finite numbers
    (booleans and strings are not numbers). Raises ValueError saying what was wrong."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(f"answered a body that is not JSON (first bytes: {body[:60]!r})") from None
    if not isinstance(data, dict) or not isinstance(data.get("scores"), list):
        raise ValueError('answered JSON without a "scores" list (want {"scores": [float, ...]})')
    scores = data["scores"]
    if len(scores) != expected:
        raise ValueError(f"answered {len(scores)} scores for {expected} items")
    out = []
    for i, s in enumerate(scores):
        if isinstance(s, bool) or not isinstance(s, int | float):
            raise ValueError(f"answered a non-number as score {i}: {str(s)[:40]!r}")
        if not math.isfinite(s):
            raise ValueError(f"answered a non-finite score {i}: {s}")
        out.append(float(s))
    return out


def parse_items(data: object) -> list[ScoreItem]:
    """The items of a request body (the server side). Raises ValueError saying what was wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise ValueError('the body must be {"items": [{"prompt": ..., "response": ..., "reference": ...}, ...]}')
    items = data["items"]
    if len(items) > MAX_ITEMS:
        raise ValueError(f"{len(items)} items in one request; send at most {MAX_ITEMS}")
    out = []
    for i, it in enumerate(items):
        if not isinstance(it, dict) or not isinstance(it.get("prompt"), str) or not isinstance(it.get("response"), str):
            raise ValueError(f"item {i} needs string 'prompt' and 'response'")
        ref = it.get("reference")
        if ref is not None and not isinstance(ref, str):
            raise ValueError(f"item {i}: 'reference' must be a string or null")
        out.append(ScoreItem(it["prompt"], it["response"], ref))
    return out
