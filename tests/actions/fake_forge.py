"""A fake GitHub and GitLab on loopback, for the API steps' tests, and the forge's side of
webhooks: signed deliveries posted to a live `hookd serve`.

`FakeForge` is a real HTTP server (127.0.0.1, port 0, in a thread). It records every request
(method, path with query, headers, JSON body) and answers as GitHub's REST API (paths
`/repos/...`, `/app/...`, also under `/api/v3` as GitHub Enterprise serves them) and
GitLab's (`/api/v4/projects/...`) do: created objects with `html_url` / `web_url`, lists
for "find the open one", `{"message": ...}` errors. Tokens are checked (`Authorization:
Bearer` for GitHub, `PRIVATE-TOKEN` for GitLab); a GitHub App's JWT is verified with the
App's public key before an installation token is issued. `script()` queues answers (429
with `Retry-After`, 5xx, 4xx) that take precedence over the normal ones.

Imported by the tests in this folder (`import fake_forge`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import jwt

from conftest import SECRET, LiveServer
from hookd.store import store_for
from hookd.store.base import Store
from hookd.store.records import JobQuery
from local_http import LocalHttpServer

GITHUB_TOKEN = "ghp_test_token"
GITLAB_TOKEN = "glpat-test-token"
GITLAB_SECRET = "gitlab-token-1"
FINISHED = frozenset({"succeeded", "failed", "timed_out", "cancelled"})

Answer = tuple[int, dict[str, str], Any]
T = TypeVar("T")


@dataclass(frozen=True)
class Request:
    """One request the fake received."""

    method: str
    target: str
    headers: dict[str, str]
    body: Any
    at: float

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(urlsplit(self.target).query).items()}


@dataclass
class _Scripted:
    method: str
    pattern: re.Pattern[str]
    answer: Answer
    times: int
    delay: float


@dataclass
class FakeForge(LocalHttpServer):
    """See the module docstring. `open_pulls` / `open_merge_requests` are what the list
    endpoints return (each a dict with at least the fields the query filters on)."""

    app_id: int | None = None
    public_key: Any = None
    tokens: set[str] = field(default_factory=lambda: {GITHUB_TOKEN, GITLAB_TOKEN})
    open_pulls: list[dict[str, Any]] = field(default_factory=list)
    open_merge_requests: list[dict[str, Any]] = field(default_factory=list)
    projects: dict[str, str] = field(default_factory=lambda: {"15": "group/site"})
    requests: list[Request] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    token_lifetime: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._scripted: list[_Scripted] = []
        self._ids = iter(range(1000, 10**9))
        self.serve(_handler(self))

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._scripted.clear()
            self.open_pulls.clear()
            self.open_merge_requests.clear()
            self.token_lifetime = timedelta(hours=1)

    def script(
        self,
        method: str,
        path: str,
        status: int,
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
        delay: float = 0,
    ) -> None:
        """Answer the next `times` requests to `method` + a path matching the regex `path`
        (searched in the path without its query) with `status`, `headers` and JSON `body`,
        after `delay` seconds."""
        with self._lock:
            answer: Answer = (status, dict(headers or {}), body)
            self._scripted.append(_Scripted(method, re.compile(path), answer, times, delay))

    def matching(self, method: str, path: str) -> list[Request]:
        """Requests received so far to `method` and a path matching the regex `path`."""
        with self._lock:
            return [r for r in self.requests if r.method == method and re.search(path, r.path)]

    def wait_for(
        self, method: str, path: str, count: int = 1, timeout: float = 15
    ) -> list[Request]:
        """The first `count` requests matching, once they have arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.matching(method, path)
            if len(found) >= count:
                return found[:count]
            time.sleep(0.02)
        raise AssertionError(f"no {count} x {method} {path} within {timeout}s: {self.requests}")

    def next_id(self) -> int:
        return next(self._ids)

    def _answer(self, request: Request) -> Answer:
        with self._lock:
            self.requests.append(request)
            scripted = next(
                (s for s in self._scripted
                 if s.method == request.method and s.pattern.search(request.path)),
                None,
            )  # fmt: skip
            if scripted is not None:
                scripted.times -= 1
                if scripted.times == 0:
                    self._scripted.remove(scripted)
        if scripted is None:
            return _route(self, request)
        time.sleep(scripted.delay)
        return scripted.answer


