"""`hookd relay` against a stranger: quotas on what a channel and the relay take in and
keep, event ids it cannot overflow on, guessing tokens slowed per address, and no short
admin token beyond loopback. Real relay processes on loopback, with small limits."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from relaying import Live, create_channel, read_events, run_relay_cli

from hookd.relay.quota import Allowance, Intake, Quotas, duration_text, size_text
from hookd.relay.storage import RelayStorage, Usage
from hookd.relay.wire import MAX_EVENT_ID, parse_event_id

ADMIN = "a-long-enough-admin-token"
KB = 1024


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    started = Live(tmp_path)
    yield started
    started.stop_all()


def stored_bytes(database: Path) -> int:
    """What the relay's file holds in requests, counted from the rows themselves."""
    with sqlite3.connect(database) as db:
        (total,) = db.execute(
            "SELECT coalesce(sum(length(body) + length(CAST(headers AS BLOB))"
            " + length(CAST(query AS BLOB))), 0) FROM requests"
        ).fetchone()
    return int(total)


def flood(url: str, seconds: float, body: bytes, threads: int = 4) -> list[httpx.Response]:
    """Post `body` to `url` from `threads` clients, without credentials, for `seconds`."""
    answers: list[httpx.Response] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def post() -> None:
        with httpx.Client(timeout=10) as client:
            while time.monotonic() < deadline:
                answer = client.post(url, content=body)
                answer.read()
                with lock:
                    answers.append(answer)

    workers = [threading.Thread(target=post) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(seconds + 30)
    return answers


def test_a_ten_second_flood_of_one_channel_stops_at_its_quotas(live: Live) -> None:
    quotas = ("--channel-storage", "2MB", "--channel-requests", "120")
    relay = live.relay(*quotas)
    flooded, _token = create_channel(relay.url)
    other, other_token = create_channel(relay.url)

    answers = flood(flooded, 10.0, b"x" * (32 * KB))
    statuses = Counter(answer.status_code for answer in answers)
    assert set(statuses) == {202, 429, 507}, statuses
    assert statuses[202] < 2 * 1024 // 32, "no more than 2 MB of 32 KB bodies stored"
    assert stored_bytes(live.directory / "relay.db") <= 2 * 1024 * KB
    for answer in answers:
        if answer.status_code == 507:
            assert answer.json()["error"].startswith("This channel's storage is full (2 MB)")
        if answer.status_code == 429:
            assert int(answer.headers["retry-after"]) >= 1
            assert answer.json()["error"].startswith(
                "This channel takes at most 120 requests a minute; send it again in"
            )

    sent = httpx.post(other, content=b"another channel")
    assert sent.status_code == 202, "the relay keeps serving the other channels"
    [event] = read_events(f"{other}/events", {"Authorization": f"Bearer {other_token}"}, 1)
    assert event.id == "1"
    assert "Traceback" not in relay.log()

    relay.stop()
    restarted = live.relay(*quotas)
    again = httpx.post(flooded.replace(relay.url, restarted.url), content=b"x" * (32 * KB))
    assert again.status_code == 507, "what is stored is counted from the file, not memory"


def test_a_channel_takes_so_many_bytes_a_minute(live: Live) -> None:
    relay = live.relay("--channel-bytes", "100KB")
    url, _token = create_channel(relay.url)
    other, _other_token = create_channel(relay.url)
    assert httpx.post(url, content=b"x" * (60 * KB)).status_code == 202
    refused = httpx.post(url, content=b"x" * (60 * KB))
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"].startswith("This channel takes at most 100 KB a minute")
    assert httpx.post(other, content=b"x" * (60 * KB)).status_code == 202


def test_the_relay_as_a_whole_has_storage_and_request_quotas(live: Live) -> None:
    relay = live.relay("--total-storage", "100KB", "--total-requests", "4")
    first, second, third = (create_channel(relay.url)[0] for _ in range(3))
    assert httpx.post(first, content=b"x" * (60 * KB)).status_code == 202
    full = httpx.post(second, content=b"x" * (60 * KB))
    assert full.status_code == 507
    assert full.json()["error"] == (
        "The relay's storage is full (100 KB): it takes requests again as stored ones "
        "pass the relay's 72 h retention window."
    )
    assert httpx.post(second, content=b"{}").status_code == 202
    assert httpx.post(third, content=b"{}").status_code == 202
    busy = httpx.post(third, content=b"{}")
    assert busy.status_code == 429
    assert busy.json()["error"].startswith("The relay takes at most 4 requests a minute")
    assert int(busy.headers["retry-after"]) >= 1


def test_ids_that_are_not_small_whole_numbers_get_400_and_the_stream_goes_on(
    live: Live,
) -> None:
    relay = live.relay()
    url, token = create_channel(relay.url)
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.post(url, content=b"first").status_code == 202

    for bad in (2**63, 2**64, 2**53, -1, 1.5, "1", True, None):
        answer = httpx.post(f"{url}/ack", headers=auth, json={"id": bad, "subscriber": "a"})
        assert answer.status_code == 400, bad
        assert f"from 0 to {MAX_EVENT_ID}." in answer.json()["error"]
    far = httpx.post(f"{url}/ack", headers=auth, json={"id": MAX_EVENT_ID, "subscriber": "far"})
    assert far.json() == {"acknowledged": MAX_EVENT_ID, "subscriber": "far"}
    too_long = httpx.post(f"{url}/ack", headers=auth, content=b" " * 5000)
    assert too_long.status_code == 413

    for bad_id in ("9" * 20, str(2**63), str(MAX_EVENT_ID + 1), "-1", "abc", "1e3", "0x10"):
        answer = httpx.get(f"{url}/events", headers={**auth, "Last-Event-ID": bad_id})
        assert answer.status_code == 400, bad_id
        assert answer.json()["error"] == (
            f"Last-Event-ID must be an event id: a whole number from 0 to {MAX_EVENT_ID}."
        )

    [event] = read_events(f"{url}/events", {**auth, "Last-Event-ID": "0"}, 1)
    assert event.id == "1"
    assert httpx.post(url, content=b"second").status_code == 202
    [event] = read_events(f"{url}/events", {**auth, "Last-Event-ID": "1"}, 1)
    assert event.id == "2"
    assert "Traceback" not in relay.log()


def test_parses_only_plain_ascii_event_ids_in_range() -> None:
    assert parse_event_id("0") == 0
    assert parse_event_id(str(MAX_EVENT_ID)) == MAX_EVENT_ID
    for bad in ("", " 1", "+1", "١٢", "²", "1_000", str(MAX_EVENT_ID + 1), "0" * 17):
        assert parse_event_id(bad) is None, bad


def test_an_allowance_refills_evenly_and_a_spend_past_empty_is_paid_back_first() -> None:
    allowance = Allowance(60, now=0.0)
    assert allowance.wait(60, now=0.0) is None
    allowance.spend(90, now=0.0)
    assert allowance.wait(1, now=0.0) == pytest.approx(31.0)
    assert allowance.wait(1, now=31.0) is None
    assert allowance.wait(500, now=31.0) == pytest.approx(59.0), "at most a minute's worth"
    assert allowance.wait(2, now=20.0) == pytest.approx(1.0), "a clock set back refills nothing"


def test_intake_forgets_the_least_recent_channel_first_and_says_which_quota() -> None:
    intake = Intake(Quotas(channel_requests=1), now=0.0, max_channels=2)
    assert intake.admit("a", 10, now=0.0) is None
    refusal = intake.admit("a", 10, now=1.0)
    assert refusal is not None
    assert refusal.sentence == (
        "This channel takes at most 1 requests a minute; send it again in 59 s."
    )
    assert refusal.retry_after == pytest.approx(59.0)
    assert intake.admit("b", 10, now=1.0) is None
    assert intake.admit("c", 10, now=1.0) is None
    assert intake.admit("a", 10, now=1.0) is None, "a was forgotten: a fresh minute"
    assert size_text(100 * KB) == "100 KB"
    assert size_text(1000) == "1000 B"
    assert duration_text(72 * 3600) == "72 h"
    assert duration_text(120.0) == "2 min"
    assert duration_text(90.0) == "90 s"


def guess(url: str, count: int, threads: int = 10) -> list[httpx.Response]:
    """`count` wrong subscriber tokens sent to `url`'s stream, all at once from `threads`
    clients."""
    answers: list[httpx.Response] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def send(worker: int) -> None:
        start.wait()
        with httpx.Client(timeout=10) as client:
            for attempt in range(count // threads):
                headers = {"Authorization": f"Bearer wrong-{worker}-{attempt}"}
                answer = client.get(f"{url}/events", headers=headers)
                with lock:
                    answers.append(answer)

    workers = [threading.Thread(target=send, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    return answers


def test_guessing_tokens_gets_429_and_the_right_token_works_after_retry_after(
    live: Live,
) -> None:
    relay = live.relay("--admin-token", ADMIN, "--auth-failures", "5", "--auth-window", "10s")
    url, token = create_channel(relay.url, ADMIN)
    auth = {"Authorization": f"Bearer {token}"}

    answers = guess(url, 50)
    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {401: 5, 429: 45}, "concurrent guesses cannot slip past the count"
    for answer in answers:
        if answer.status_code == 429:
            assert answer.json()["error"].startswith(
                "Too many wrong tokens came from your address; try again in"
            )
    held = httpx.post(f"{url}/ack", headers=auth, json={"id": 0})
    assert held.status_code == 429, "while held back, even the right token is not checked"
    admin = httpx.post(f"{relay.url}/channels", headers={"Authorization": f"Bearer {ADMIN}"})
    assert admin.status_code == 429

    time.sleep(int(held.headers["retry-after"]))
    acked = httpx.post(f"{url}/ack", headers=auth, json={"id": 0})
    assert acked.status_code == 200
    assert httpx.post(url, content=b"still delivered").status_code == 202
    [event] = read_events(f"{url}/events", auth, 1)
    assert event.id == "1"
    create_channel(relay.url, ADMIN)
    assert token not in relay.log()


def test_wrong_admin_tokens_count_per_address_behind_a_proxy_on_the_machine(
    live: Live,
) -> None:
    relay = live.relay("--admin-token", ADMIN, "--auth-failures", "3")
    guesser = {"X-Forwarded-For": "203.0.113.7"}
    answers = [
        httpx.post(f"{relay.url}/channels", headers={**guesser, "Authorization": f"Bearer {n}"})
        for n in range(5)
    ]
    assert [answer.status_code for answer in answers] == [401, 401, 401, 429, 429]
    assert int(answers[-1].headers["retry-after"]) > 1
    right = {"Authorization": f"Bearer {ADMIN}"}
    assert httpx.post(f"{relay.url}/channels", headers={**guesser, **right}).status_code == 429
    someone_else = {"X-Forwarded-For": "198.51.100.1", **right}
    assert httpx.post(f"{relay.url}/channels", headers=someone_else).status_code == 201


def test_refuses_a_short_admin_token_beyond_loopback_before_listening(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "relay.db"
    args = ["--host", "0.0.0.0", "--admin-token", "x", "--db", str(database)]
    code, err = run_relay_cli(args, monkeypatch, capsys)
    assert code == 2
    assert "the admin token is shorter than 16 characters; a relay that listens beyond" in err
    assert not database.exists()


OLD_SCHEMA = """
CREATE TABLE channels (id TEXT PRIMARY KEY, token_sha256 BLOB NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL);
CREATE TABLE requests (channel TEXT NOT NULL, seq INTEGER NOT NULL, method TEXT NOT NULL,
    query TEXT NOT NULL, headers TEXT NOT NULL, content_type TEXT, body BLOB NOT NULL,
    received_at REAL NOT NULL, PRIMARY KEY (channel, seq));
INSERT INTO channels VALUES ('c1', x'00', 1, 0);
INSERT INTO requests VALUES ('c1', 1, 'POST', 'q=é', '[["x","ÿ"]]', NULL, x'0102', 0);
"""


def test_counts_what_a_file_from_before_the_quotas_stores_and_what_pruning_frees(
    tmp_path: Path,
) -> None:
    database = tmp_path / "relay.db"
    with sqlite3.connect(database) as db:
        db.executescript(OLD_SCHEMA)
    old_size = stored_bytes(database)
    assert old_size == 2 + len('[["x","ÿ"]]'.encode()) + len("q=é".encode())

    async def scenario() -> list[Usage | None]:
        storage = RelayStorage(database)
        await storage.open()
        try:
            seen = [await storage.usage("c1")]
            channel, _token = await storage.create_channel(10.0)
            headers = (("x-odd", "\xe9\xff"),)
            room = Usage(channel=20_000, total=10_000)
            assert await storage.add_request(channel, "POST", "a=\xe9", headers, b"abc", 10.0, room)
            seen.append(await storage.usage(channel))
            assert await storage.add_request(channel, "POST", "", (), b"x" * 9_990, 10.0, room) == (
                "total"
            )
            assert await storage.prune(before=5.0) == 1
            seen.append(await storage.usage(channel))
            assert await storage.prune(before=20.0) == 1
            seen.append(await storage.usage(channel))
            return seen
        finally:
            await storage.close()

    old, added, after_first_prune, emptied = asyncio.run(scenario())
    assert old == Usage(channel=old_size, total=old_size)
    assert added is not None
    assert added.total == old_size + added.channel
    assert after_first_prune == Usage(channel=added.channel, total=added.channel)
    assert emptied == Usage(channel=0, total=0)
    assert stored_bytes(database) == 0
