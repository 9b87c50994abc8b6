"""A fake GitHub and GitLab that keep their hooks' delivery logs, on loopback, for the
catch-up tests.

`FakeHooks` is a real HTTP server (127.0.0.1, port 0, in a thread). Like the forges it
really posts each delivery to the hook's URL (`target`) and records the attempt with the
answer it got (status 0 when nothing answered), and it answers the documented APIs:

- GitHub: `GET {hook}/deliveries?per_page=&cursor=` newest first, the next page's cursor in
  `Link: <...>; rel="next"`; `POST {hook}/deliveries/{id}/attempts` answers 202 and then
  posts the original signed bytes with the original GUID again, recording a new attempt.
- GitLab: `GET {hook}/events?per_page=&page=` newest first, `X-Next-Page`; `POST
  {hook}/events/{id}/resend` likewise.

Tokens are checked (`Authorization: Bearer`, `PRIVATE-TOKEN`; for the App's hook, the App's
JWT, verified with its public key); an unknown hook is a 404;
`limit(n, hook)` answers the hook's next n listings 429 with `Retry-After: 1`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt

from local_http import LocalHttpServer

GITHUB_TOKEN = "ghp_catch_up_token"
GITLAB_TOKEN = "glpat-catch-up-token"
SECRET = "It's a Secret to Everybody"
GITLAB_SECRET = "gitlab-token-1"


@dataclass
class Delivery:
    """One delivery as the forge keeps it: the bytes and headers it sends every time."""

    key: str
    hook: str
    event: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]


@dataclass
class FakeHooks(LocalHttpServer):
    hooks: set[str] = field(default_factory=set)
    delay: float = 0.0  # seconds each listing takes
    app_id: int | None = None  # with `public_key`: /app/hook takes the App's JWT only
    public_key: Any = None
    target: str = "http://127.0.0.1:9"
    attempts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = iter(range(10_000, 10**9))
        self._limited = 0
        self._limited_hook = ""
        self._pending: list[threading.Thread] = []
        self.serve(_handler(self))

    def __exit__(self, *exc: object) -> None:
        self.settle()
        super().__exit__(*exc)

    def limit(self, times: int, hook: str) -> None:
        """Answer the next `times` listings of `hook` 429 with `Retry-After: 1`."""
        with self._lock:
            self._limited, self._limited_hook = times, hook

    def listings(self, hook: str) -> list[Seen]:
        """The requests for `hook`'s list of deliveries (GitHub) or events (GitLab)."""
        with self._lock:
            return [
                item
                for item in self.seen
                if item.method == "GET" and item.path in (f"{hook}/deliveries", f"{hook}/events")
            ]

    def posts(self) -> list[Seen]:
        with self._lock:
            return [item for item in self.seen if item.method == "POST"]

    def settle(self, timeout: float = 10) -> None:
        """Wait for the redeliveries under way."""
        for thread in list(self._pending):
            thread.join(timeout)

    # The forge's side of webhooks -------------------------------------------------------

    def github(self, hook: str, event: str, payload: dict[str, Any], **kw: Any) -> str:
        """Deliver a GitHub event from `hook` (an API path); return its GUID."""
        guid = str(uuid.uuid4())
        body = json.dumps({**payload, "guid": guid}).encode()
        signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        kind, target_id = _github_target(hook)
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": guid,
            "X-Hub-Signature-256": f"sha256={signature}",
            "X-GitHub-Hook-ID": hook.rsplit("/", 1)[-1] if kind != "integration" else "1",
            "X-GitHub-Hook-Installation-Target-Type": kind,
            "X-GitHub-Hook-Installation-Target-ID": target_id,
        }
        return self._deliver(Delivery(guid, hook, event, body, headers), **kw)

    def gitlab(self, hook: str, payload: dict[str, Any], **kw: Any) -> str:
        """Deliver a GitLab Push Hook from `hook`; return its idempotency key."""
        key = str(uuid.uuid4())
        body = json.dumps({"object_kind": "push", **payload, "key": key}).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Gitlab-Event": "Push Hook",
            "X-Gitlab-Token": GITLAB_SECRET,
            "Idempotency-Key": key,
            "X-Gitlab-Event-UUID": str(uuid.uuid4()),
        }
        return self._deliver(Delivery(key, hook, "push_hook", body, headers), **kw)

    def _deliver(
        self,
        delivery: Delivery,
        *,
        recorded: int | None = None,
        ago: float = 0.0,
        post: bool = True,
    ) -> str:
        """Post the delivery now (unless not `post`) and record the attempt, `ago` seconds
        in the past, as `recorded` instead of the real answer when given (the forge saw a
        timeout though hookd stored it)."""
        with self._lock:
            self.deliveries[delivery.key] = delivery
            self.hooks.add(delivery.hook)
        status = self._post(delivery) if post else 0
        self._record(delivery, recorded if recorded is not None else status, ago)
        return delivery.key

    def _post(self, delivery: Delivery) -> int:
        path = "/hooks/github" if "X-GitHub-Event" in delivery.headers else "/hooks/gitlab"
        try:
            answer = httpx.post(
                self.target + path, content=delivery.body, headers=delivery.headers, timeout=10
            )
        except httpx.HTTPError:
            return 0
        return answer.status_code

    def _record(self, delivery: Delivery, status: int, ago: float, redelivery: bool = False) -> int:
        at = datetime.now(UTC) - timedelta(seconds=ago)
        with self._lock:
            forge_id = next(self._ids)
            self.attempts.setdefault(delivery.hook, []).append(
                {
                    "id": forge_id,
                    "key": delivery.key,
                    "at": at,
                    "status": status,
                    "event": delivery.event,
                    "redelivery": redelivery,
                }
            )
        return forge_id

    def redeliver(self, hook: str, forge_id: int) -> bool:
        with self._lock:
            found = next((a for a in self.attempts.get(hook, []) if a["id"] == forge_id), None)
            delivery = self.deliveries.get(found["key"]) if found else None
        if delivery is None:
            return False

        def again() -> None:
            time.sleep(0.05)  # the forge answers first, then delivers
            self._record(delivery, self._post(delivery), 0, redelivery=True)

        thread = threading.Thread(target=again, daemon=True)
        self._pending.append(thread)
        thread.start()
        return True

    # The forge's API ---------------------------------------------------------------------

    def listing(self, hook: str, forge: str, query: dict[str, str]) -> tuple[list[Any], str | None]:
        """A page of `hook`'s attempts, newest first, and the next page's marker."""
        with self._lock:
            items = sorted(self.attempts.get(hook, []), key=lambda a: a["id"], reverse=True)
        size = min(int(query.get("per_page", "30")), 100)
        marker = query.get("cursor") if forge == "github" else query.get("page")
        start = int(marker or ("0" if forge == "github" else "1"))
        if forge == "gitlab":
            start = (start - 1) * size
        page = items[start : start + size]
        more = start + size < len(items)
        if forge == "github":
            following = str(start + size) if more else None
            return [_github_item(a) for a in page], following
        following = str(start // size + 2) if more else None
        return [_gitlab_item(a, self.deliveries[a["key"]]) for a in page], following


def _github_target(hook: str) -> tuple[str, str]:
    if hook == "/app/hook":
        return "integration", "1"
    if hook.startswith("/orgs/"):
        return "organization", "4242"
    return "repository", "1296269"


def _github_item(attempt: dict[str, Any]) -> dict[str, Any]:
    status = attempt["status"]
    return {
        "id": attempt["id"],
        "guid": attempt["key"],
        "delivered_at": attempt["at"].isoformat().replace("+00:00", "Z"),
        "redelivery": attempt["redelivery"],
        "duration": 0.03,
        "status": "OK" if 200 <= status < 300 else f"Invalid HTTP Response: {status}",
        "status_code": status,
        "event": attempt["event"],
        "action": None,
        "installation_id": None,
        "repository_id": 1296269,
    }


def _gitlab_item(attempt: dict[str, Any], delivery: Delivery) -> dict[str, Any]:
    status = attempt["status"]
    return {
        "id": attempt["id"],
        "url": "http://hookd.example/hooks/gitlab",
        "trigger": attempt["event"],
        "request_headers": {k: v for k, v in delivery.headers.items() if k != "X-Gitlab-Token"},
        "request_data": delivery.body.decode(),
        "response_headers": {},
        "response_body": "",
        "execution_duration": 0.03,
        "response_status": str(status) if status else "internal error",
        "created_at": attempt["at"].isoformat().replace("+00:00", "Z"),
    }


def _handler(fake: FakeHooks) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            return

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self._answer("POST")

        def _answer(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            path = parts.path
            with fake._lock:
                fake.seen.append(Seen(method, path, query))
                limited = (
                    method == "GET" and fake._limited > 0 and path.startswith(fake._limited_hook)
                )
                if limited:
                    fake._limited -= 1
            if limited:
                self._send(429, {"message": "API rate limit exceeded"}, {"Retry-After": "1"})
                return
            gitlab = path.startswith(("/projects/", "/groups/"))
            if not self._authorised(gitlab, path.startswith("/app/")):
                self._send(401, {"message": "Bad credentials"})
                return
            forge = "gitlab" if gitlab else "github"
            for suffix in ("/deliveries", "/events"):
                if method == "GET" and path.endswith(suffix):
                    hook = path.removesuffix(suffix)
                    if hook not in fake.hooks:
                        self._send(404, {"message": "Not Found"})
                        return
                    time.sleep(fake.delay)
                    items, following = fake.listing(hook, forge, query)
                    headers = {}
                    if following and forge == "github":
                        link = f"{fake.url}{path}?per_page={query.get('per_page')}"
                        headers["Link"] = f'<{link}&cursor={following}>; rel="next"'
                    if following and forge == "gitlab":
                        headers["X-Next-Page"] = following
                    self._send(200, items, headers)
                    return
            if method == "POST" and (path.endswith("/attempts") or path.endswith("/resend")):
                pieces = path.split("/")
                hook = "/".join(pieces[:-3])
                if fake.redeliver(hook, int(pieces[-2])):
                    self._send(202 if forge == "github" else 201, {})
                    return
            self._send(404, {"message": "Not Found"})

        def _authorised(self, gitlab: bool, app: bool) -> bool:
            if app:
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                try:
                    jwt.decode(
                        token, fake.public_key, algorithms=["RS256"], issuer=str(fake.app_id)
                    )
                except jwt.PyJWTError:
                    return False
                return True
            if gitlab:
                return self.headers.get("PRIVATE-TOKEN") == GITLAB_TOKEN
            return self.headers.get("Authorization") == f"Bearer {GITHUB_TOKEN}"

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler
