"""The dashboard: server-rendered pages (Jinja2, autoescaped) that read fully without
JavaScript; a small script adds live rows, live job logs and local times.

Pages: `/` deliveries (filters in the query string), `/deliveries/{id}`, `/jobs`,
`/jobs/{id}`, `/catch-up` (the redeliveries catch-up asked the forges for). Buttons are
POST forms carrying the session's CSRF token; each answers with a redirect (303) to the
page that shows the result."""

from __future__ import annotations

import codecs
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hookd.config import Config
from hookd.config.live import LiveConfig
from hookd.core import vocabulary
from hookd.core.delivery import Body
from hookd.core.redaction import redact_body_text
from hookd.core.vocabulary import FINISHED_JOB_STATUSES, DeliveryStatus, JobStatus
from hookd.errors import NotFound, StoreError
from hookd.intake import untraced_reason
from hookd.replay import NotReplayable, replay_delivery
from hookd.store.base import Store
from hookd.store.records import DeliveryQuery, JobQuery
from hookd.web import api_models as models
from hookd.web import catch_up_views
from hookd.web.api import MAX_JOBS, BadRequest, parse_query
from hookd.web.api_views import delivery_detail
from hookd.web.auth import Auth
from hookd.web.dashboard_forms import Forms, login_url, page_headers
from hookd.web.sessions import Session

