"""`gitlab:` API steps: note, status, merge_request, accept.

They act on the delivery's project (`project.id`), authenticated with the endpoint's
`api_token` (a personal, project or group access token, sent as `PRIVATE-TOKEN`) against
its `api_url` (self-hosted: `https://HOST/api/v4`). Defaults come from the delivery: the
merge request or issue of a merge request, issue or note event, the head commit, the
pushed branch. A `merge_request` step makes the request it opened or found the target of
the steps after it, so `merge_request` then `accept` opens a request and sets it to merge
when its pipeline succeeds. Endpoints and fields: GitLab's REST API v4.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from hookd.actions.base import ActionResult, JobContext, failure
from hookd.actions.forge_api import (
    Api,
    StepCall,
    StepError,
    choice,
    object_url,
    present,
    pushed_branch,
    rendered,
    run_steps,
    segment,
    whole_number,
)
from hookd.config.actions import GitlabSteps
from hookd.config.steps import (
    GITLAB_COMMIT_STATES,
    GitlabAccept,
    GitlabMergeRequest,
    GitlabNote,
    GitlabStatus,
    Step,
)
from hookd.core.delivery import Delivery
from hookd.core.vocabulary import ActionKind
from hookd.forge_rest import forge_client

GITLAB_API = "https://gitlab.com/api/v4"
# GitLab answers 405 while a merge request cannot be merged yet, e.g. just after it was
# opened and before its pipeline exists; with `retries`, a later attempt may succeed.
NOT_MERGEABLE_YET = (405,)


async def run_gitlab(job: JobContext, settings: GitlabSteps) -> ActionResult:
    """Run a hook's `gitlab:` steps in order for this job's delivery."""
    config = job.config
    endpoint = config.endpoints.get(job.delivery.endpoint)
    if endpoint is None:
        return failure(f"endpoint {job.delivery.endpoint!r} is no longer in {config.path}")
    if endpoint.api_token is None:
        return failure(f"gitlab: endpoint {job.delivery.endpoint!r} has no api_token")
    headers = {"PRIVATE-TOKEN": endpoint.api_token.get_secret_value()}
    async with forge_client(headers) as client:
        api = Api(client, (endpoint.api_url or GITLAB_API).rstrip("/"), job.output)
        run = GitlabRun(api, job)
        calls: list[tuple[str, StepCall]] = [
            (name, partial(run.step, step)) for name, step in settings.steps
        ]
        return await run_steps(job, ActionKind.GITLAB, calls)


@dataclass(frozen=True, slots=True)
class Target:
    """A merge request or issue: the API's collection name, its iid, its web page."""

    kind: str
    iid: int
    web_url: str | None = None


def delivery_target(payload: Mapping[str, Any]) -> Target | None:
    """The merge request or issue a Merge Request, Issue or Note Hook delivery is about."""
    kind = payload.get("object_kind")
    attributes = payload.get("object_attributes")
    if kind in ("merge_request", "issue") and isinstance(attributes, Mapping):
        collection = "merge_requests" if kind == "merge_request" else "issues"
        return _target(collection, attributes)
    if kind == "note":
        for key, collection in (("merge_request", "merge_requests"), ("issue", "issues")):
            found = payload.get(key)
            if isinstance(found, Mapping):
                return _target(collection, found)
    return None


def _target(kind: str, found: Mapping[str, Any]) -> Target | None:
    iid, url = found.get("iid"), found.get("url") or found.get("web_url")
    if not isinstance(iid, int):
        return None
    return Target(kind, iid, url if isinstance(url, str) else None)


def project_path(delivery: Delivery) -> str:
    """`/projects/ID`: the project's numeric id, else its URL-encoded path."""
    payload = delivery.payload
    project = payload.get("project")
    project = project if isinstance(project, Mapping) else {}
    for found in (project.get("id"), payload.get("project_id"), delivery.repository):
        if isinstance(found, int | str) and not isinstance(found, bool) and found != "":
            return f"/projects/{segment(found, 'project')}"
    raise StepError("the delivery names no project (project.id)")


