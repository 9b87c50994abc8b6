"""The `github:` and `gitlab:` API steps of a hook: their fields, validated by pydantic.

A hook's map holds one or more steps, run in the order written. Every text field is a
template, rendered with the delivery when the job runs; fields use the forge's own names
(GitHub's `context`, GitLab's `name`). A choice field (a status `state`) is checked here when
it is written out, and again after rendering when it is a template. Also here: the checks
that the endpoint a hook uses can call its forge's API.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from hookd.config.model import ConfigFile, EndpointSettings
from hookd.config.validation_errors import CONFIG_WORDING, validation_problems
from hookd.config.yamlsource import Path as KeyPath
from hookd.config.yamlsource import Source
from hookd.core.forge_profiles import profile
from hookd.core.render import RenderError, check_template
from hookd.core.vocabulary import ActionKind, Forge

WORDING = {**CONFIG_WORDING, "model_type": "expected a mapping of the step's fields"}
GITHUB_STATES = ("error", "failure", "pending", "success")
# GitLab's own words for a commit status (its `canceled`, not hookd's JobStatus.CANCELLED).
GITLAB_COMMIT_STATES = ("pending", "running", "success", "failed", "canceled", "skipped")
CHECK_STATUSES = ("queued", "in_progress")
CHECK_CONCLUSIONS = (
    "action_required", "cancelled", "failure", "neutral", "success", "skipped", "timed_out",
)  # fmt: skip


def _words(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def _number(value: int | str) -> int | str:
    if isinstance(value, int) or value.strip().isdigit() or is_template(value):
        return value
    raise ValueError(f"expected a number or a template, got {value!r}")


Number = Annotated[int | str, AfterValidator(_number)]
"""An issue, pull or merge request number: written out, or a template."""
Words = Annotated[list[str], BeforeValidator(_words)]


def _choice(choices: tuple[str, ...]) -> AfterValidator:
    """A field that is one of `choices`, or a template (checked once rendered)."""

    def check(value: str) -> str:
        if is_template(value) or value in choices:
            return value
        raise ValueError(f"{value!r} is not one of {', '.join(choices)}")

    return AfterValidator(check)


GithubState = Annotated[str, _choice(GITHUB_STATES)]
GitlabState = Annotated[str, _choice(GITLAB_COMMIT_STATES)]
CheckStatus = Annotated[str, _choice(CHECK_STATUSES)]
CheckConclusion = Annotated[str, _choice(CHECK_CONCLUSIONS)]


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GithubComment(Step):
    body: str
    number: Number | None = None


class GithubStatus(Step):
    state: GithubState
    context: str = "hookd"
    description: str | None = None
    target_url: str | None = None
    sha: str | None = None


class GithubCheckRun(Step):
    name: str
    head_sha: str | None = None
    status: CheckStatus | None = None
    conclusion: CheckConclusion | None = None
    title: str | None = None
    summary: str | None = None
    details_url: str | None = None

    @model_validator(mode="after")
    def _output(self) -> GithubCheckRun:
        # GitHub's check run `output` needs both a title and a summary.
        if (self.title is None) != (self.summary is None):
            raise ValueError("give title and summary together (GitHub needs both)")
        return self


class GithubPullRequest(Step):
    base: str
    head: str | None = None
    title: str | None = None
    body: str | None = None
    draft: bool = False


class GithubLabel(Step):
    add: Words = Field(default_factory=list)
    remove: Words = Field(default_factory=list)
    number: Number | None = None

    @model_validator(mode="after")
    def _something(self) -> GithubLabel:
        if not self.add and not self.remove:
            raise ValueError("needs add: or remove: (a list of labels)")
        return self


class GitlabNote(Step):
    body: str
    merge_request: Number | None = None
    issue: Number | None = None

    @model_validator(mode="after")
    def _one_target(self) -> GitlabNote:
        if self.merge_request is not None and self.issue is not None:
            raise ValueError("give merge_request or issue, not both")
        return self


class GitlabStatus(Step):
    state: GitlabState
    name: str = "hookd"
    description: str | None = None
    target_url: str | None = None
    sha: str | None = None
    ref: str | None = None


class GitlabMergeRequest(Step):
    target: str
    source: str | None = None
    title: str | None = None
    description: str | None = None
    remove_source_branch: bool | None = None


class GitlabAccept(Step):
    merge_request: Number | None = None
    sha: str | None = None
    when_pipeline_succeeds: bool = True
    squash: bool | None = None
    should_remove_source_branch: bool | None = None


STEPS: dict[ActionKind, dict[str, type[Step]]] = {
    ActionKind.GITHUB: {
        "comment": GithubComment,
        "status": GithubStatus,
        "check_run": GithubCheckRun,
        "pull_request": GithubPullRequest,
        "label": GithubLabel,
    },
    ActionKind.GITLAB: {
        "note": GitlabNote,
        "status": GitlabStatus,
        "merge_request": GitlabMergeRequest,
        "accept": GitlabAccept,
    },
}


def _shorthand(name: str, value: Any) -> Any:
    """`comment: TEXT`, `note: TEXT`, `label: [a, b]` (adds) and `accept: true`."""
    if name in ("comment", "note") and isinstance(value, str):
        return {"body": value}
    if name == "label" and isinstance(value, str | list):
        return {"add": value}
    if name == "accept" and (value is True or value is None):
        return {}
    return value


class StepsError(ValueError):
    """A steps map is invalid; `problems` holds (key path inside the map, message) pairs."""

    def __init__(self, problems: list[tuple[KeyPath, str]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, p))}: {m}" for p, m in problems))
        self.problems = problems


def parse_steps(forge: ActionKind, raw: Mapping[str, Any]) -> tuple[tuple[str, Step], ...]:
    """The steps of a `github:` or `gitlab:` map, in the order written. Raises StepsError
    naming every problem (unknown step, wrong field, a template that does not compile)."""
    known = STEPS[forge]
    problems: list[tuple[KeyPath, str]] = []
    steps: list[tuple[str, Step]] = []
    if not raw:
        problems.append(((), f"needs at least one step ({', '.join(known)})"))
    for name, value in raw.items():
        model = known.get(name)
        if model is None:
            problems.append(((name,), f"unknown step (the {forge} steps: {', '.join(known)})"))
            continue
        try:
            step = model.model_validate(_shorthand(name, value))
        except ValidationError as exc:
            problems.extend(
                ((name, *path), said) for path, said in validation_problems(exc, WORDING)
            )
            continue
        problems.extend(((name, *path), message) for path, message in _template_problems(step))
        steps.append((name, step))
    if problems:
        raise StepsError(problems)
    return tuple(steps)


def text_fields(step: Step) -> Iterator[tuple[KeyPath, str]]:
    """Every text value of a step with its key path: the fields that are templates."""
    for name in type(step).model_fields:
        value = getattr(step, name)
        if isinstance(value, str):
            yield (name,), value
        elif isinstance(value, list):
            yield from (((name, index), item) for index, item in enumerate(value))


def _template_problems(step: Step) -> Iterator[tuple[KeyPath, str]]:
    for path, text in text_fields(step):
        try:
            check_template(text)
        except RenderError as exc:
            yield path, str(exc)


def read_app_key(path: Path) -> RSAPrivateKey:
    """A GitHub App's private key from its PEM file. Raises ValueError with a sentence."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path} is not an unencrypted PEM private key") from exc
    if not isinstance(key, RSAPrivateKey):
        raise ValueError(f"{path} is not an RSA key (GitHub Apps sign with RS256)")
    return key


