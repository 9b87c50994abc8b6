"""Everything the operating side adds to the Starlette app: `/api`, `/metrics`, the
dashboard and its static files, all behind one `Auth` built from `server.token`; and the
daily prune that `server.retention` asks for."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, request_response
from starlette.staticfiles import StaticFiles

from hookd.config import Config
from hookd.config.live import LiveConfig
from hookd.core.ratelimit import FailureLimiter
from hookd.errors import StoreError
from hookd.reload import Reloader
from hookd.retention import daily_prune
from hookd.store.base import Store
from hookd.web import catch_up_views
from hookd.web.api import api_app, error
from hookd.web.auth import ApiGuard, Auth
from hookd.web.dashboard import Dashboard
from hookd.web.metrics import METRICS_CONTENT_TYPE, exposition
from hookd.web.sessions import Sessions


def build_auth(config: Config, store: Store) -> Auth:
    """The one `Auth` of a server: its token, sessions and sign-in failure limiter."""
    token = config.server.token.get_secret_value() if config.server.token else None
    limiter = FailureLimiter(config.server.auth_failures, config.server.auth_window)
    sessions = Sessions(token.encode() if token else None, store)
    return Auth(token, config.server.host, sessions, limiter)


def operating_routes(reloader: Reloader, store: Store, auth: Auth) -> list[BaseRoute]:
    """The routes to add beside /healthz and /readyz."""

    async def metrics(_request: Request) -> Response:
        try:
            body = await exposition(store)
        except StoreError as exc:
            return error(503, f"The store could not answer: {exc}")
        return Response(body, media_type=METRICS_CONTENT_TYPE)

    return [
        Route(
            "/api/catch-up", ApiGuard(request_response(catch_up_views.api_endpoint(store)), auth)
        ),
        Mount("/api", app=api_app(reloader, store, auth)),
        Route("/metrics", ApiGuard(request_response(metrics), auth)),
        Mount("/static", app=StaticFiles(packages=[("hookd.web", "static")]), name="static"),
        *Dashboard(reloader.live, store, auth).routes(),
    ]


def retention_hooks(
    live: LiveConfig, store: Store
) -> list[Callable[[], contextlib.AbstractAsyncContextManager[None]]]:
    """The daily prune, at the `server.retention` in force (none while it is unset)."""
    return [lambda: daily_prune(store, live)]
