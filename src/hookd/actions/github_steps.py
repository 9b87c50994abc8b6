"""`github:` API steps: comment, status, check_run, pull_request, label.

They act on the delivery's repository (`repository.full_name`), authenticated with the
endpoint's `api_token`, or as a GitHub App (`app_id` + `private_key_file`) for the
delivery's installation, against its `api_url` (GitHub Enterprise: `https://HOST/api/v3`).
Defaults come from the delivery: the issue or pull request number, the head commit, the
pushed branch. A `pull_request` step makes the request it opened or found the target of the
steps after it. Endpoints and fields: GitHub's REST API, version 2022-11-28.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from hookd.actions.base import ActionResult, JobContext, failure
from hookd.actions.forge_api import (
    Api,
    ForgeError,
    StepCall,
    StepError,
    choice,
    labelled,
    object_url,
    present,
    pushed_branch,
    rendered,
    run_steps,
    segment,
    whole_number,
)
from hookd.actions.github_app import endpoint_token
from hookd.config.actions import GithubSteps
from hookd.config.model import EndpointSettings
from hookd.config.steps import (
    CHECK_CONCLUSIONS,
    CHECK_STATUSES,
    GITHUB_STATES,
    GithubCheckRun,
    GithubComment,
    GithubLabel,
    GithubPullRequest,
    GithubStatus,
    Step,
)
from hookd.core.delivery import Delivery
from hookd.core.vocabulary import ActionKind
from hookd.forge_rest import GITHUB_API_URL, GITHUB_HEADERS, forge_client


async def run_github(job: JobContext, settings: GithubSteps) -> ActionResult:
    """Run a hook's `github:` steps in order for this job's delivery."""
    config = job.config
    endpoint = config.endpoints.get(job.delivery.endpoint)
    if endpoint is None:
        return failure(f"endpoint {job.delivery.endpoint!r} is no longer in {config.path}")
    async with forge_client(GITHUB_HEADERS) as client:
        api = Api(client, (endpoint.api_url or GITHUB_API_URL).rstrip("/"), job.output)
        try:
            api = await _authorised(api, endpoint, job.delivery, config.path.parent)
        except StepError as exc:
            return failure(f"github: {exc}")
        except ForgeError as exc:
            return labelled(exc.result, "github: the installation token")
        run = GithubRun(api, job)
        calls: list[tuple[str, StepCall]] = [
            (name, partial(run.step, step)) for name, step in settings.steps
        ]
        return await run_steps(job, ActionKind.GITHUB, calls)


async def _authorised(
    api: Api, endpoint: EndpointSettings, delivery: Delivery, folder: Path
) -> Api:
    token = await endpoint_token(api, endpoint, delivery.payload, folder)
    if token is None:
        raise StepError(f"endpoint {delivery.endpoint!r} has no api_token or GitHub App")
    return replace(api, auth={"Authorization": f"Bearer {token}"})


def issue_number(payload: Mapping[str, Any]) -> int | None:
    """The delivery's pull request or issue number (`pull_request`, `issue`, `number`)."""
    for key in ("pull_request", "issue"):
        found = payload.get(key)
        if isinstance(found, Mapping) and isinstance(found.get("number"), int):
            return int(found["number"])
    number = payload.get("number")
    return number if isinstance(number, int) and not isinstance(number, bool) else None