def _handler(forge: FakeForge) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads `forge.requests` instead."""

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = Request(
                method=self.command,
                target=self.path,
                headers={name.lower(): value for name, value in self.headers.items()},
                body=json.loads(raw) if raw else None,
                at=time.monotonic(),
            )
            status, headers, body = forge._answer(request)
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler


GITHUB_ROUTES: list[tuple[str, str, Callable[..., Answer]]] = []
GITLAB_ROUTES: list[tuple[str, str, Callable[..., Answer]]] = []


def _route(forge: FakeForge, request: Request) -> Answer:
    path = request.path
    if path.startswith("/api/v4/"):
        if request.headers.get("private-token") not in forge.tokens:
            return 401, {}, {"message": "401 Unauthorized"}
        return _dispatch(GITLAB_ROUTES, forge, request, path.removeprefix("/api/v4"))
    path = path.removeprefix("/api/v3")  # GitHub Enterprise Server serves the API here
    if path.startswith("/app/installations/"):
        return _installation_token(forge, request, path)
    bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
    if bearer not in forge.tokens:
        return 401, {}, {"message": "Bad credentials"}
    return _dispatch(GITHUB_ROUTES, forge, request, path)


def _dispatch(
    routes: list[tuple[str, str, Callable[..., Answer]]],
    forge: FakeForge,
    request: Request,
    path: str,
) -> Answer:
    for method, pattern, handler in routes:
        found = re.fullmatch(pattern, path)
        if method == request.method and found:
            return handler(forge, request, *(unquote(group) for group in found.groups()))
    return 404, {}, {"message": "Not Found"}


def route(routes: list[tuple[str, str, Callable[..., Answer]]], method: str, pattern: str) -> Any:
    def register(handler: Callable[..., Answer]) -> Callable[..., Answer]:
        routes.append((method, pattern, handler))
        return handler

    return register


def _installation_token(forge: FakeForge, request: Request, path: str) -> Answer:
    found = re.fullmatch(r"/app/installations/(\d+)/access_tokens", path)
    if request.method != "POST" or found is None:
        return 404, {}, {"message": "Not Found"}
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    try:
        claims = jwt.decode(token, forge.public_key, algorithms=["RS256"], issuer=str(forge.app_id))
    except jwt.PyJWTError as exc:
        return 401, {}, {"message": f"A JSON web token could not be decoded: {exc}"}
    if claims["exp"] > time.time() + 600:
        return 401, {}, {"message": "'Expiration time' claim ('exp') is too far in the future"}
    issued = f"ghs_installation_{found.group(1)}_{len(forge.issued) + 1}"
    forge.issued.append(issued)
    forge.tokens.add(issued)
    expires = (datetime.now(UTC) + forge.token_lifetime).strftime("%Y-%m-%dT%H:%M:%SZ")
    return 201, {}, {"token": issued, "expires_at": expires, "permissions": {"issues": "write"}}


REPO = r"/repos/([^/]+)/([^/]+)"


@route(GITHUB_ROUTES, "POST", REPO + r"/issues/(\d+)/comments")
def _comment(forge: FakeForge, request: Request, owner: str, repo: str, number: str) -> Answer:
    ident = forge.next_id()
    url = f"https://github.example/{owner}/{repo}/issues/{number}#issuecomment-{ident}"
    return 201, {}, {"id": ident, "html_url": url, "body": request.body["body"]}


@route(GITHUB_ROUTES, "POST", REPO + r"/statuses/([0-9a-f]+)")
def _status(forge: FakeForge, request: Request, owner: str, repo: str, sha: str) -> Answer:
    url = f"https://api.github.example/repos/{owner}/{repo}/statuses/{sha}"
    return 201, {}, {"id": forge.next_id(), "url": url, **request.body}


@route(GITHUB_ROUTES, "POST", REPO + r"/check-runs")
def _check_run(forge: FakeForge, request: Request, owner: str, repo: str) -> Answer:
    ident = forge.next_id()
    url = f"https://github.example/{owner}/{repo}/runs/{ident}"
    return 201, {}, {"id": ident, "html_url": url, **request.body}


@route(GITHUB_ROUTES, "PATCH", REPO + r"/check-runs/(\d+)")
def _complete(forge: FakeForge, request: Request, owner: str, repo: str, ident: str) -> Answer:
    url = f"https://github.example/{owner}/{repo}/runs/{ident}"
    return 200, {}, {"id": int(ident), "html_url": url, **request.body}


@route(GITHUB_ROUTES, "GET", REPO + r"/pulls")
def _pulls(forge: FakeForge, request: Request, owner: str, repo: str) -> Answer:
    query = request.query
    found = [
        pull
        for pull in forge.open_pulls
        if f"{owner}:{pull['head']}" == query.get("head") and pull["base"] == query.get("base")
    ]
    return 200, {}, found


@route(GITHUB_ROUTES, "POST", REPO + r"/pulls")
def _open_pull(forge: FakeForge, request: Request, owner: str, repo: str) -> Answer:
    number = forge.next_id() % 1000 + 1
    url = f"https://github.example/{owner}/{repo}/pull/{number}"
    pull = {"number": number, "html_url": url, "state": "open", **request.body}
    forge.open_pulls.append(pull)
    return 201, {}, pull


@route(GITHUB_ROUTES, "POST", REPO + r"/issues/(\d+)/labels")
def _add_labels(forge: FakeForge, request: Request, owner: str, repo: str, number: str) -> Answer:
    return 200, {}, [{"name": name} for name in request.body["labels"]]


@route(GITHUB_ROUTES, "DELETE", REPO + r"/issues/(\d+)/labels/([^/]+)")
def _remove_label(
    forge: FakeForge, request: Request, owner: str, repo: str, number: str, name: str
) -> Answer:
    if name == "absent":
        return 404, {}, {"message": "Label does not exist"}
    return 200, {}, []


PROJECT = r"/projects/([^/]+)"


@route(GITLAB_ROUTES, "POST", PROJECT + r"/(merge_requests|issues)/(\d+)/notes")
def _note(forge: FakeForge, request: Request, project: str, kind: str, iid: str) -> Answer:
    return 201, {}, {"id": forge.next_id(), "body": request.body["body"], "noteable_iid": int(iid)}


@route(GITLAB_ROUTES, "POST", PROJECT + r"/statuses/([0-9a-f]+)")
def _gitlab_status(forge: FakeForge, request: Request, project: str, sha: str) -> Answer:
    body = request.body
    return 201, {}, {"id": forge.next_id(), "sha": sha, "status": body["state"], **body}


@route(GITLAB_ROUTES, "GET", PROJECT + r"/merge_requests")
def _merge_requests(forge: FakeForge, request: Request, project: str) -> Answer:
    query = request.query
    found = [
        mr
        for mr in forge.open_merge_requests
        if query.get("state") == "opened"
        and mr["source_branch"] == query.get("source_branch")
        and mr["target_branch"] == query.get("target_branch")
    ]
    return 200, {}, found


@route(GITLAB_ROUTES, "POST", PROJECT + r"/merge_requests")
def _open_merge_request(forge: FakeForge, request: Request, project: str) -> Answer:
    iid = forge.next_id() % 1000 + 1
    url = f"https://gitlab.example/{forge.projects.get(project, project)}/-/merge_requests/{iid}"
    merge_request = {"iid": iid, "web_url": url, "state": "opened", **request.body}
    forge.open_merge_requests.append(merge_request)
    return 201, {}, merge_request


@route(GITLAB_ROUTES, "PUT", PROJECT + r"/merge_requests/(\d+)/merge")
def _merge(forge: FakeForge, request: Request, project: str, iid: str) -> Answer:
    url = f"https://gitlab.example/{forge.projects.get(project, project)}/-/merge_requests/{iid}"
    return 200, {}, {"iid": int(iid), "web_url": url, "merge_when_pipeline_succeeds": True}


def encode(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def send_github(
    server: LiveServer, event: str, payload: Mapping[str, Any], path: str = "/hooks/github"
) -> str:
    """Post a signed GitHub delivery; return hookd's id for it (from the 202 answer)."""
    body = encode(payload)
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={digest}",
    }
    return _accepted(httpx.post(server.url + path, content=body, headers=headers, timeout=10))


