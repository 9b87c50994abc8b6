"""The loopback HTTP server under the tests' fakes of outside services (a forge's API, its
hooks' delivery logs, smee.io, a relay's target): a real `ThreadingHTTPServer` on
127.0.0.1, port 0, served on a thread while the `with` block lasts."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LocalHttpServer:
    """Call `serve(handler)` when the fake is built; use the fake as a context manager."""

    def serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True  # a request still streaming never holds up exit
        # Polled every 50 ms for shutdown, so a test's `with` block ends promptly.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
