"""`hookd catch-up` against the fake forges, in this process (the command's real entry
point): `--dry-run` prints and asks for nothing, `--since` limits how far back, three
pages are read to find a failure on the last, a rate limit is waited out, a hook that is
gone is no longer asked. Nothing listens where the forge redelivers: only what hookd
asked for is looked at here (the restart tests follow deliveries all the way)."""

from __future__ import annotations

import importlib
import json
import logging
import sqlite3
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fake_hooks import GITHUB_TOKEN, GITLAB_TOKEN, FakeHooks, Seen

from conftest import hookd_here, write_config
from hookd.catch_up.hooks import learn
from hookd.catch_up.run import missing_credentials
from hookd.config.model import EndpointSettings
from hookd.core.delivery import Delivery
from hookd.store import store_for

RELAY_TESTS = Path(__file__).resolve().parents[1] / "relay"
if str(RELAY_TESTS) not in sys.path:
    sys.path.insert(0, str(RELAY_TESTS))  # relaying.FakeGitHub answers webhook registration

GITHUB_HOOK = "/repos/octo/hello/hooks/7"
GITLAB_HOOK = "/groups/acme/hooks/4"
HOOKS = {"github": GITHUB_HOOK, "gitlab": GITLAB_HOOK}
PUSH = {"ref": "refs/heads/main", "repository": {"full_name": "octo/hello"}}
DAY = 24 * 3600.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def forge() -> Iterator[FakeHooks]:
    with FakeHooks(hooks={GITHUB_HOOK, GITLAB_HOOK}) as fake:
        yield fake


@pytest.fixture
def config(tmp_path: Path, forge: FakeHooks) -> Path:
    return write_config(
        tmp_path,
        f"""
        server:
          database: sqlite:///hookd.db
        endpoints:
          github:
            forge: github
            secret: x
            api_url: {forge.url}
            api_token: {GITHUB_TOKEN}
            catch_up:
              hooks: [{{repository: octo/hello, id: 7}}]
          gitlab:
            forge: gitlab
            secret: y
            api_url: {forge.url}
            api_token: {GITLAB_TOKEN}
            catch_up:
              hooks: [{{group: acme, id: 4}}]
        hooks: {{}}
        """,
    )


def send(forge: FakeHooks, kind: str, **kw: object) -> str:
    """A delivery of `kind`'s hook; by default one that failed (nothing listens)."""
    if kind == "github":
        return forge.github(GITHUB_HOOK, "push", PUSH, **kw)
    return forge.gitlab(GITLAB_HOOK, PUSH, **kw)