def send_gitlab(server: LiveServer, event: str, payload: Mapping[str, Any]) -> str:
    """Post a GitLab delivery (`X-Gitlab-Event: Push Hook` ...); return hookd's id for it."""
    headers = {
        "Content-Type": "application/json",
        "X-Gitlab-Event": event,
        "X-Gitlab-Token": GITLAB_SECRET,
        "Idempotency-Key": str(uuid.uuid4()),
    }
    url = server.url + "/hooks/gitlab"
    return _accepted(httpx.post(url, content=encode(payload), headers=headers, timeout=10))


def _accepted(response: httpx.Response) -> str:
    assert response.status_code == 202, (response.status_code, response.text)
    answer = response.json()
    assert answer["hooks"], f"no hook matched: {answer}"
    return str(answer["id"])


def jobs_of(server: LiveServer, delivery: str) -> list[dict[str, Any]]:
    """`hookd jobs --json --delivery ID`: the jobs as the CLI shows them."""
    found = server.hookd("jobs", "--json", "--delivery", delivery).stdout
    return list(json.loads(found))


def read_store(server: LiveServer, work: Callable[[Store], Awaitable[T]]) -> T:
    """Read the server's database through hookd's own SQLite store (as `hookd jobs` and
    `hookd logs` do), without starting a process for every poll. Reads only: the store is
    not opened, since opening checks migrations through a writer, contending with the
    server's writer at every poll."""

    async def read() -> T:
        store = store_for(f"sqlite:///{server.directory / 'hookd.db'}")
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(read())


def stored_jobs(server: LiveServer, delivery: str) -> list[dict[str, Any]]:
    """The delivery's jobs, as `hookd jobs --json --delivery ID` prints them."""
    found = read_store(server, lambda store: store.list_jobs(JobQuery(delivery_id=delivery)))
    return [job.to_json() for job in found]


def stored_log(server: LiveServer, job_id: str) -> str:
    """A job's output, as `hookd logs JOB` prints it."""
    return read_store(server, lambda store: store.read_log(job_id)).decode()


def finished_job(server: LiveServer, delivery: str, timeout: float = 20) -> dict[str, Any]:
    """The delivery's one job, once it has finished."""
    deadline = time.monotonic() + timeout
    while True:
        found = stored_jobs(server, delivery)
        if len(found) == 1 and found[0]["status"] in FINISHED:
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"job not finished in {timeout}s: {found}\n{server.log()}")
        time.sleep(0.1)
