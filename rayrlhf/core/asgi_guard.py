"""The guard in front of rayrlhf's HTTP apps (the annotation app, `rayrlhf rewards serve`): a body's declared size
is checked before any of it is read, and every reply carries the security headers."""

from __future__ import annotations

from starlette.responses import JSONResponse

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
]



class GuardMiddleware:
    """Refuses bodies that are too large (413) or of unknown length (411); adds security headers to every reply."""

    def __init__(self, app, max_body_bytes: int) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if scope["method"] in ("POST", "PUT", "PATCH"):
            length = headers.get(b"content-length")
            if length is None or not length.isdigit():
                return await self._refuse(send, 411, "send a Content-Length header with the body")
            if int(length) > self.max_body_bytes:
                return await self._refuse(send, 413, f"request body over {self.max_body_bytes} bytes")

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    async def _refuse(send, status: int, detail: str) -> None:
        await JSONResponse({"detail": detail}, status_code=status, headers={k.decode(): v.decode() for k, v in SECURITY_HEADERS})(
            {"type": "http"}, None, send)