class GithubRun:
    """The steps of one job: the API, the delivery, and the issue or pull request the
    steps act on (the delivery's, until a `pull_request` step names another)."""

    def __init__(self, api: Api, job: JobContext) -> None:
        self.api, self.job = api, job
        self.number = issue_number(job.delivery.payload)

    async def step(self, step: Step) -> str | None:
        """Run one step (its templates rendered now); what it made, as a URL or a note."""
        context = self.job.context
        if isinstance(step, GithubComment):
            return await self.comment(rendered(step, context))
        if isinstance(step, GithubStatus):
            return await self.status(rendered(step, context))
        if isinstance(step, GithubCheckRun):
            return await self.check_run(rendered(step, context))
        if isinstance(step, GithubPullRequest):
            return await self.pull_request(rendered(step, context))
        if isinstance(step, GithubLabel):
            return await self.label(rendered(step, context))
        raise StepError(f"{type(step).__name__} is not a GitHub step")

    @property
    def owner_and_name(self) -> tuple[str, str]:
        name = self.job.delivery.repository
        if not name or name.count("/") != 1:
            raise StepError("the delivery names no repository (repository.full_name)")
        owner, repo = name.split("/")
        return owner, repo

    @property
    def repo(self) -> str:
        owner, repo = self.owner_and_name
        return f"/repos/{segment(owner, 'repository')}/{segment(repo, 'repository')}"

    def target(self, number: int | str | None) -> int:
        if number is not None:
            return whole_number(number, "number")
        if self.number is None:
            raise StepError("the delivery has no issue or pull request: give number:", "number")
        return self.number

    def sha(self, given: str | None, label: str) -> str:
        sha = given or self.job.delivery.sha
        if not sha:
            raise StepError(f"the delivery has no head commit: give {label}:", label)
        return segment(sha, label)

    async def comment(self, step: GithubComment) -> str | None:
        number = self.target(step.number)
        path = f"{self.repo}/issues/{number}/comments"
        return object_url(await self.api.call("POST", path, body={"body": step.body}))

    async def status(self, step: GithubStatus) -> str | None:
        state = choice(step.state, GITHUB_STATES, "state")
        sha = self.sha(step.sha, "sha")
        body = present(
            state=state, context=step.context, description=step.description,
            target_url=step.target_url,
        )  # fmt: skip
        answer = await self.api.call("POST", f"{self.repo}/statuses/{sha}", body=body)
        return object_url(answer) or f"status {state} {step.context} on {sha[:7]}"

    async def check_run(self, step: GithubCheckRun) -> str | None:
        status = choice(step.status or "in_progress", CHECK_STATUSES, "status")
        output = {"title": step.title, "summary": step.summary} if step.title else None
        body = present(
            name=step.name, head_sha=self.sha(step.head_sha, "head_sha"), status=status,
            details_url=step.details_url, output=output,
        )  # fmt: skip
        created = await self.api.call("POST", f"{self.repo}/check-runs", body=body)
        if step.conclusion is None:
            return object_url(created)
        conclusion = choice(step.conclusion, CHECK_CONCLUSIONS, "conclusion")
        run_id = created.get("id") if isinstance(created, Mapping) else None
        if not isinstance(run_id, int):
            raise StepError("GitHub's answer to creating the check run holds no id")
        done = {"status": "completed", "conclusion": conclusion}
        answer = await self.api.call("PATCH", f"{self.repo}/check-runs/{run_id}", body=done)
        return object_url(answer) or object_url(created)

    async def pull_request(self, step: GithubPullRequest) -> str | None:
        head = step.head or pushed_branch(self.job.delivery)
        if not head:
            raise StepError("the delivery is not a branch push: give head:", "head")
        owner = self.owner_and_name[0]
        query = {"head": head if ":" in head else f"{owner}:{head}", "base": step.base}
        found = await self.api.call("GET", f"{self.repo}/pulls", params={**query, "state": "open"})
        if isinstance(found, list) and found and isinstance(found[0], Mapping):
            await self.job.output(
                f"github.pull_request: #{found[0].get('number')} is open\n".encode()
            )
            return self._made(found[0])
        body = present(
            title=step.title or head, head=head, base=step.base, body=step.body,
            draft=step.draft or None,
        )  # fmt: skip
        return self._made(await self.api.call("POST", f"{self.repo}/pulls", body=body))

    def _made(self, pull: Any) -> str | None:
        if isinstance(pull, Mapping) and isinstance(pull.get("number"), int):
            self.number = pull["number"]
        return object_url(pull)

    async def label(self, step: GithubLabel) -> str | None:
        number = self.target(step.number)
        path = f"{self.repo}/issues/{number}/labels"
        if step.add:
            await self.api.call("POST", path, body={"labels": step.add})
        for name in step.remove:
            # 404: the label was not on the issue, which is what removing it asks for.
            await self.api.call("DELETE", f"{path}/{segment(name, 'remove')}", accept=(404,))
        changes = [f"+{name}" for name in step.add] + [f"-{name}" for name in step.remove]
        return f"labels on #{number}: {' '.join(changes)}"
