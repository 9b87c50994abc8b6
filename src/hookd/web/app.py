"""The ASGI application: endpoint paths go straight to the receiver (the hot path skips
routing); everything else goes to a small Starlette app."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from hookd.errors import StoreError
from hookd.heap import settle_heap
from hookd.reload import Reloader
from hookd.store.base import Store
from hookd.store.database_url import display_url
from hookd.web.api_mounts import build_auth, operating_routes, retention_hooks
from hookd.web.receive import Receiver

Service = Callable[[], Awaitable[None]]


class HookdApp:
    """The whole HTTP surface, over the configuration `reloader` keeps in force.
    `lifespan_hooks` start after the store opens (e.g. workers) and are awaited for
    shutdown in reverse order."""

    def __init__(
        self,
        reloader: Reloader,
        store: Store,
        lifespan_hooks: Sequence[Callable[[], contextlib.AbstractAsyncContextManager[None]]] = (),
    ) -> None:
        self.live = reloader.live
        config = self.config = self.live.config  # as the server started: its fixed settings
        self.store = store
        self.receiver = Receiver(self.live, store)
        self._auth = build_auth(config, store)
        self._hooks = [*lifespan_hooks, *retention_hooks(self.live, store)]
        self.site = Starlette(
            routes=[
                Route("/healthz", self.healthz),
                Route("/readyz", self.readyz),
                *operating_routes(reloader, store, self._auth),
            ],
            lifespan=self.lifespan,
            exception_handlers={404: not_found},
        )

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        await self.store.open()
        try:
            async with contextlib.AsyncExitStack() as stack:
                for hook in self._hooks:
                    await stack.enter_async_context(hook())
                settle_heap()
                yield
        finally:
            await self.store.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        config = self.live.config  # once: the request is decided under it to the end
        if scope["type"] == "http" and scope["path"] in config.routes:
            await self.receiver(scope, receive, send, config)
            return
        await self.site(scope, receive, send)

    async def healthz(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        """200 if a delivery could be committed now, else 503 (see `Store.probe`). Which
        database, and why not, only for who may use the API: the bearer token or a signed-in
        session (without a token, a loopback Host); anyone else learns ready or not."""
        try:
            await self.store.probe()
            failure = None
        except StoreError as exc:
            failure = str(exc)
        body = {"status": "unavailable" if failure else "ready"}
        if (await self._auth.check(request, "GET", None)).allowed:
            body["database"] = display_url(self.config.server.database)
            if failure:
                body["error"] = failure
        headers = {"Cache-Control": "no-store"}
        return JSONResponse(body, status_code=503 if failure else 200, headers=headers)


async def not_found(_request: Request, _exc: Exception) -> Response:
    """Unknown paths get one sentence and no hint of which paths exist."""
    return JSONResponse({"error": "Not found."}, status_code=404)
