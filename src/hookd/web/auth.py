"""Who may use the dashboard, `/api` and `/metrics`, and how state-changing requests are
kept safe from other sites.

- With `server.token` set: `Authorization: Bearer <token>` (compared in constant time), or
  the session cookie that signing in at `/login` sets. The cookie is HttpOnly and
  SameSite=Strict, signed with a key derived from the token (changing the token signs
  everyone out), and holds no secret: only a random CSRF token.
- Without a token hookd listens on loopback only (config refuses otherwise), and answers
  only requests whose Host is a loopback name, so a web page cannot reach it by pointing
  its own domain at 127.0.0.1 (DNS rebinding).
- A state-changing request that does not carry the bearer token must come from the
  dashboard's own origin (Origin / Sec-Fetch-Site), and a browser session must send its
  CSRF token (form field `csrf` or header `X-CSRF-Token`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

SESSION_COOKIE = "hookd_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 7 * 24 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Session:
    """A browser's session: only the CSRF token its forms and scripts must send back."""

    csrf: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a request may go on; if not, the status and the sentence to answer."""

    status: int = 200
    reason: str = ""
    session: Session | None = None

    @property
    def allowed(self) -> bool:
        return self.status == 200


class Auth:
    def __init__(self, token: str | None, host: str) -> None:
        self._token = token.encode() if token else None
        self._host = host
        # Without a token the key only has to outlive this process's sessions.
        key = (
            hmac.new(self._token, b"hookd dashboard session v1", hashlib.sha256).digest()
            if self._token
            else os.urandom(32)
        )
        self._signer = URLSafeTimedSerializer(key, salt="hookd-session")

    @property
    def required(self) -> bool:
        """True when a token is set: requests must prove they know it."""
        return self._token is not None

    def token_matches(self, candidate: str) -> bool:
        if self._token is None:
            return False
        return hmac.compare_digest(candidate.encode("utf-8", "surrogateescape"), self._token)

    def bearer(self, connection: HTTPConnection) -> bool:
        scheme, _, credentials = connection.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and self.token_matches(credentials.strip())

    def session(self, connection: HTTPConnection) -> Session | None:
        cookie = connection.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        try:
            data = self._signer.loads(cookie, max_age=SESSION_SECONDS)
        except BadSignature:
            return None
        csrf = data.get("csrf") if isinstance(data, dict) else None
        return Session(csrf) if isinstance(csrf, str) else None

    @staticmethod
    def new_session() -> Session:
        return Session(secrets.token_urlsafe(32))

    def set_session(self, request: Request, response: Response, session: Session) -> None:
        """Give the browser `session` as the signed, HttpOnly, SameSite=Strict cookie."""
        response.set_cookie(
            SESSION_COOKIE,
            self._signer.dumps({"csrf": session.csrf}),
            max_age=SESSION_SECONDS,
            path="/",
            secure=_over_https(request),
            httponly=True,
            samesite="strict",
        )

    @staticmethod
    def end_session(response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")

    def host_allowed(self, connection: HTTPConnection) -> bool:
        """With a token any Host will do; without one, only loopback names."""
        if self.required:
            return True
        host = connection.headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.strip("[]").lower()
        return name in ("localhost", self._host.lower()) or _is_loopback(name)

    def check(self, connection: HTTPConnection, method: str, csrf: str | None) -> Verdict:
        """May this request go on? `csrf` is the token a state-changing request sent."""
        if not self.host_allowed(connection):
            return Verdict(403, HOST_REFUSED)
        if self.bearer(connection):
            return Verdict()
        session = self.session(connection)
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
        verdict = self.auth.check(connection, scope["method"], connection.headers.get(CSRF_HEADER))
        if not verdict.allowed:
            headers = {"WWW-Authenticate": "Bearer"} if verdict.status == 401 else None
            response = JSONResponse({"error": verdict.reason}, verdict.status, headers)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
