"""An ASGI app under uvicorn in a background thread (the annotation app inside a run, servers in tests)."""

from __future__ import annotations

import threading
import time


class AppThread:
    """``uvicorn.Server`` on ``host:port`` (0: a free port) in a daemon thread; :meth:`start` waits until it listens."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, name: str = "rayrlhf-server") -> None:
        import uvicorn

        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=name, daemon=True)
        self.name = name

    def start(self, timeout_s: float = 30.0, hint: str = "port in use?"):
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.name} did not start on {self.server.config.host}:{self.server.config.port} ({hint})")
            time.sleep(0.02)
        return self

    @property
    def url(self) -> str:
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
