"""Who may use the dashboard, `/api` and `/metrics`, and how state-changing requests are
kept safe from other sites.

- With `server.token` set: `Authorization: Bearer <token>` (compared in constant time), or
  the session cookie that signing in at `/login` sets (see `hookd.web.sessions`: HttpOnly,
  SameSite=Strict, signed with a key derived from the token, revoked on the server by
  `/logout`).
- A client (peer address; an IPv6 /64) that fails to sign in `server.auth_failures` times
  within `server.auth_window` (a wrong token, a forged or signed-out cookie) gets 429 with
  Retry-After for every token it tries until the window has passed: guessing is slowed to
  that rate. A valid session cookie still works meanwhile (it cannot be guessed).
- Without a token hookd listens on loopback only (config refuses otherwise), and answers
  only requests whose Host is a loopback name, so a web page cannot reach it by pointing
  its own domain at 127.0.0.1 (DNS rebinding).
- A state-changing request that does not carry the bearer token must come from the
  dashboard's own origin (Origin / Sec-Fetch-Site), and a browser session must send its
  CSRF token (form field `csrf` or header `X-CSRF-Token`).
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from dataclasses import dataclass

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hookd.core.ratelimit import FailureLimiter, retry_after_header
from hookd.errors import StoreError
from hookd.web.sessions import SESSION_SECONDS, Session, Sessions

SESSION_COOKIE = "hookd_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOO_MANY = "Too many failed sign-ins from your address; try again in {seconds} seconds."


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a request may go on; if not, the status and the sentence to answer (and,
    for 429, how many seconds to wait)."""

    status: int = 200
    reason: str = ""
    session: Session | None = None
    retry_after: float | None = None

    @property
    def allowed(self) -> bool:
        return self.status == 200

    def headers(self) -> dict[str, str]:
        """The headers a refusal carries: WWW-Authenticate for 401, Retry-After for 429."""
        if self.status == 401:
            return {"WWW-Authenticate": "Bearer"}
        if self.retry_after is not None:
            return {"Retry-After": retry_after_header(self.retry_after)}
        return {}


