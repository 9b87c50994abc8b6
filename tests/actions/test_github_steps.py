"""`github:` API steps through a real `hookd serve` and its workers, against the fake GitHub
on loopback: the exact method, path, headers and JSON body of every step, token and App
auth, templates in fields, and the result URL in `hookd jobs --json`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import fake_forge
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fake_forge import GITHUB_TOKEN, FakeForge, send_github

from conftest import SECRET, LiveServer, run_hookd, start_server, write_config
from hookd.config import load_config
from hookd.errors import ConfigError

APP_ID = 31337
INSTALLATION = 4242
SHA = "a1b2c3d" + "0" * 33
REPOSITORY = {"full_name": "octo/site", "name": "site", "owner": {"login": "octo"}}

CONFIG = """
server:
  port: 0
  database: sqlite:///hookd.db
  workers: 2
endpoints:
  github:
    replay_window: 0
    secret: "{secret}"
    api_url: {url}
    api_token: {token}
  app:
    replay_window: 0
    secret: "{secret}"
    api_url: {url}/api/v3
    app_id: {app_id}
    private_key_file: app-key.pem
hooks:
  thank:
    endpoint: github
    on: {{pull_request: {{types: [opened]}}}}
    github:
      comment: "Thanks @{{{{ sender.login }}}} for #{{{{ number }}}}!"
  deployed:
    endpoint: github
    on: {{push: {{branches: [main]}}}}
    github:
      status:
        state: success
        context: hookd/deploy
        description: "deployed {{{{ after | short }}}}"
        target_url: "https://deploy.example/{{{{ after }}}}"
  checks:
    endpoint: github
    on: {{push: {{branches: ["checks/**"]}}}}
    github:
      check_run: {{name: hookd/lint, conclusion: success, title: Lint,
                  summary: "clean at {{{{ after | short }}}}"}}
  open-pr:
    endpoint: github
    on: {{push: {{branches: ["feature/**"]}}}}
    github:
      pull_request: {{base: main, title: "Merge {{{{ ref | branch }}}}",
                     body: "Pushed by {{{{ sender.login }}}}"}}
      comment: "Opened from {{{{ after | short }}}}"
  triage:
    endpoint: github
    on: {{issues: {{types: [opened]}}}}
    github:
      label: {{add: [triage, "by-{{{{ sender.login }}}}"], remove: [stale, absent]}}
  broken:
    endpoint: github
    on: {{push: {{branches: ["oops/**"]}}}}
    github:
      comment: {{body: "{{{{ pull_request.title }}}}", number: 1}}
  app-thank:
    endpoint: app
    on: {{pull_request: {{types: [opened]}}}}
    github:
      comment: "Hello from the App, @{{{{ sender.login }}}}"
