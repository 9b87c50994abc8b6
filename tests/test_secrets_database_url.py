"""A database URL's password appears in no output: not in what `serve`, `worker`, `check`,
`migrate` and `deliveries` print, not in a log line, not in an HTTP answer, not in what
`ps` shows of hookd's command line; whatever form the URL takes. And every command that
opens the store reads the database from `--db`, else `HOOKD_DATABASE`, else the config."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

import pg  # the PostgreSQL server fixture, shared by every test folder
from conftest import hookd_here, run_hookd, start_server, write_config
from hookd.core.delivery import Delivery
from hookd.store import store_for
from hookd.store.database_url import display_url, scrub
from hookd.store.records import NewJob

postgres_fixture = pg.postgres_fixture
postgres_url_fixture = pg.postgres_url_fixture

CONFIG = """
server:
  port: 0
  database: {database}
endpoints:
  github:
    forge: github
    secret: "It's a Secret to Everybody"
hooks:
  echo:
    on: push
    run: [echo, hello]
"""


def closed_port() -> int:
    """A loopback port where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


PORT = closed_port()
# (URL, the texts of its password that must never be printed)
FORMS = [
    (f"postgresql://u@127.0.0.1:{PORT}/db?password=hunter2", ("hunter2",)),
    (f"postgresql://u:hunter2@127.0.0.1:{PORT}/db", ("hunter2",)),
    ("postgresql://u:hunter2@[::1:1/db", ("hunter2",)),
    (f"postgresql://u:hun@ter2@127.0.0.1:{PORT}/db", ("hun@ter2", "ter2@", "hun@")),
    (f"postgresql://u:hun%zzter2@127.0.0.1:{PORT}/db", ("zzter2",)),
    (f"postgresql://u:12/hunter2@127.0.0.1:{PORT}/db", ("hunter2",)),
    (f"postgres://u:x@127.0.0.1:{PORT}/db?sslpassword=hunter2&sslmode=disable", ("hunter2",)),
]
IDS = ["query", "userinfo", "malformed-host", "at-sign", "bad-escape", "slash", "sslpassword"]


def assert_hidden(text: str, secrets: tuple[str, ...], where: str) -> None:
    for secret in secrets:
        assert secret not in text, f"{where} shows {secret!r}:\n{text}"


@pytest.mark.parametrize(("url", "secrets"), FORMS, ids=IDS)
def test_display_and_scrub_hide_every_form(url: str, secrets: tuple[str, ...]) -> None:
    assert_hidden(display_url(url), secrets, "display_url")
    assert display_url(url).startswith(url.split("://")[0] + "://")
    # libpq's own messages about the URL as written (hookd hands libpq a cleaned URL, but
    # whatever libpq says passes through scrub).
    try:
        psycopg.connect(url, connect_timeout=2).close()
    except psycopg.Error as exc:
        assert_hidden(scrub(str(exc), url), secrets, "scrub")
    assert_hidden(scrub(f"in URI: {url!r}; password=hunter2", url), secrets, "scrub")


@pytest.mark.parametrize(("url", "secrets"), FORMS, ids=IDS)
def test_no_command_prints_a_password_of_an_unreachable_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, secrets: tuple[str, ...]
) -> None:
    write_config(tmp_path, CONFIG.format(database='"${DB}"'))
    env = {"DB": url}
    for command in (["serve", "--workers", "0"], ["worker"]):
        ran = run_hookd(*command, "--config", "hookd.yaml", cwd=tmp_path, env=env, check=False)
        assert ran.returncode == 1, ran.stdout + ran.stderr
        assert_hidden(ran.stdout + ran.stderr, secrets, " ".join(command))
        assert "Traceback" not in ran.stderr
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DB", url)
        patch.chdir(tmp_path)
        assert hookd_here(capsys, "check").code == 0
        for args in (["migrate"], ["deliveries"], ["migrate", "--db", url], ["jobs"]):
            ran = hookd_here(capsys, *args)
            assert ran.code == 1, (args, ran)
            assert_hidden(ran.out + ran.err, secrets, " ".join(args))