class GitlabRun:
    """The steps of one job: the API, the delivery, and the merge request or issue the
    steps act on (the delivery's, until a `merge_request` step names another)."""

    def __init__(self, api: Api, job: JobContext) -> None:
        self.api, self.job = api, job
        self.target: Target | None = delivery_target(job.delivery.payload)

    async def step(self, step: Step) -> str | None:
        """Run one step (its templates rendered now); what it made, as a URL or a note."""
        context = self.job.context
        if isinstance(step, GitlabNote):
            return await self.note(rendered(step, context))
        if isinstance(step, GitlabStatus):
            return await self.status(rendered(step, context))
        if isinstance(step, GitlabMergeRequest):
            return await self.merge_request(rendered(step, context))
        if isinstance(step, GitlabAccept):
            return await self.accept(rendered(step, context))
        raise StepError(f"{type(step).__name__} is not a GitLab step")

    def _note_target(self, step: GitlabNote) -> Target:
        if step.merge_request is not None:
            return Target("merge_requests", whole_number(step.merge_request, "merge_request"))
        if step.issue is not None:
            return Target("issues", whole_number(step.issue, "issue"))
        if self.target is None:
            raise StepError("the delivery has no merge request or issue: give merge_request:")
        return self.target

    async def note(self, step: GitlabNote) -> str | None:
        target = self._note_target(step)
        path = f"{project_path(self.job.delivery)}/{target.kind}/{target.iid}/notes"
        answer = await self.api.call("POST", path, body={"body": step.body})
        note_id = answer.get("id") if isinstance(answer, Mapping) else None
        if target.web_url and note_id is not None:
            return f"{target.web_url}#note_{note_id}"
        return object_url(answer) or f"note {note_id} on {target.kind} {target.iid}"

    async def status(self, step: GitlabStatus) -> str | None:
        state = choice(step.state, GITLAB_COMMIT_STATES, "state")
        sha = step.sha or self.job.delivery.sha
        if not sha:
            raise StepError("the delivery has no head commit: give sha:", "sha")
        body = present(
            state=state, name=step.name, description=step.description,
            target_url=step.target_url, ref=step.ref,
        )  # fmt: skip
        path = f"{project_path(self.job.delivery)}/statuses/{segment(sha, 'sha')}"
        answer = await self.api.call("POST", path, body=body)
        return object_url(answer) or f"status {state} {step.name} on {sha[:7]}"

    async def merge_request(self, step: GitlabMergeRequest) -> str | None:
        source = step.source or pushed_branch(self.job.delivery)
        if not source:
            raise StepError("the delivery is not a branch push: give source:", "source")
        path = f"{project_path(self.job.delivery)}/merge_requests"
        query = {"state": "opened", "source_branch": source, "target_branch": step.target}
        found = await self.api.call("GET", path, params=query)
        if isinstance(found, list) and found and isinstance(found[0], Mapping):
            await self.job.output(
                f"gitlab.merge_request: !{found[0].get('iid')} is open\n".encode()
            )
            return self._made(found[0])
        body = present(
            source_branch=source, target_branch=step.target, title=step.title or source,
            description=step.description, remove_source_branch=step.remove_source_branch,
        )  # fmt: skip
        return self._made(await self.api.call("POST", path, body=body))

    def _made(self, request: Any) -> str | None:
        if isinstance(request, Mapping):
            self.target = _target("merge_requests", request) or self.target
        return object_url(request)

    async def accept(self, step: GitlabAccept) -> str | None:
        if step.merge_request is not None:
            iid = whole_number(step.merge_request, "merge_request")
        elif self.target is not None and self.target.kind == "merge_requests":
            iid = self.target.iid
        else:
            raise StepError("the delivery has no merge request: give merge_request:")
        body = present(
            sha=step.sha, squash=step.squash,
            should_remove_source_branch=step.should_remove_source_branch,
        )  # fmt: skip
        if step.when_pipeline_succeeds:
            # `auto_merge` since GitLab 17.11; older versions ignore it and read the older
            # name, so both are sent (an ignored flag would merge at once).
            body.update(auto_merge=True, merge_when_pipeline_succeeds=True)
        path = f"{project_path(self.job.delivery)}/merge_requests/{iid}/merge"
        answer = await self.api.call("PUT", path, body=body, retry_on=NOT_MERGEABLE_YET)
        return object_url(answer)