def check_api_endpoints(config: ConfigFile, source: Source) -> None:
    """Each endpoint's API settings: an https or http `api_url`, and a GitHub App's
    `app_id` with a readable RSA `private_key_file` (relative to the config's folder)."""
    folder = Path(source.filename).parent
    for name, endpoint in config.endpoints.items():
        where = ("endpoints", name)
        url = endpoint.api_url
        if url is not None and not url.startswith(("https://", "http://")):
            source.problem((*where, "api_url"), f"expected an http(s):// URL, got {url!r}")
        if (endpoint.app_id is None) != (endpoint.private_key_file is None):
            source.problem(where, "a GitHub App needs both app_id and private_key_file")
        if endpoint.app_id is not None and endpoint.api_token is not None:
            source.problem(where, "give api_token or app_id + private_key_file, not both")
        if endpoint.private_key_file is not None:
            try:
                read_app_key(folder / endpoint.private_key_file)
            except ValueError as exc:
                source.problem((*where, "private_key_file"), str(exc))


def check_api_access(
    forge: Forge,
    endpoint_name: str | None,
    endpoint: EndpointSettings | None,
    where: KeyPath,
    source: Source,
) -> None:
    """Whether the endpoint a hook's `github:` / `gitlab:` steps use can call that API."""
    if endpoint is not None:
        problem = _access_problem(forge, endpoint_name, endpoint)
        if problem is not None:
            source.problem(where, problem)


def _access_problem(forge: Forge, name: str | None, endpoint: EndpointSettings) -> str | None:
    app_auth = profile(forge).app_auth
    if endpoint.api_token is None and not (app_auth and endpoint.app_id is not None):
        needs = "api_token, or app_id and private_key_file," if app_auth else "api_token"
        return f"endpoint {name!r} needs {needs} for API steps"
    if endpoint.api_url is None and endpoint.forge != forge:
        return f"endpoint {name!r} is a {endpoint.forge} endpoint: give it the {forge} api_url"
    return None