PAGE_SIZE = 50
TREE_LIMIT = 256 * 1024
TEXT_LIMIT = 1024 * 1024
Handler = Callable[[Request, Session], Awaitable[Response]]


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("hookd.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = lambda moment: moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""
    env.filters["iso"] = lambda moment: moment.isoformat() if moment else ""
    return env


class Dashboard:
    def __init__(self, live: LiveConfig, store: Store, auth: Auth) -> None:
        self.live, self.store, self.auth = live, store, auth
        self.env = environment()
        self.forms = Forms(self.render, auth)

    @property
    def config(self) -> Config:
        """The configuration in force."""
        return self.live.config

    def render(
        self, request: Request, session: Session | None, name: str, status: int = 200, **values: Any
    ) -> Response:
        html = self.env.get_template(name).render(
            csrf=session.csrf if session else "",
            signed_in=self.auth.required and session is not None,
            path=request.url.path,
            **values,
        )
        return HTMLResponse(html, status, headers=page_headers())

    def page(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """A GET page: sign-in first when a token is set; errors as pages, not tracebacks."""

        async def endpoint(request: Request) -> Response:
            verdict = await self.auth.check(request, "GET", None)
            if verdict.status == 401:
                return RedirectResponse(login_url(request.url.path + _query(request)), 303)
            if not verdict.allowed:
                return self.forms.refusal(request, verdict)
            session = verdict.session or self.auth.sessions.new()
            response = await self._answer(handler, request, session)
            if verdict.session is None:
                self.auth.set_session(request, response, session)
            return response

        return endpoint

    async def _answer(self, handler: Handler, request: Request, session: Session) -> Response:
        try:
            return await handler(request, session)
        except NotFound as exc:
            sentence = f"{exc}."
            return self.render(
                request, session, "error.html", 404, message=sentence[:1].upper() + sentence[1:]
            )
        except StoreError as exc:
            return self.render(
                request, session, "error.html", 503, message=f"The store could not answer: {exc}"
            )

    async def deliveries(self, request: Request, session: Session) -> Response:
        params = {k: v for k, v in request.query_params.items() if v}
        values: dict[str, Any] = {"filters": params, "records": [], "error": None, "next": None}
        values.update(endpoints=list(self.config.endpoints), hooks=list(self.config.hooks))
        values.update(statuses=vocabulary.values(DeliveryStatus), live=None)
        try:
            filters = parse_query(models.DeliveryFilters, params)
        except BadRequest as exc:
            values["error"] = str(exc)
            return self.render(request, session, "deliveries.html", 400, **values)
        records = await self.store.list_deliveries(DeliveryQuery(**filters.model_dump()))
        values["records"] = records
        if len(records) == filters.limit:
            values["next"] = "?" + urlencode({**params, "before": records[-1].id})
        if filters.before is None:
            live = {k: v for k, v in params.items() if k not in ("before", "after")}
            values["live"] = urlencode(live)
        return self.render(request, session, "deliveries.html", **values)

    async def delivery(self, request: Request, session: Session) -> Response:
        delivery_id = request.path_params["id"]
        detail = await self.store.get_delivery(delivery_id)
        jobs = await self.store.list_jobs(JobQuery(limit=MAX_JOBS, delivery_id=delivery_id))
        body = detail.body or b""
        cut = len(body) > TEXT_LIMIT
        if cut:
            # Only the first MiB, raw: parsing and printing all of a 25 MB body to show one
            # would take several times its size.
            view = delivery_detail(self.config, replace(detail, body=None), jobs)
            raw = redact_body_text(detail.content_type, _first_text(body))
            tree, pretty = None, None
        else:
            view = delivery_detail(self.config, detail, jobs)
            payload, raw = view.payload_json, view.payload or ""
            small = detail.record.size <= TREE_LIMIT
            tree = payload if small else None
            pretty = None
            if payload is not None and not small:
                pretty = orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode()[:TEXT_LIMIT]
        return self.render(
            request,
            session,
            "delivery.html",
            d=view,
            tree=tree,
            pretty=pretty,
            raw=raw,
            size=len(body),
            cut=cut,
            replayable=detail.record.status == DeliveryStatus.ACCEPTED and bool(detail.body),
            finished=FINISHED_JOB_STATUSES,
            untraced=untraced_reason(
                self.config, detail.record.endpoint, detail.record.event, detail.record.status
            ),
        )

    async def jobs(self, request: Request, session: Session) -> Response:
        params = {k: v for k, v in request.query_params.items() if v}
        values: dict[str, Any] = {"filters": params, "records": [], "error": None, "next": None}
        values.update(hooks=list(self.config.hooks), statuses=vocabulary.values(JobStatus))
        try:
            filters = parse_query(models.JobFilters, params)
        except BadRequest as exc:
            values["error"] = str(exc)
            return self.render(request, session, "jobs.html", 400, **values)
        query = JobQuery(
            limit=filters.limit, status=filters.status, hook=filters.hook,
            delivery_id=filters.delivery, before=filters.before,
        )  # fmt: skip
        records = await self.store.list_jobs(query)
        values["records"] = records
        if len(records) == filters.limit:
            values["next"] = "?" + urlencode({**params, "before": records[-1].id})
        return self.render(request, session, "jobs.html", **values)

    async def catch_up(self, request: Request, session: Session) -> Response:
        params = {k: v for k, v in request.query_params.items() if v}
        try:
            values = await catch_up_views.page_values(self.store, params)
        except BadRequest as exc:
            values = {"records": [], "next": None, "error": str(exc)}
            return self.render(request, session, "catch_up.html", 400, **values)
        return self.render(request, session, "catch_up.html", error=None, **values)

    async def job(self, request: Request, session: Session) -> Response:
        job = await self.store.get_job(request.path_params["id"])
        data = await self.store.read_log(job.id)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        text = decoder.decode(data)
        offset = len(data) - len(decoder.getstate()[0])
        return self.render(
            request,
            session,
            "job.html",
            job=job,
            log=text,
            offset=offset,
            running=job.status not in FINISHED_JOB_STATUSES,
            now=datetime.now(UTC),
        )

    async def replay(self, request: Request, _session: Session) -> Response:
        delivery_id = request.path_params["id"]
        recorded = await replay_delivery(self.store, self.config, delivery_id, datetime.now(UTC))
        return RedirectResponse(f"/deliveries/{recorded.id}", 303)

    async def cancel(self, request: Request, _session: Session) -> Response:
        job = await self.store.cancel_job(request.path_params["id"], datetime.now(UTC))
        return RedirectResponse(f"/jobs/{job.id}", 303)

    async def retry(self, request: Request, _session: Session) -> Response:
        job = await self.store.retry_job(request.path_params["id"], datetime.now(UTC))
        return RedirectResponse(f"/jobs/{job.id}", 303)

    def action(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """A POST button: checked by `Forms`, then answered as a page would be."""

        async def run(request: Request, session: Session) -> Response:
            try:
                return await handler(request, session)
            except NotReplayable as exc:
                return self.render(request, session, "error.html", 409, message=str(exc))

        async def endpoint(request: Request) -> Response:
            return await self.forms.submit(request, lambda s: self._answer(run, request, s))

        return endpoint

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.page(self.deliveries)),
            Route("/deliveries/{id}", self.page(self.delivery)),
            Route("/deliveries/{id}/replay", self.action(self.replay), methods=["POST"]),
            Route("/jobs", self.page(self.jobs)),
            Route("/jobs/{id}", self.page(self.job)),
            Route("/jobs/{id}/cancel", self.action(self.cancel), methods=["POST"]),
            Route("/jobs/{id}/retry", self.action(self.retry), methods=["POST"]),
            Route("/catch-up", self.page(self.catch_up)),
            *self.forms.routes(),
        ]


def _first_text(body: Body) -> str:
    """The body's first TEXT_LIMIT bytes as text, less a character the cut splits."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    return decoder.decode(memoryview(body)[:TEXT_LIMIT], final=False)


def _query(request: Request) -> str:
    query = request.url.query
    return f"?{query}" if query else ""