class Auth:
    def __init__(self, token: str | None, host: str, sessions: Sessions, limiter: FailureLimiter):
        self._token = token.encode() if token else None
        self._host = host
        self.sessions = sessions
        self._limiter = limiter

    @property
    def required(self) -> bool:
        """True when a token is set: requests must prove they know it."""
        return self._token is not None

    def held_back(self, connection: HTTPConnection) -> Verdict | None:
        """429 for a client that failed too often lately, else None."""
        wait = self._limiter.retry_after(_client(connection), time.monotonic())
        if wait is None:
            return None
        return Verdict(429, TOO_MANY.format(seconds=retry_after_header(wait)), retry_after=wait)

    def failed(self, connection: HTTPConnection) -> None:
        """Count a failed sign-in of this request's client."""
        self._limiter.fail(_client(connection), time.monotonic())

    def attempt(self, connection: HTTPConnection, candidate: str) -> Verdict:
        """Check a token a client offered (login form, bearer): 429 while it is held back,
        401 (counted) for a wrong one."""
        held = self.held_back(connection)
        if held is not None:
            return held
        if self._token is not None and hmac.compare_digest(
            candidate.encode("utf-8", "surrogateescape"), self._token
        ):
            return Verdict()
        self.failed(connection)
        return Verdict(401, "Sign in, or send Authorization: Bearer <token>.")

    async def session(self, connection: HTTPConnection) -> Session | Verdict | None:
        """The request's valid session; None without one (no cookie, or, without a token,
        a stale one); else the refusal of its cookie. A forged cookie is a failed sign-in
        (see `Refused`); a stale one is not, so an open tab polling with it after a
        logout cannot lock its user out."""
        cookie = connection.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        try:
            loaded = await self.sessions.load(cookie)
        except StoreError as exc:
            return Verdict(503, f"The store could not answer: {exc}")
        if isinstance(loaded, Session):
            return loaded
        if not self.required:
            return None
        held = self.held_back(connection)
        if held is not None:
            return held
        if loaded == "forged":
            self.failed(connection)
        return Verdict(401, "Your session has ended; sign in again.")

    def set_session(self, request: Request, response: Response, session: Session) -> None:
        """Give the browser `session` as the signed, HttpOnly, SameSite=Strict cookie."""
        response.set_cookie(
            SESSION_COOKIE,
            self.sessions.cookie(session),
            max_age=SESSION_SECONDS,
            path="/",
            secure=_over_https(request),
            httponly=True,
            samesite="strict",
        )

    async def end_session(self, session: Session, response: Response) -> None:
        """Revoke `session` on the server (its cookie is refused from now on, by every
        receiver on the database) and ask the browser to forget it."""
        if session.csrf:
            await self.sessions.revoke(session)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")

    def host_allowed(self, connection: HTTPConnection) -> bool:
        """With a token any Host will do; without one, only loopback names."""
        if self.required:
            return True
        host = connection.headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.strip("[]").lower()
        return name in ("localhost", self._host.lower()) or _is_loopback(name)

    async def check(self, connection: HTTPConnection, method: str, csrf: str | None) -> Verdict:
        """May this request go on? `csrf` is the token a state-changing request sent."""
        if not self.host_allowed(connection):
            return Verdict(403, HOST_REFUSED)
        scheme, _, credentials = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip() and self.required:
            return self.attempt(connection, credentials.strip())
        session = await self.session(connection)
        if isinstance(session, Verdict):
            return session
        if self.required and session is None:
            return Verdict(401, "Sign in, or send Authorization: Bearer <token>.")
        if method in SAFE_METHODS:
            return Verdict(session=session)
        if not same_origin(connection):
            return Verdict(403, "Refused: this request came from another site.")
        if session is not None and (csrf is None or not hmac.compare_digest(csrf, session.csrf)):
            return Verdict(403, "Refused: the form is stale or not hookd's; reload the page.")
        return Verdict(session=session)


HOST_REFUSED = (
    "hookd answers its dashboard and API only at a loopback address (127.0.0.1, ::1, "
    "localhost) while no server.token is set."
)


def _client(connection: HTTPConnection) -> str | None:
    """The address failures are counted for: the peer (a proxy in front of hookd makes all
    its clients one, so a guessing client there holds the others back too)."""
    return connection.client.host if connection.client else None


def _is_loopback(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _over_https(request: Request) -> bool:
    """Whether the browser came over HTTPS, directly or through a TLS-terminating proxy.
    Believing the proxy's header from anyone is safe here: it can only make the cookie
    stricter (Secure) for the one who sent it."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def same_origin(connection: HTTPConnection) -> bool:
    """False when the browser says the request came from another origin. Requests without
    either header come from programs, which carry no ambient credentials to abuse."""
    origin = connection.headers.get("origin")
    if origin is not None:
        host = origin.split("://", 1)[-1].lower()
        # A proxy may rewrite Host and say the browser's in X-Forwarded-Host; a page on
        # another site cannot set that header on a request the browser sends for it.
        forwarded = connection.headers.get("x-forwarded-host", "").split(",")[0].strip()
        expected = {connection.headers.get("host", "").lower(), forwarded.lower()} - {""}
        return origin != "null" and host in expected
    fetch_site = connection.headers.get("sec-fetch-site")
    return fetch_site in (None, "same-origin", "none")


class ApiGuard:
    """ASGI middleware in front of `/api` and `/metrics`: JSON 401/403 unless `Auth` says
    yes. A cookie session's state-changing requests must carry the X-CSRF-Token header."""

    def __init__(self, app: ASGIApp, auth: Auth) -> None:
        self.app, self.auth = app, auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        csrf = connection.headers.get(CSRF_HEADER)
        verdict = await self.auth.check(connection, scope["method"], csrf)
        if not verdict.allowed:
            response = JSONResponse({"error": verdict.reason}, verdict.status, verdict.headers())
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
