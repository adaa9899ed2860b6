"""Serve a simulator on a real localhost port in a background thread (demo ``--serve``,
end-to-end tests across processes, benchmarks)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

from kade.logs import uvicorn_log_config


class BackgroundServer:
    """A uvicorn server for one ASGI app on 127.0.0.1, started and stopped from sync code."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        if port == 0:
            with socket.socket() as sock:
                sock.bind((host, 0))
                port = sock.getsockname()[1]
        self.host = host
        self.port = port
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                                log_config=uvicorn_log_config())
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name=f"sim:{port}")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"simulator server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