"""


@pytest.fixture(scope="module")
def app_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def forge(app_key: rsa.RSAPrivateKey) -> Iterator[FakeForge]:
    with FakeForge(app_id=APP_ID, public_key=app_key.public_key()) as fake:
        yield fake


@pytest.fixture(scope="module")
def server(
    forge: FakeForge, app_key: rsa.RSAPrivateKey, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("github-steps")
    pem = app_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (folder / "app-key.pem").write_bytes(pem)
    config = CONFIG.format(secret=SECRET, url=forge.url, token=GITHUB_TOKEN, app_id=APP_ID)
    write_config(folder, config)
    live = start_server(folder)
    yield live
    live.stop()


@pytest.fixture(autouse=True)
def clean(forge: FakeForge) -> None:
    forge.reset()


def push(ref: str, **extra: Any) -> dict[str, Any]:
    return {"ref": ref, "before": "0" * 40, "after": SHA, "repository": REPOSITORY,
            "sender": {"login": "mona"}, "commits": [], **extra}  # fmt: skip


def pull_opened(number: int = 7, **extra: Any) -> dict[str, Any]:
    pull = {"number": number, "head": {"ref": "topic", "sha": SHA}, "base": {"ref": "main"}}
    return {"action": "opened", "number": number, "pull_request": pull,
            "repository": REPOSITORY, "sender": {"login": "mona"}, **extra}  # fmt: skip


def test_comment_on_new_pull_request_posts_the_rendered_body_with_the_token(
    server: LiveServer, forge: FakeForge
) -> None:
    delivery = send_github(server, "pull_request", pull_opened())
    job = fake_forge.finished_job(server, delivery)
    [request] = forge.matching("POST", "/comments$")
    assert request.path == "/repos/octo/site/issues/7/comments"
    assert request.body == {"body": "Thanks @mona for #7!"}
    assert request.headers["authorization"] == f"Bearer {GITHUB_TOKEN}"
    assert request.headers["accept"] == "application/vnd.github+json"
    assert request.headers["x-github-api-version"] == "2022-11-28"
    assert request.headers["user-agent"].startswith("hookd/")
    assert job["status"] == "succeeded"
    assert job["result"].startswith("https://github.example/octo/site/issues/7#issuecomment-")
    [listed] = fake_forge.jobs_of(server, delivery)
    assert listed["result"] == job["result"]
    log = fake_forge.stored_log(server, job["id"])
    assert "POST /repos/octo/site/issues/7/comments -> 201" in log
    assert GITHUB_TOKEN not in log


def test_status_after_deploy_is_set_on_the_pushed_commit(
    server: LiveServer, forge: FakeForge
) -> None:
    delivery = send_github(server, "push", push("refs/heads/main"))
    job = fake_forge.finished_job(server, delivery)
    [request] = forge.matching("POST", "/statuses/")
    assert request.path == f"/repos/octo/site/statuses/{SHA}"
    assert request.body == {
        "state": "success",
        "context": "hookd/deploy",
        "description": "deployed a1b2c3d",
        "target_url": f"https://deploy.example/{SHA}",
    }
    assert request.headers["authorization"] == f"Bearer {GITHUB_TOKEN}"
    assert job["status"] == "succeeded"
    assert job["result"] == f"https://api.github.example/repos/octo/site/statuses/{SHA}"


def test_check_run_is_created_then_completed_with_its_conclusion(
    server: LiveServer, forge: FakeForge
) -> None:
    delivery = send_github(server, "push", push("refs/heads/checks/lint"))
    job = fake_forge.finished_job(server, delivery)
    assert [r.method for r in forge.requests] == ["POST", "PATCH"]
    created, completed = forge.requests
    assert created.path == "/repos/octo/site/check-runs"
    assert created.body == {
        "name": "hookd/lint",
        "head_sha": SHA,
        "status": "in_progress",
        "output": {"title": "Lint", "summary": "clean at a1b2c3d"},
    }
    run_id = completed.path.rsplit("/", 1)[1]
    assert completed.path == f"/repos/octo/site/check-runs/{run_id}"
    assert completed.body == {"status": "completed", "conclusion": "success"}
    assert job["result"] == f"https://github.example/octo/site/runs/{run_id}"


def test_push_to_feature_branch_opens_a_pull_request_and_comments_on_it(
    server: LiveServer, forge: FakeForge
) -> None:
    delivery = send_github(server, "push", push("refs/heads/feature/login"))
    job = fake_forge.finished_job(server, delivery)
    search, create, comment = forge.requests
    assert (search.method, search.path) == ("GET", "/repos/octo/site/pulls")
    assert search.query == {"head": "octo:feature/login", "base": "main", "state": "open"}
    assert (create.method, create.path) == ("POST", "/repos/octo/site/pulls")
    assert create.body == {
        "title": "Merge feature/login",
        "head": "feature/login",
        "base": "main",
        "body": "Pushed by mona",
    }
    pull_url = job["result"].splitlines()[0]
    number = pull_url.rsplit("/", 1)[1]
    assert pull_url == f"https://github.example/octo/site/pull/{number}"
    assert comment.path == f"/repos/octo/site/issues/{number}/comments"
    assert comment.body == {"body": "Opened from a1b2c3d"}
    assert job["status"] == "succeeded"
    assert len(job["result"].splitlines()) == 2


def test_an_open_pull_request_is_found_instead_of_opened_again(
    server: LiveServer, forge: FakeForge
) -> None:
    url = "https://github.example/octo/site/pull/41"
    forge.open_pulls.append(
        {"number": 41, "head": "feature/login", "base": "main", "html_url": url}
    )
    delivery = send_github(server, "push", push("refs/heads/feature/login"))
    job = fake_forge.finished_job(server, delivery)
    assert [(r.method, r.path) for r in forge.requests] == [
        ("GET", "/repos/octo/site/pulls"),
        ("POST", "/repos/octo/site/issues/41/comments"),
    ]
    assert job["result"].splitlines()[0] == url
    assert "github.pull_request: #41 is open" in fake_forge.stored_log(server, job["id"])


def test_labels_are_added_and_removed_and_a_missing_label_is_no_error(
    server: LiveServer, forge: FakeForge
) -> None:
    issue = {"action": "opened", "issue": {"number": 12}, "repository": REPOSITORY,
             "sender": {"login": "mona"}}  # fmt: skip
    delivery = send_github(server, "issues", issue)
    job = fake_forge.finished_job(server, delivery)
    assert [(r.method, r.path, r.body) for r in forge.requests] == [
        ("POST", "/repos/octo/site/issues/12/labels", {"labels": ["triage", "by-mona"]}),
        ("DELETE", "/repos/octo/site/issues/12/labels/stale", None),
        ("DELETE", "/repos/octo/site/issues/12/labels/absent", None),
    ]
    assert job["status"] == "succeeded"
    assert job["result"] == "labels on #12: +triage +by-mona -stale -absent"


def test_a_template_naming_a_missing_key_fails_the_job_without_calling_github(
    server: LiveServer, forge: FakeForge
) -> None:
    delivery = send_github(server, "push", push("refs/heads/oops/x"))
    job = fake_forge.finished_job(server, delivery)
    assert job["status"] == "failed"
    assert job["error"].startswith("github.comment.body: template '{{ pull_request.title }}'")
    assert "pull_request" in job["error"]
    assert forge.requests == []


def test_github_app_signs_a_jwt_and_uses_one_cached_installation_token(
    server: LiveServer, forge: FakeForge
) -> None:
    installation = {"installation": {"id": INSTALLATION}}
    first = send_github(server, "pull_request", pull_opened(3, **installation), path="/hooks/app")
    second = send_github(server, "pull_request", pull_opened(4, **installation), path="/hooks/app")
    jobs = [fake_forge.finished_job(server, first), fake_forge.finished_job(server, second)]
    assert [job["status"] for job in jobs] == ["succeeded", "succeeded"]
    [token_request] = forge.matching("POST", "/access_tokens$")
    assert token_request.path == f"/api/v3/app/installations/{INSTALLATION}/access_tokens"
    app_jwt = token_request.headers["authorization"].removeprefix("Bearer ")
    assert jwt.get_unverified_header(app_jwt)["alg"] == "RS256"
    assert jwt.decode(app_jwt, options={"verify_signature": False})["iss"] == str(APP_ID)
    [token] = forge.issued
    comments = forge.matching("POST", "/comments$")
    assert sorted(r.path for r in comments) == [
        "/api/v3/repos/octo/site/issues/3/comments",
        "/api/v3/repos/octo/site/issues/4/comments",
    ]
    assert {r.headers["authorization"] for r in comments} == {f"Bearer {token}"}
    assert {r.body["body"] for r in comments} == {"Hello from the App, @mona"}


def test_an_installation_token_about_to_expire_is_not_reused(
    server: LiveServer, forge: FakeForge
) -> None:
    forge.token_lifetime = timedelta(minutes=4)  # inside the five minutes kept in hand
    installation = {"installation": {"id": INSTALLATION + 1}}
    for number in (5, 6):
        pull = pull_opened(number, **installation)
        delivery = send_github(server, "pull_request", pull, path="/hooks/app")
        assert fake_forge.finished_job(server, delivery)["status"] == "succeeded"
    assert len(forge.matching("POST", f"/installations/{INSTALLATION + 1}/access_tokens$")) == 2
    first, second = forge.matching("POST", "/comments$")
    assert first.headers["authorization"] != second.headers["authorization"]


def test_github_app_needs_the_delivery_installation(server: LiveServer, forge: FakeForge) -> None:
    delivery = send_github(server, "pull_request", pull_opened(5), path="/hooks/app")
    job = fake_forge.finished_job(server, delivery)
    assert job["status"] == "failed"
    assert "the delivery has no installation.id" in job["error"]
    assert forge.requests == []


def problems(tmp_path: Path, config: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The problems loading `config` (as ./hookd.yaml) reports, as `hookd check` prints them."""
    write_config(tmp_path, config)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as raised:
        load_config(Path("hookd.yaml"), {})
    return raised.value.problems