def redeliveries(forge: FakeHooks) -> list[Seen]:
    forge.settle()
    return forge.posts()


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_dry_run_prints_what_it_would_request_and_requests_nothing(
    kind: str, forge: FakeHooks, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    send(forge, kind, recorded=200, post=False)
    recent = send(forge, kind, ago=3600)
    old = send(forge, kind, ago=2 * DAY)

    dry = hookd_here(capsys, "catch-up", "--dry-run", "--config", str(config))
    assert dry.code == 0, dry.err
    assert f"would request {kind} {recent}" in dry.out
    assert old in dry.out
    assert "hookd does not hold it" in dry.out
    assert "would request 2" in dry.out
    assert redeliveries(forge) == []

    limited = hookd_here(capsys, "catch-up", "--dry-run", "--since", "24h", "-c", str(config))
    assert recent in limited.out
    assert old not in limited.out
    listed = json.loads(
        hookd_here(capsys, "catch-up", "--dry-run", "--json", "-c", str(config)).out
    )
    assert {(d["delivery"], d["verdict"], d["outcome"]) for d in listed["deliveries"]} == {
        (recent, "ask", None),
        (old, "ask", None),
    }

    done = hookd_here(capsys, "catch-up", "--config", str(config))
    assert done.code == 0, done.err
    assert "requested 2" in done.out
    asked = {s.path.split("/")[-2] for s in redeliveries(forge)}
    first = [a for a in forge.attempts[HOOKS[kind]] if not a["redelivery"]]
    ids = {str(a["id"]) for a in first if a["key"] in (recent, old)}
    assert asked == ids

    again = hookd_here(capsys, "catch-up", "--since", "3d", "--config", str(config))
    assert "requested 0" in again.out
    assert "2 asked for before" in again.out
    assert len(redeliveries(forge)) == 2


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_three_pages_are_read_to_find_a_failure_on_the_last(
    kind: str, forge: FakeHooks, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = send(forge, kind, ago=7200)
    for _ in range(250):
        send(forge, kind, recorded=200, post=False)

    ran = hookd_here(capsys, "catch-up", "--config", str(config))

    assert ran.code == 0, ran.err
    assert f"requested {kind} {failed}" in ran.out
    pages = forge.listings(HOOKS[kind])
    assert len(pages) == 3
    marker = "cursor" if kind == "github" else "page"
    assert [marker in page.query for page in pages] == [False, True, True]
    assert all(page.query["per_page"] == "100" for page in pages)
    assert len(redeliveries(forge)) == 1


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_a_rate_limited_answer_is_waited_out(
    kind: str, forge: FakeHooks, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = send(forge, kind)
    forge.limit(1, HOOKS[kind])

    started = time.monotonic()
    ran = hookd_here(capsys, "catch-up", "--config", str(config))

    assert time.monotonic() - started >= 1.0
    assert f"requested {kind} {failed}" in ran.out
    assert len(forge.listings(HOOKS[kind])) == 2  # the limited one, then the one answered
    assert len(redeliveries(forge)) == 1


def test_a_hook_that_is_gone_is_no_longer_asked(
    forge: FakeHooks,
    config: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    forge.hooks.discard(GITHUB_HOOK)
    with caplog.at_level(logging.WARNING, "hookd.catch_up"):
        hookd_here(capsys, "catch-up", "--config", str(config))
        hookd_here(capsys, "catch-up", "--config", str(config))
    assert len(forge.listings(HOOKS["github"])) == 1
    assert [r.getMessage() for r in caplog.records if "is gone" in r.getMessage()] == [
        f"catch-up: endpoint 'github': the hook {GITHUB_HOOK} is gone "
        f"(GET {GITHUB_HOOK}/deliveries answered 404: Not Found); no longer asking it"
    ]


@pytest.mark.parametrize(
    ("endpoint", "problem"),
    [
        (
            "forge: github\n    catch_up: {hooks: [{project: 15, id: 3}]}",
            "a github endpoint cannot catch up from a project's hook",
        ),
        ("forge: github\n    catch_up: {since: 4d}", "since may be at most 72h"),
        ("forge: gitlab\n    catch_up: {hooks: [{group: acme}]}", "the group's hook needs its id"),
        (
            "forge: github\n    catch_up: {hooks: [{repository: octo, id: 3}]}",
            "repository must be owner/name",
        ),
    ],
)
def test_catch_up_settings_are_checked(
    endpoint: str, problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, f"endpoints:\n  e:\n    secret: x\n    {endpoint}\nhooks: {{}}\n")
    ran = hookd_here(capsys, "check", "--config", str(path))
    assert ran.code == 1
    assert problem in ran.err


def test_the_apps_hook_is_asked_with_the_apps_jwt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "app.pem").write_bytes(pem)
    with FakeHooks(hooks={"/app/hook"}, app_id=31337, public_key=key.public_key()) as forge:
        config = write_config(
            tmp_path,
            f"""
            server: {{database: sqlite:///hookd.db}}
            endpoints:
              github:
                forge: github
                secret: x
                api_url: {forge.url}
                app_id: 31337
                private_key_file: app.pem
                catch_up: {{hooks: [{{app: true}}]}}
            hooks: {{}}
            """,
        )
        missed = forge.github("/app/hook", "push", PUSH)

        ran = hookd_here(capsys, "catch-up", "--config", str(config))

        assert f"requested github {missed} (push) via /app/hook" in ran.out, ran.out + ran.err
        asked = [s.path for s in redeliveries(forge)]
        first = next(a for a in forge.attempts["/app/hook"] if a["key"] == missed)
        assert asked == [f"/app/hook/deliveries/{first['id']}/attempts"]


@pytest.mark.parametrize(
    ("kind", "repository", "body", "path"),
    [
        ("repository", "octo/hello", None, "/repos/octo/hello/hooks/7"),
        ("organization", "octo/hello", None, "/orgs/octo/hooks/7"),
        ("organization", None, b'{"organization": {"login": "acme"}}', "/orgs/acme/hooks/7"),
        ("integration", None, None, "/app/hook"),
        ("repository", None, None, None),
        ("business", "octo/hello", None, None),
    ],
)
@pytest.mark.anyio
async def test_a_github_hook_is_known_by_the_headers_of_its_deliveries(
    kind: str, repository: str | None, body: bytes | None, path: str | None, tmp_path: Path
) -> None:
    store = store_for(f"sqlite:///{tmp_path / 'hookd.db'}")
    await store.open()
    try:
        headers = (
            ("X-GitHub-Hook-ID", "7"),
            ("X-GitHub-Hook-Installation-Target-Type", kind),
            ("X-GitHub-Hook-Installation-Target-ID", "99"),
        )
        payload = {"repository": {"full_name": repository}} if repository else {}
        raw = body or json.dumps(payload).encode()
        delivery = Delivery(
            endpoint="github", forge="github", event="push", forge_event="push", action=None,
            delivery_id="guid-1", content_type="application/json", headers=headers, body=raw,
            payload=json.loads(raw),
        )  # fmt: skip
        await store.record_delivery(
            delivery, received_at=datetime.now(UTC), remote_addr=None, trace=[], jobs=[]
        )
        learned = await learn(store, "github", datetime.now(UTC), DAY)
        assert [state.hook for state in learned] == ([path] if path else [])
        assert await learn(store, "github", datetime.now(UTC), DAY) == learned  # kept, read once
    finally:
        await store.close()


def test_a_webhook_hookd_registers_is_caught_up_before_it_delivers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    relaying = importlib.import_module("relaying")
    with relaying.FakeGitHub(GITHUB_TOKEN, owners=("/repos/octo/hello",)) as github:
        config = write_config(
            tmp_path,
            f"""
            server: {{database: sqlite:///hookd.db}}
            endpoints:
              github: {{forge: github, secret: x, api_url: {github.url}}}
            hooks: {{}}
            """,
        )
        monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
        monkeypatch.delenv("GITHUB_API_URL", raising=False)
        ran = hookd_here(
            capsys, "github", "register", "-c", str(config), "--repo", "octo/hello",
            "--url", "https://hooks.example.com/hooks/github",
        )  # fmt: skip
    assert ran.code == 0, ran.err
    assert ran.out.strip().endswith("(events: push).")
    with sqlite3.connect(tmp_path / "hookd.db") as db:
        hooks = db.execute("SELECT endpoint, hook, caught_up_at FROM catch_up_hooks").fetchall()
    assert hooks == [("github", "/repos/octo/hello/hooks/101", None)]


def test_what_an_endpoint_needs_to_catch_up() -> None:
    def endpoint(**settings: object) -> EndpointSettings:
        return EndpointSettings.model_validate({"secret": "x", **settings})

    assert missing_credentials("g", endpoint(forge="github", api_token="t")) is None
    assert missing_credentials("g", endpoint(forge="github", app_id=1)) is None
    assert "GitHub App" in str(missing_credentials("g", endpoint(forge="github")))
    gitlab = missing_credentials("l", endpoint(forge="gitlab", app_id=1))
    assert gitlab == (
        "catch-up skipped for endpoint 'l': it has no api_token to list and resend its hooks' "
        "events with (GitLab: the api scope)"
    )
