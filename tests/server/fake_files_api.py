"""A fake GitHub, GitLab, Gitea and Bitbucket Cloud REST API on loopback that lists changed
files, as the real ones do: GitHub's pull request files (`per_page`/`page`, rel="next" in
`Link`) and compare (`files`), GitLab's merge request diffs (`X-Next-Page`) and compare
(`diffs`), Gitea's pull request files (`limit`/`page`, `X-HasMore`) under `/api/v1`, and
Bitbucket Cloud's pull request diffstat (`pagelen`/`page`, the body's `next`) under `/2.0`.
Tokens are checked (`Authorization: Bearer`, `PRIVATE-TOKEN`, `Authorization: token`);
`fail` makes a path answer an error. Every request is counted (`requests`).

Imported by the tests in this folder (`import fake_files_api`).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from local_http import LocalHttpServer

GITHUB_TOKEN = "ghp_files_token"
GITLAB_TOKEN = "glpat-files-token"
GITEA_TOKEN = "gitea-files-token"
BITBUCKET_TOKEN = "bitbucket-files-token"
BITBUCKET_PAGELEN = 500  # the most a diffstat page holds here
GITEA_LIMIT = 50  # the most files Gitea's API answers a page here (its MAX_RESPONSE_ITEMS)


@dataclass
class FakeFilesApi(LocalHttpServer):
    """`pulls[(repo, number)]` and `compares[(repo, "base...head")]` are GitHub's files;
    `merge_requests[(project, iid)]` and `gitlab_compares[(project, "from..to")]` GitLab's;
    `gitea_pulls[(repo, number)]` Gitea's; `bitbucket_pulls[(repo, id)]` Bitbucket Cloud's."""

    pulls: dict[tuple[str, int], Sequence[str]] = field(default_factory=dict)
    compares: dict[tuple[str, str], Sequence[str]] = field(default_factory=dict)
    merge_requests: dict[tuple[str, int], Sequence[str]] = field(default_factory=dict)
    gitlab_compares: dict[tuple[str, str], Sequence[str]] = field(default_factory=dict)
    gitea_pulls: dict[tuple[str, int], Sequence[str]] = field(default_factory=dict)
    bitbucket_pulls: dict[tuple[str, int], Sequence[str]] = field(default_factory=dict)
    failing: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.serve(_handler(self))

    def fail(self, path: str, status: int) -> None:
        """Answer `status` to every request whose path matches the regex `path`."""
        with self._lock:
            self.failing[path] = status

    def count(self, path: str) -> int:
        """Requests so far whose path matches the regex `path`."""
        with self._lock:
            return sum(1 for target, _ in self.requests if re.search(path, target))

    def answer(self, target: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            self.requests.append((target, headers))
            failing = dict(self.failing)
        parts = urlsplit(target)
        path, query = unquote(parts.path), {k: v[0] for k, v in parse_qs(parts.query).items()}
        for pattern, status in failing.items():
            if re.search(pattern, path):
                return status, {}, {"message": "Server Error"}
        if path.startswith("/2.0/"):
            if headers.get("authorization") != f"Bearer {BITBUCKET_TOKEN}":
                return 401, {}, {"type": "error", "error": {"message": "Unauthorized"}}
            return self._bitbucket(path, query)
        if path.startswith("/api/v1/"):
            if headers.get("authorization") != f"token {GITEA_TOKEN}":
                return 401, {}, {"message": "token is required"}
            return self._gitea(path.removeprefix("/api/v1"), query)
        if path.startswith("/api/v4/"):
            if headers.get("private-token") != GITLAB_TOKEN:
                return 401, {}, {"message": "401 Unauthorized"}
            return self._gitlab(path.removeprefix("/api/v4"), query)
        if headers.get("authorization") != f"Bearer {GITHUB_TOKEN}":
            return 401, {}, {"message": "Bad credentials"}
        return self._github(path, query)

    def _github(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        found = re.fullmatch(r"/repos/([^/]+/[^/]+)/pulls/(\d+)/files", path)
        if found and (found[1], int(found[2])) in self.pulls:
            files = self.pulls[(found[1], int(found[2]))]
            per_page, page = int(query.get("per_page", "30")), int(query.get("page", "1"))
            chunk = files[(page - 1) * per_page : page * per_page]
            headers = {}
            if page * per_page < len(files):
                url = f"{self.url}{path}?per_page={per_page}&page={page + 1}"
                headers["Link"] = f'<{url}>; rel="next"'
            return 200, headers, [{"filename": name, "status": "modified"} for name in chunk]
        found = re.fullmatch(r"/repos/([^/]+/[^/]+)/compare/(.+)", path)
        if found and (found[1], found[2]) in self.compares:
            files = self.compares[(found[1], found[2])]
            return 200, {}, {"files": [{"filename": name} for name in files]}
        return 404, {}, {"message": "Not Found"}

    def _bitbucket(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        """Bitbucket Cloud's pull request diffstat: `pagelen` and `page`, the next page's URL
        in the body's `next`, each file as `new.path` / `old.path`."""
        found = re.fullmatch(r"/2.0/repositories/([^/]+/[^/]+)/pullrequests/(\d+)/diffstat", path)
        if not found or (found[1], int(found[2])) not in self.bitbucket_pulls:
            return 404, {}, {"type": "error", "error": {"message": "Not found"}}
        files = self.bitbucket_pulls[(found[1], int(found[2]))]
        size = min(int(query.get("pagelen", "500")), BITBUCKET_PAGELEN)
        page = int(query.get("page", "1"))
        chunk = files[(page - 1) * size : page * size]
        values = [{"status": "modified", "old": {"path": n}, "new": {"path": n}} for n in chunk]
        body: dict[str, Any] = {"pagelen": size, "page": page, "values": values}
        if page * size < len(files):
            body["next"] = f"{self.url}{path}?pagelen={size}&page={page + 1}"
        return 200, {}, body

    def _gitea(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        """Gitea's pull request files: `page` and `limit` (capped), `X-HasMore` and
        `X-Total-Count` (Gitea's API, "List a pull request's changed files")."""
        found = re.fullmatch(r"/repos/([^/]+/[^/]+)/pulls/(\d+)/files", path)
        if not found or (found[1], int(found[2])) not in self.gitea_pulls:
            return 404, {}, {"message": "The target couldn't be found."}
        files = self.gitea_pulls[(found[1], int(found[2]))]
        limit = min(int(query.get("limit", str(GITEA_LIMIT))), GITEA_LIMIT)
        page = int(query.get("page", "1"))
        chunk = files[(page - 1) * limit : page * limit]
        headers = {
            "X-Total-Count": str(len(files)),
            "X-HasMore": "true" if page * limit < len(files) else "false",
        }
        return 200, headers, [{"filename": name, "status": "changed"} for name in chunk]

    def _gitlab(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        found = re.fullmatch(r"/projects/([^/]+)/repository/compare", path)
        key = (found[1], f"{query.get('from')}..{query.get('to')}") if found else None
        if key is not None and key in self.gitlab_compares:
            diffs = [{"old_path": n, "new_path": n} for n in self.gitlab_compares[key]]
            return 200, {}, {"commits": [], "diffs": diffs, "compare_timeout": False}
        found = re.fullmatch(r"/projects/([^/]+)/merge_requests/(\d+)/diffs", path)
        if found and (found[1], int(found[2])) in self.merge_requests:
            files = self.merge_requests[(found[1], int(found[2]))]
            per_page, page = int(query.get("per_page", "20")), int(query.get("page", "1"))
            chunk = files[(page - 1) * per_page : page * per_page]
            more = page * per_page < len(files)
            headers = {"X-Next-Page": str(page + 1) if more else ""}
            return 200, headers, [{"old_path": n, "new_path": n} for n in chunk]
        return 404, {}, {"message": "404 Not Found"}


def _handler(api: FakeFilesApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads `api.requests` instead."""

        def do_GET(self) -> None:
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, extra, body = api.answer(self.path, headers)
            data = json.dumps(body).encode()
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
