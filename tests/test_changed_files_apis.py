"""Which request lists a delivery's changed files, per forge (hookd.changed_files.apis):
paths named from the payload, quoted, and pages followed without leaving the API."""

from __future__ import annotations

from typing import Any

import httpx

from hookd.changed_files.apis import FILE_APIS, Listing
from hookd.core.delivery import Delivery
from hookd.core.facts import ZERO_SHA


def delivery(forge: str, event: str, payload: dict[str, Any]) -> Delivery:
    return Delivery(
        endpoint="e", forge=forge, event=event, forge_event=event, action=None,
        delivery_id="d", content_type="application/json", headers=(), body=b"{}",
        payload=payload,
    )  # fmt: skip


def listing(forge: str, event: str, payload: dict[str, Any]) -> Listing:
    found = FILE_APIS[forge].listing(delivery(forge, event, payload))
    assert isinstance(found, Listing), found
    return found


GH_REPO = {"full_name": "octo/my site"}


def test_github_pull_request_files_and_push_compare() -> None:
    pull = listing("github", "pull_request", {"pull_request": {"number": 7}, "repository": GH_REPO})
    assert (pull.path, dict(pull.params), pull.cap) == (
        "/repos/octo/my%20site/pulls/7/files", {"per_page": "100"}, 3000,
    )  # fmt: skip
    assert pull.names({"filename": "b.txt", "previous_filename": "a.txt"}) == ("b.txt", "a.txt")
    push = {"ref": "refs/heads/main", "before": "a" * 40, "after": "b" * 40, "repository": GH_REPO}
    compare = listing("github", "push", push)
    assert compare.path == f"/repos/octo/my%20site/compare/{'a' * 40}...{'b' * 40}"
    assert compare.cap == 300
    assert compare.items({"files": [{"filename": "x"}]}) == [{"filename": "x"}]
    created = FILE_APIS["github"].listing(delivery("github", "push", {**push, "before": ZERO_SHA}))
    assert created == "the push created the ref, so there is no earlier commit to compare with"


def test_gitlab_merge_request_diffs_and_push_compare() -> None:
    project = {"id": 15, "path_with_namespace": "group/site"}
    mr = listing("gitlab", "pull_request", {"object_attributes": {"iid": 3}, "project": project})
    assert mr.path == "/projects/15/merge_requests/3/diffs"
    assert mr.names({"old_path": "a", "new_path": "b"}) == ("b", "a")
    push = {"ref": "refs/heads/main", "before": "1" * 40, "after": "2" * 40, "project": project}
    compare = listing("gitlab", "push", push)
    assert (compare.path, dict(compare.params)) == (
        "/projects/15/repository/compare", {"from": "1" * 40, "to": "2" * 40},
    )  # fmt: skip
    assert compare.too_large({"diffs": [], "compare_timeout": True})
    assert not compare.too_large({"diffs": [], "compare_timeout": False})


def test_gitea_lists_a_pull_requests_files_and_says_why_not_a_push() -> None:
    pull = listing("gitea", "pull_request", {"pull_request": {"number": 4}, "repository": GH_REPO})
    assert (pull.path, dict(pull.params)) == (
        "/repos/octo/my%20site/pulls/4/files",
        {"limit": "50"},
    )
    more = httpx.Response(200, headers={"X-HasMore": "true"})
    assert pull.next_page(more, [], 1) == {"page": "2"}
    assert pull.next_page(httpx.Response(200), [], 2) is None
    push = {"ref": "refs/heads/main", "before": "1" * 40, "after": "2" * 40, "repository": GH_REPO}
    assert FILE_APIS["forgejo"].listing(delivery("forgejo", "push", push)) == (
        "hookd asks this forge's API only for a pull request's files"
    )


def test_bitbucket_diffstat_pages_stay_on_the_configured_api() -> None:
    repo = {"full_name": "team/app"}
    pull = listing("bitbucket", "pull_request", {"pullrequest": {"id": 12}, "repository": repo})
    assert pull.path == "/2.0/repositories/team/app/pullrequests/12/diffstat"
    assert pull.names({"new": {"path": "b"}, "old": {"path": "a"}}) == ("b", "a")
    assert pull.names({"new": None, "old": {"path": "gone"}}) == ("gone",)
    following = {"next": "https://elsewhere.example/2.0/x?page=3&pagelen=500"}
    assert pull.next_page(httpx.Response(200), following, 2) == {"page": "3"}
    assert pull.next_page(httpx.Response(200), {"values": []}, 2) is None
