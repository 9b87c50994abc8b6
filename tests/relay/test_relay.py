"""`hookd relay` as a real process on loopback: channels, durable storage, SSE with tokens,
resuming by Last-Event-ID and acknowledgements, the size cap and the retention window."""

from __future__ import annotations

import base64
import json
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from relaying import Live, Proc, create_channel, read_events, run_relay_cli, wait_for

ODD_BYTES = b"\x00\xff binary \r\n\xfe{not json"
ADMIN = "admin-secret"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    started = Live(tmp_path)
    yield started
    started.stop_all()


@pytest.fixture(scope="module")
def relay_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One relay for the tests that need no particular options."""
    shared = Live(tmp_path_factory.mktemp("relay"))
    yield shared.relay().url
    shared.stop_all()


def test_creates_channels_with_unguessable_urls_and_their_own_tokens(relay_url: str) -> None:
    first_url, first_token = create_channel(relay_url)
    second_url, second_token = create_channel(relay_url)
    assert re.fullmatch(rf"{re.escape(relay_url)}/c/[0-9a-f]{{32}}", first_url)
    assert first_url != second_url
    assert first_token != second_token
    assert len(first_token) >= 40


def test_keeps_any_body_byte_for_byte_and_streams_it_to_the_subscriber(relay_url: str) -> None:
    url, token = create_channel(relay_url)
    sent = httpx.post(
        f"{url}?source=test",
        content=ODD_BYTES,
        headers={"Content-Type": "application/octet-stream", "X-Custom": "kept"},
    )
    assert sent.status_code == 202
    assert sent.json() == {"status": "stored", "id": 1}

    [event] = read_events(f"{url}/events", {"Authorization": f"Bearer {token}"}, 1)
    data = json.loads(event.data)
    assert event.id == "1"
    assert base64.b64decode(data["body"]) == ODD_BYTES
    assert data["method"] == "POST"
    assert data["query"] == "source=test"
    assert ["content-type", "application/octet-stream"] in data["headers"]
    assert ["x-custom", "kept"] in data["headers"]


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", "Basic dXNlcjpwYXNz", "Bearer"],
    ids=["no token", "wrong token", "other scheme", "empty token"],
)
def test_refuses_subscribers_without_the_channel_token(
    relay_url: str, authorization: str | None
) -> None:
    url, _token = create_channel(relay_url)
    httpx.post(url, content=b"secret payload")
    headers = {"Authorization": authorization} if authorization else {}
    refused = httpx.get(f"{url}/events", headers=headers)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert "secret payload" not in refused.text
    assert "Authorization: Bearer" in refused.json()["error"]


def test_an_unknown_channel_and_another_channels_token_get_the_same_answer(
    relay_url: str,
) -> None:
    url, _token = create_channel(relay_url)
    _other_url, other_token = create_channel(relay_url)
    auth = {"Authorization": f"Bearer {other_token}"}
    wrong_token = httpx.get(f"{url}/events", headers=auth)
    unknown = httpx.get(f"{relay_url}/c/{'0' * 32}/events", headers=auth)
    not_an_id = httpx.get(f"{relay_url}/c/nope/events", headers=auth)
    ack = httpx.post(f"{url}/ack", headers=auth, json={"id": 1, "subscriber": "x"})
    assert {r.status_code for r in (wrong_token, unknown, not_an_id, ack)} == {401}
    assert wrong_token.content == unknown.content == not_an_id.content == ack.content


def test_resumes_after_last_event_id_else_after_the_subscribers_acknowledgement(
    relay_url: str,
) -> None:
    url, token = create_channel(relay_url)
    auth = {"Authorization": f"Bearer {token}"}
    for index in range(3):
        assert httpx.post(url, content=f"delivery {index}".encode()).status_code == 202

    after_one = read_events(f"{url}/events", {**auth, "Last-Event-ID": "1"}, 1)
    assert [event.id for event in after_one] == ["2"]

    acked = httpx.post(f"{url}/ack", headers=auth, json={"id": 2, "subscriber": "laptop"})
    assert acked.json() == {"acknowledged": 2, "subscriber": "laptop"}
    older = httpx.post(f"{url}/ack", headers=auth, json={"id": 1, "subscriber": "laptop"})
    assert older.json()["acknowledged"] == 2, "an older id never moves the mark back"

    laptop = read_events(f"{url}/events?subscriber=laptop", auth, 1)
    assert [event.id for event in laptop] == ["3"]
    other = read_events(f"{url}/events?subscriber=desktop", auth, 3)
    assert [event.id for event in other] == ["1", "2", "3"]


def test_several_subscribers_each_receive_a_new_delivery(relay_url: str) -> None:
    url, token = create_channel(relay_url)
    auth = {"Authorization": f"Bearer {token}"}
    client = httpx.Client(timeout=httpx.Timeout(5.0, read=5.0))
    streams = [
        client.stream("GET", f"{url}/events?subscriber={name}", headers=auth) for name in ("a", "b")
    ]
    try:
        responses = [stream.__enter__() for stream in streams]
        lines = [response.iter_lines() for response in responses]
        for each in lines:
            assert next(each) == "event: ready"
        assert httpx.post(url, content=b"for both").status_code == 202
        for each in lines:
            seen = [next(each) for _ in range(6)]
            assert "id: 1" in seen
            assert any(base64.b64encode(b"for both").decode() in line for line in seen)
    finally:
        for stream in streams:
            stream.__exit__(None, None, None)
        client.close()


def test_a_stored_request_survives_the_relay_being_killed(live: Live) -> None:
    relay = live.relay()
    url, token = create_channel(relay.url)
    assert httpx.post(url, content=b"kept on disk").status_code == 202
    relay.stop(signal.SIGKILL)

    restarted = live.relay()
    url = url.replace(relay.url, restarted.url)
    [event] = read_events(f"{url}/events", {"Authorization": f"Bearer {token}"}, 1)
    assert base64.b64decode(json.loads(event.data)["body"]) == b"kept on disk"


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    """A relay with an admin token, a public URL and a 1 KB cap."""
    shared = Live(tmp_path_factory.mktemp("strict"))
    yield shared.relay(
        "--admin-token", ADMIN, "--public-url", "https://relay.example.com/", "--max-body", "1KB"
    )
    shared.stop_all()


def test_answers_413_beyond_the_size_cap_and_stores_nothing(strict: Proc) -> None:
    url, token = create_channel(strict.url, ADMIN)
    url = url.replace("https://relay.example.com", strict.url)
    too_large = httpx.post(url, content=b"x" * 1025)
    assert too_large.status_code == 413
    assert "larger than 1024 bytes" in too_large.json()["error"]
    declared = httpx.post(url, content=iter([b"x" * 600, b"x" * 600]))
    assert declared.status_code == 413, "a chunked body is cut at the cap too"
    assert httpx.post(url, content=b"x" * 1024).json()["id"] == 1
    [event] = read_events(f"{url}/events", {"Authorization": f"Bearer {token}"}, 1)
    assert event.id == "1"


def test_unknown_channels_are_404_and_a_get_on_a_channel_says_to_post(relay_url: str) -> None:
    url, _token = create_channel(relay_url)
    unknown = httpx.post(f"{relay_url}/c/{'a' * 32}", content=b"{}")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "Not found."}
    got = httpx.get(url)
    assert got.status_code == 405
    assert got.headers["allow"] == "POST"
    assert "POST" in got.json()["error"]


def test_rejects_malformed_acknowledgements_with_a_sentence(relay_url: str) -> None:
    url, token = create_channel(relay_url)
    auth = {"Authorization": f"Bearer {token}"}
    for body in (b"not json", b'{"id": "3"}', b'{"id": -1}', b'{"id": 1, "subscriber": ""}'):
        answer = httpx.post(f"{url}/ack", headers=auth, content=body)
        assert answer.status_code == 400
        assert answer.json()["error"].endswith(".")


def test_creating_channels_needs_the_admin_token_when_one_is_set(strict: Proc) -> None:
    refused = httpx.post(f"{strict.url}/channels")
    assert refused.status_code == 401
    wrong = httpx.post(f"{strict.url}/channels", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    create_channel(strict.url, admin_token=ADMIN)
    assert ADMIN not in strict.log()


def test_refuses_to_listen_beyond_loopback_without_an_admin_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "relay.db"
    code, err = run_relay_cli(["--host", "0.0.0.0", "--db", str(database)], monkeypatch, capsys)
    assert code == 2
    assert "set --admin-token (or HOOKD_RELAY_TOKEN) when listening beyond loopback" in err
    assert not database.exists()


def test_a_database_that_cannot_be_opened_is_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("not a folder")
    code, err = run_relay_cli(["--db", str(tmp_path / "file" / "relay.db")], monkeypatch, capsys)
    assert code == 1
    assert err.startswith("hookd: cannot open the relay database")
    assert "Traceback" not in err


def test_public_url_sets_the_base_of_channel_urls(strict: Proc) -> None:
    url, _token = create_channel(strict.url, ADMIN)
    assert re.fullmatch(r"https://relay\.example\.com/c/[0-9a-f]{32}", url)


def test_prunes_requests_older_than_the_retention_window(live: Live) -> None:
    relay = live.relay("--retention", "1s")
    url, token = create_channel(relay.url)
    assert httpx.post(url, content=b"old").status_code == 202
    wait_for(lambda: "pruned 1 requests" in relay.log(), "the prune")
    time.sleep(0.1)
    assert httpx.post(url, content=b"new").status_code == 202
    [event] = read_events(f"{url}/events", {"Authorization": f"Bearer {token}"}, 1)
    assert event.id == "2"
    assert base64.b64decode(json.loads(event.data)["body"]) == b"new"


def test_stopping_ends_open_event_streams_at_once(live: Live) -> None:
    relay = live.relay()
    url, token = create_channel(relay.url)
    auth = {"Authorization": f"Bearer {token}"}
    with (
        httpx.Client(timeout=httpx.Timeout(5.0, read=10.0)) as client,
        client.stream("GET", f"{url}/events", headers=auth) as response,
    ):
        lines = response.iter_lines()
        assert next(lines) == "event: ready"
        started = time.monotonic()
        relay.process.send_signal(signal.SIGTERM)
        assert [line for line in lines if line] == ['data: {"after":0}']
        # uvicorn re-raises the signal once it has shut down cleanly.
        assert relay.process.wait(10) in (0, -signal.SIGTERM)
    assert time.monotonic() - started < 5
    assert "Traceback" not in relay.log()
