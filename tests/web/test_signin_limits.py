"""Sign-in resists guessing, against live servers: failed sign-ins from one address get 429
with Retry-After past `server.auth_failures`, a right token works again after it, a short
token is refused beyond loopback, and a cookie saved before /logout is refused after it, by
every receiver sharing the database.

Each test speaks from its own loopback address (127.0.0.N), so the failures one test makes
never hold back another's requests."""

from __future__ import annotations

import contextlib
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import weblive
from weblive import TOKEN

import pg  # the PostgreSQL server fixture, shared by every test folder
from conftest import LiveServer, run_hookd, start_server, write_config

postgres_fixture = pg.postgres_fixture
postgres_url_fixture = pg.postgres_url_fixture

LIMIT = 5
WINDOW = 3
LIMITED = weblive.with_token().replace(
    "server:\n", f"server:\n  auth_failures: {LIMIT}\n  auth_window: {WINDOW}s\n", 1
)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with weblive.serving(tmp_path_factory.mktemp("limits"), LIMITED, "--workers", "0") as server:
        yield server


@contextlib.contextmanager
def client_from(address: str, server: LiveServer) -> Iterator[httpx.Client]:
    """A client whose requests come from `address` (any 127.0.0.0/8 address is local)."""
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(base_url=server.url, transport=transport, timeout=30) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_fifty_wrong_tokens_get_429_past_the_limit_and_the_right_one_works_after_retry_after(
    guarded: LiveServer,
) -> None:
    with client_from("127.0.0.2", guarded) as client:
        started = time.monotonic()
        answers = [client.get("/api/deliveries", headers=bearer(f"guess-{n}")) for n in range(50)]
        took = time.monotonic() - started
        statuses = [answer.status_code for answer in answers]
        assert statuses == [401] * LIMIT + [429] * (50 - LIMIT), statuses
        refused = answers[-1]
        wait = int(refused.headers["retry-after"])
        assert 1 <= wait <= WINDOW
        assert "Too many failed sign-ins" in refused.json()["error"]
        # Held back, the right token is not even tried: a guess could not tell.
        assert client.get("/api/deliveries", headers=bearer(TOKEN)).status_code == 429
        time.sleep(wait + 0.2)
        assert client.get("/api/deliveries", headers=bearer(TOKEN)).status_code == 200
    assert took < 30  # 50 tries, not slowed down by hookd itself: it answers 429 at once
    with client_from("127.0.0.9", guarded) as other:
        assert other.get("/api/deliveries", headers=bearer(TOKEN)).status_code == 200


def test_the_login_form_is_limited_too(guarded: LiveServer) -> None:
    with client_from("127.0.0.3", guarded) as client:
        for _ in range(LIMIT):
            page = client.post("/login", data={"token": "guess", "next": "/"})
            assert page.status_code == 401
        held = client.post("/login", data={"token": TOKEN, "next": "/"})
        assert held.status_code == 429
        assert int(held.headers["retry-after"]) >= 1
        assert "Too many failed sign-ins" in held.text
        assert "hookd_session" not in held.headers.get("set-cookie", "")


def test_a_forged_cookie_counts_as_a_failed_sign_in(guarded: LiveServer) -> None:
    with client_from("127.0.0.4", guarded) as client:
        statuses = []
        for n in range(LIMIT + 2):
            client.cookies.set("hookd_session", f"forged.{n}")
            statuses.append(client.get("/api/deliveries").status_code)
    assert statuses == [401] * LIMIT + [429] * 2


def test_a_valid_session_keeps_working_while_its_address_is_held_back(
    guarded: LiveServer,
) -> None:
    with client_from("127.0.0.5", guarded) as client:
        assert client.post("/login", data={"token": TOKEN, "next": "/"}).status_code == 303
        for n in range(LIMIT):
            client.get("/metrics", headers=bearer(f"guess-{n}"))
        assert client.get("/metrics", headers=bearer(TOKEN)).status_code == 429
        assert client.get("/api/deliveries").status_code == 200  # the cookie alone


@contextlib.contextmanager
def sign_in(server: LiveServer) -> Iterator[tuple[httpx.Client, str]]:
    """A signed-in client and its session cookie as a browser would have saved it."""
    with weblive.client(base_url=server.url) as client:
        assert client.post("/login", data={"token": TOKEN, "next": "/"}).status_code == 303
        yield client, client.cookies["hookd_session"]


def sign_out(client: httpx.Client) -> None:
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text)
    assert csrf is not None
    assert client.post("/logout", data={"csrf": csrf.group(1)}).status_code == 303


def test_a_cookie_saved_before_logout_is_refused_after_it(guarded: LiveServer) -> None:
    with sign_in(guarded) as (client, saved):
        sign_out(client)
    with weblive.client(base_url=guarded.url, cookies={"hookd_session": saved}) as stranger:
        assert stranger.get("/api/deliveries").status_code == 401
        page = stranger.get("/")
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
    with sign_in(guarded) as (other, _):  # other sessions are not affected
        assert other.get("/api/deliveries").status_code == 200


def test_logout_on_one_receiver_ends_the_session_on_another_sharing_postgresql(
    tmp_path: Path, postgres_url: str
) -> None:
    config = LIMITED.replace("sqlite:///hookd.db", postgres_url)
    servers = []
    try:
        for name in ("a", "b"):
            folder = tmp_path / name
            folder.mkdir()
            write_config(folder, config)
            servers.append(start_server(folder, "--workers", "0"))
        first, second = servers
        with sign_in(first) as (client, saved):
            cookies = {"hookd_session": saved}
            with weblive.client(base_url=second.url, cookies=cookies) as elsewhere:
                assert elsewhere.get("/api/deliveries").status_code == 200
                sign_out(client)
                assert elsewhere.get("/api/deliveries").status_code == 401
    finally:
        for server in servers:
            server.stop(signal.SIGKILL)


ONE_CHARACTER = """
server:
  host: {host}
  port: 0
  token: "1"
endpoints:
  github: {{secret: x}}
hooks: {{}}
"""


def test_a_one_character_token_is_refused_beyond_loopback(tmp_path: Path) -> None:
    write_config(tmp_path, ONE_CHARACTER.format(host="0.0.0.0"))
    checked = run_hookd("check", cwd=tmp_path, check=False)
    assert checked.returncode == 1
    assert "server.token: must be at least 16 characters" in checked.stderr
    served = run_hookd("serve", cwd=tmp_path, check=False)
    assert served.returncode == 1
    assert "at least 16 characters" in served.stderr
    assert "listening" not in served.stdout
    write_config(tmp_path, ONE_CHARACTER.format(host="127.0.0.1"))
    assert run_hookd("check", cwd=tmp_path).returncode == 0  # on loopback it is allowed
    widened = run_hookd("serve", "--host", "0.0.0.0", cwd=tmp_path, check=False)
    assert widened.returncode == 1
    assert "--host 0.0.0.0: server.token must be at least 16 characters" in widened.stderr


def test_a_signed_out_cookie_is_refused_but_is_no_guess(guarded: LiveServer) -> None:
    """An open tab still polling with its cookie after a logout must not lock its user out:
    that cookie was signed with the key, so it is stale, not guessed (a forged one is)."""
    with sign_in(guarded) as (client, saved):
        sign_out(client)
    with client_from("127.0.0.6", guarded) as stale:
        stale.cookies.set("hookd_session", saved)
        statuses = [stale.get("/api/deliveries").status_code for _ in range(LIMIT + 2)]
        assert statuses == [401] * (LIMIT + 2)
        stale.cookies.clear()
        assert stale.post("/login", data={"token": TOKEN, "next": "/"}).status_code == 303