def test_a_live_server_and_worker_never_show_the_password(
    tmp_path: Path, postgres_url: str
) -> None:
    """The test cluster trusts local connections, so a password in the URL is accepted
    (and ignored): hookd serves with it, and must still never show it."""
    base, _, database = postgres_url.rpartition("/")
    url = base.replace("postgres@", "postgres:hunter2@") + f"/{database}?sslpassword=hunter3"
    write_config(tmp_path, CONFIG.format(database="sqlite:///unused.db"))
    server = start_server(tmp_path, "--db", url, "--workers", "0")
    worker_log = tmp_path / "worker.log"
    with worker_log.open("wb") as output:
        worker = subprocess.Popen(
            [sys.executable, "-m", "hookd", "worker", "--db", url, "--config", "hookd.yaml"],
            cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        answers = [
            httpx.get(f"{server.url}{path}", timeout=30).text
            for path in ("/readyz", "/metrics", "/api/deliveries", "/", "/healthz")
        ]
        deadline = time.monotonic() + 30
        while "job workers on" not in worker_log.read_text():
            assert worker.poll() is None, worker_log.read_text()
            assert time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.1)
        cmdlines = [
            Path(f"/proc/{pid}/cmdline").read_bytes().decode()
            for pid in (server.process.pid, worker.pid)
        ]
        assert all("postgres:*******@" in cmdline for cmdline in cmdlines), cmdlines
        for pid in (server.process.pid, worker.pid):  # and a job could read no variable
            assert Path(f"/proc/{pid}/environ").read_bytes().strip(b"\0") == b""
    finally:
        server.stop()
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    worker_output = worker_log.read_text()
    migrated = run_hookd("migrate", "--db", url, cwd=tmp_path)
    listed = run_hookd("deliveries", cwd=tmp_path, env={"HOOKD_DATABASE": url})
    printed = [server.log(), worker_output, migrated.stdout + migrated.stderr, listed.stdout]
    assert "database: postgresql://postgres:***@" in server.log()
    assert "job workers on postgresql://postgres:***@" in worker_output
    for text in (*printed, *answers, *cmdlines):
        assert_hidden(text, ("hunter2", "hunter3"), "an output")


def delivery(name: str) -> Delivery:
    body = b'{"ref": "refs/heads/main", "repository": {"full_name": "octo/hello"}}'
    return Delivery(
        endpoint="github", forge="github", event="push", forge_event="push", action=None,
        delivery_id=name, content_type="application/json",
        headers=(("X-GitHub-Event", "push"),), body=body,
        payload={"ref": "refs/heads/main", "repository": {"full_name": "octo/hello"}},
    )  # fmt: skip


def test_every_store_command_reads_hookd_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The config names one database, HOOKD_DATABASE another that holds a delivery."""
    write_config(tmp_path, CONFIG.format(database="sqlite:///from-config.db"))
    chosen = tmp_path / "from-env.db"

    async def seed() -> tuple[str, str]:
        store = store_for(f"sqlite:///{chosen}")
        await store.open()
        try:
            await store.record_delivery(
                delivery("old"), received_at=datetime.now(UTC) - timedelta(days=3),
                remote_addr="127.0.0.1", trace=[], jobs=[],
            )  # fmt: skip
            recorded = await store.record_delivery(
                delivery("new"), received_at=datetime.now(UTC),
                remote_addr="127.0.0.1", trace=[], jobs=[NewJob("echo", max_attempts=1)],
            )  # fmt: skip
            await store.append_log(recorded.job_ids[0], b"from the chosen database\n", 1 << 20)
            return recorded.id, recorded.job_ids[0]
        finally:
            await store.close()

    delivery_id, job_id = asyncio.run(seed())
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        patch.setenv("HOOKD_DATABASE", f"sqlite:///{chosen}")
        expectations = [
            (["deliveries"], delivery_id),
            (["jobs"], job_id),
            (["show", delivery_id], "octo/hello"),
            (["logs", job_id], "from the chosen database"),
            (["match", delivery_id], "echo: would run"),
            (["replay", delivery_id], f"Replayed {delivery_id}"),
            (["migrate"], "schema version"),
            (["prune", "--older-than", "1d"], "Pruned 1 deliveries"),
        ]
        for args, expected in expectations:
            ran = hookd_here(capsys, *args)
            assert ran.code == 0, (args, ran)
            assert expected in ran.out, (args, ran.out)
        # --db wins over the variable.
        other = f"sqlite:///{tmp_path / 'from-option.db'}"
        assert "No deliveries yet" in hookd_here(capsys, "deliveries", "--db", other).out
    assert not (tmp_path / "from-config.db").exists()
