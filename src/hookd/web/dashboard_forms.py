"""The dashboard's POST side: reading a form, checking it (origin, CSRF, sign-in), and the
`/login` and `/logout` pages that start and end a session."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hookd.web.auth import CSRF_FIELD, Auth, Verdict, same_origin
from hookd.web.capped_body import read_capped
from hookd.web.sessions import Session

FORM_LIMIT = 16 * 1024
# Scripts and styles only from hookd itself: an injected tag in a payload could not run.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_LOCAL_PATH = re.compile(r"/(?![/\\])[\x21-\x7e]*")
Render = Callable[..., Response]


def page_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site, never another site."""
    if target and _LOCAL_PATH.fullmatch(target):
        return target
    return "/"


async def read_form(request: Request) -> dict[str, str] | None:
    """An urlencoded form body, or None when it is larger than FORM_LIMIT."""
    body = await read_capped(request, FORM_LIMIT)
    if body is None:
        return None
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


class Forms:
    def __init__(self, render: Render, auth: Auth) -> None:
        self.render, self.auth = render, auth

    async def submit(
        self, request: Request, handler: Callable[[Session], Awaitable[Response]]
    ) -> Response:
        """Run `handler` for a form that passes the checks; else say why, as a page."""
        form = await read_form(request)
        if form is None:
            return self._error(request, 413, "That form is too large.")
        verdict = await self.auth.check(request, "POST", form.get(CSRF_FIELD))
        if verdict.status == 401:
            return RedirectResponse("/login", 303)
        if not verdict.allowed:
            return self.refusal(request, verdict)
        return await handler(verdict.session or Session(""))

    def _error(self, request: Request, status: int, message: str) -> Response:
        return self.render(request, None, "error.html", status, message=message)

    def refusal(self, request: Request, verdict: Verdict) -> Response:
        """A refused request's page, with the verdict's headers (Retry-After for 429)."""
        response = self._error(request, verdict.status, verdict.reason)
        response.headers.update(verdict.headers())
        return response

    async def login_page(self, request: Request) -> Response:
        if not self.auth.required:
            return RedirectResponse("/", 303)
        target = safe_next(request.query_params.get("next"))
        return self.render(request, None, "login.html", next=target, error=None)

    async def login(self, request: Request) -> Response:
        if not self.auth.required:
            return RedirectResponse("/", 303)
        form = await read_form(request)
        if form is None:
            return self._error(request, 413, "That form is too large.")
        if not same_origin(request):
            return self._error(request, 403, "Refused: this request came from another site.")
        target = safe_next(form.get("next"))
        verdict = self.auth.attempt(request, form.get("token", ""))
        if verdict.status == 401:
            error = "That token is not the one hookd was given."
        elif not verdict.allowed:
            error = verdict.reason
        else:
            response = RedirectResponse(target, 303)
            self.auth.set_session(request, response, self.auth.sessions.new())
            return response
        page = self.render(request, None, "login.html", verdict.status, next=target, error=error)
        if verdict.status == 429:
            page.headers.update(verdict.headers())
        return page

    async def logout(self, request: Request) -> Response:
        async def sign_out(session: Session) -> Response:
            response = RedirectResponse("/login" if self.auth.required else "/", 303)
            await self.auth.end_session(session, response)
            return response

        return await self.submit(request, sign_out)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/login", self.login_page, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
        ]


def login_url(path: str) -> str:
    return f"/login?{urlencode({'next': path})}"