def test_check_names_every_bad_step_field_with_its_line(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        """
        endpoints:
          github: {secret: s, api_token: t}
        hooks:
          a:
            on: push
            github:
              status: {state: sucess}
              label: {}
              check_run: {name: x, title: only-a-title}
              comment: "{{ unclosed"
              bogus: 1
        """,
    )
    result = run_hookd("check", "--config", "hookd.yaml", cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "hookd.yaml:8: hooks.a.github.status.state: 'sucess' is not one of error, failure, "
        "pending, success",
        "hookd.yaml:9: hooks.a.github.label: needs add: or remove: (a list of labels)",
        "hookd.yaml:10: hooks.a.github.check_run: give title and summary together "
        "(GitHub needs both)",
        "hookd.yaml:11: hooks.a.github.comment.body: template '{{ unclosed': unexpected end of "
        "template, expected 'end of print statement' (line 1)",
        "hookd.yaml:12: hooks.a.github.bogus: unknown step (the github steps: comment, status, "
        "check_run, pull_request, label)",
    ]


def test_check_refuses_api_steps_on_an_endpoint_without_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = problems(
        tmp_path,
        """
        endpoints:
          github: {secret: s}
          ci: {forge: generic, secret: s, api_token: t}
        hooks:
          a:
            endpoint: github
            on: push
            github: {comment: hi}
          b:
            endpoint: ci
            on: push
            github: {comment: hi}
        """,
        monkeypatch,
    )
    assert found == [
        "hookd.yaml:9: hooks.a.github: endpoint 'github' needs api_token, or app_id and "
        "private_key_file, for API steps",
        "hookd.yaml:13: hooks.b.github: endpoint 'ci' is a generic endpoint: give it the "
        "github api_url",
    ]


def test_check_reads_the_app_private_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "key.pem").write_text("not a key\n")
    found = problems(
        tmp_path,
        """
        endpoints:
          github: {secret: s, app_id: 1, private_key_file: key.pem}
          other: {secret: s, app_id: 2}
          both: {secret: s, app_id: 3, private_key_file: missing.pem, api_token: t}
        hooks: {}
        """,
        monkeypatch,
    )
    assert found == [
        "hookd.yaml:3: endpoints.github.private_key_file: key.pem is not an "
        "unencrypted PEM private key",
        "hookd.yaml:4: endpoints.other: a GitHub App needs both app_id and private_key_file",
        "hookd.yaml:5: endpoints.both: give api_token or app_id + private_key_file, not both",
        "hookd.yaml:5: endpoints.both.private_key_file: cannot read missing.pem: "
        "No such file or directory",
    ]
