"""`hookd relay` + `hookd forward` + `hookd serve` as three real processes on loopback:
deliveries arrive at hookd byte for byte and verify, and a forwarder that stops and starts
again loses none and repeats none."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from httpx_sse import ServerSentEvent
from relaying import HOOKD_CONFIG, Live, Proc, create_channel, signed

from conftest import LiveServer
from hookd.cli import main
from hookd.relay import RefusedError
from hookd.relay.client import Forwarder, RelayChannel
from hookd.relay.wire import Relayed
from local_http import LocalHttpServer

# Bytes a JSON parser and writer would not give back: an escaped `&`, non-ASCII text,
# odd spacing and a number whose trailing zero a float would lose.
TRICKY_JSON = [
    b'{"zen": "Design for failure \\u0026 recover", "ref": "refs/heads/main"}',
    '{"pusher":{"name":"Zoë Łukasz 日本"},"after":"abc"}'.encode(),
    b'{\n  "a" :  1,\t"b":[ 1 , 2 ]  ,\n"c": {}  }\n',
    b'{"price": 1.50, "big": 12345678901234567890, "e": 1E+2}',
]


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    started = Live(tmp_path)
    yield started
    started.stop_all()


@dataclass
class Shared:
    """One hookd and one relay for the module; each test uses its own channel."""

    hookd: LiveServer
    relay: Proc

    @property
    def target(self) -> str:
        return f"{self.hookd.url}/hooks/github"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    started = Live(tmp_path_factory.mktemp("forward"))
    yield Shared(started.hookd(), started.relay())
    started.stop_all()


def post_to_relay(url: str, body: bytes, **options: Any) -> str:
    """POST a signed delivery to the relay as GitHub would; returns its delivery id."""
    headers = signed(body, **options)
    answer = httpx.post(url, content=body, headers=headers, timeout=10)
    assert answer.status_code == 202, answer.text
    return headers["X-GitHub-Delivery"]


def recorded(hookd: LiveServer, sent: list[str]) -> dict[str, list[str]]:
    """For each delivery id in `sent`, the statuses of hookd's records of it."""
    rows = json.loads(hookd.hookd("deliveries", "--json", "--limit", "1000").stdout)
    return {
        delivery: sorted(row["status"] for row in rows if row["delivery"] == delivery)
        for delivery in sent
    }


def subscribe(live: Live, shared: Shared) -> tuple[str, str, Proc]:
    url, token = create_channel(shared.relay.url)
    return url, token, live.forward(url, "--token", token, "--to", shared.target)


def test_deliveries_arrive_byte_for_byte_and_verify_at_hookd(live: Live, shared: Shared) -> None:
    url, _token, forwarder = subscribe(live, shared)
    form = b"payload=" + quote('{"zen":"a & b","n":1.50}', safe="").encode()
    bodies = [*TRICKY_JSON, form]
    sent = [post_to_relay(url, body) for body in TRICKY_JSON]
    sent.append(post_to_relay(url, form, content_type="application/x-www-form-urlencoded"))

    forwarder.wait_for_log(r"-> 202", count=len(sent))
    rows = json.loads(shared.hookd.hookd("deliveries", "--json", "--limit", "1000").stdout)
    stored = {row["delivery"]: row for row in rows if row["delivery"] in sent}
    assert {row["status"] for row in stored.values()} == {"accepted"}
    with ThreadPoolExecutor(len(sent)) as pool:  # one `hookd show` process per delivery
        shown_all = pool.map(
            lambda delivery: shared.hookd.hookd("show", stored[delivery]["id"], "--json"), sent
        )
    for body, delivery, result in zip(bodies, sent, shown_all, strict=True):
        shown = json.loads(result.stdout)
        assert shown["payload"].encode("utf-8") == body
        headers = {name.lower(): value for name, value in shown["headers"]}
        assert headers["x-github-delivery"] == delivery
        assert headers["user-agent"] == "GitHub-Hookshot/044aadd"


def test_a_delivery_sent_while_the_forwarder_is_stopped_arrives_once_after_restart(
    live: Live, shared: Shared
) -> None:
    url, token, forwarder = subscribe(live, shared)
    first = post_to_relay(url, b'{"n": 1}')
    forwarder.wait_for_log(r"-> 202")
    forwarder.stop()

    while_away = post_to_relay(url, b'{"n": 2}')

    again = live.forward(url, "--token", token, "--to", shared.target)
    again.wait_for_log(r"-> 202")
    time.sleep(0.5)
    assert again.count(r"-> \d+") == 1
    assert recorded(shared.hookd, [first, while_away]) == {
        first: ["accepted"],
        while_away: ["accepted"],
    }


def test_acknowledged_deliveries_are_not_delivered_again_after_a_restart(
    live: Live, shared: Shared
) -> None:
    url, token, forwarder = subscribe(live, shared)
    sent = [post_to_relay(url, b'{"n": 1}'), post_to_relay(url, b'{"n": 2}')]
    forged = post_to_relay(url, b'{"n": 3}', secret="not the secret")
    forwarder.wait_for_log(r"-> 202", count=2)
    forwarder.wait_for_log(r"-> 401")
    forwarder.stop()

    again = live.forward(url, "--token", token, "--to", shared.target)
    late = post_to_relay(url, b'{"n": 4}')
    again.wait_for_log(r"-> 202")
    time.sleep(0.5)
    assert again.count(r"-> \d+") == 1, "only the new delivery, not the acknowledged ones"
    statuses = recorded(shared.hookd, [*sent, late, forged])
    assert statuses == {
        sent[0]: ["accepted"],
        sent[1]: ["accepted"],
        late: ["accepted"],
        forged: ["rejected"],  # once: a 401 is final, not retried
    }
    assert forwarder.count(r"-> 401") == 1, "a 4xx is final: not retried"


def test_a_receiver_that_is_down_gets_the_delivery_when_it_comes_back(live: Live) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    relay = live.relay()
    url, token = create_channel(relay.url)
    target = f"http://127.0.0.1:{port}/hooks/github"
    forwarder = live.forward(url, "--token", token, "--to", target)
    delivery = post_to_relay(url, b'{"while": "down"}')
    forwarder.wait_for_log("trying again in")

    hookd = live.hookd(HOOKD_CONFIG, "--port", str(port))
    forwarder.wait_for_log(r"-> 202", timeout=30)
    assert recorded(hookd, [delivery]) == {delivery: ["accepted"]}
    assert forwarder.count(r"-> \d+") == 1


def test_a_wrong_token_stops_the_forwarder_with_a_sentence(shared: Shared) -> None:
    url, _token = create_channel(shared.relay.url)

    async def run() -> None:
        async with httpx.AsyncClient() as client:
            channel = RelayChannel(url, "not-the-token", "laptop")
            await Forwarder(channel, shared.target, client).run()

    with pytest.raises(RefusedError, match=r"relay refused the subscription \(401\): This"):
        asyncio.run(run())


def test_the_forwarder_reconnects_when_the_relay_comes_back(live: Live, shared: Shared) -> None:
    relay = live.relay()
    url, token = create_channel(relay.url)
    forwarder = live.forward(url, "--token", token, "--to", shared.target)
    port = relay.url.rsplit(":", 1)[1]
    relay.stop(signal.SIGKILL)
    forwarder.wait_for_log("reconnecting in")

    back = live.relay("--port", port)
    delivery = post_to_relay(url.replace(relay.url, back.url), b'{"after": "restart"}')
    forwarder.wait_for_log(r"-> 202", timeout=40)
    assert recorded(shared.hookd, [delivery]) == {delivery: ["accepted"]}


def test_forward_needs_a_token_for_a_relay_channel(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HOOKD_FORWARD_TOKEN", raising=False)
    monkeypatch.setattr(sys, "argv", ["hookd", "forward", "http://127.0.0.1:9/c/abc",
                                      "--to", "http://127.0.0.1:9/x"])  # fmt: skip
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert "--token is required for a relay channel" in capsys.readouterr().err


class Receiver(LocalHttpServer):
    """A loopback HTTP server answering `statuses` in turn; records what it received."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[bytes, dict[str, str]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((body, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(receiver.statuses.pop(0))
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.serve(Handler)

    @property
    def url(self) -> str:
        return f"{super().url}/hooks/github"


@dataclass
class ListChannel:
    """A source whose acknowledgements are recorded with how many requests the receiver
    had seen by then."""

    receiver: Receiver
    acked: list[tuple[str, int]] = field(default_factory=list)
    label: str = "test channel"
    reserializes: bool = False

    def subscription(self, last_id: str | None) -> tuple[str, dict[str, str]]:
        raise AssertionError("not subscribed in these tests")

    def parse(self, event: ServerSentEvent) -> Relayed | None:
        raise AssertionError("not subscribed in these tests")

    async def acknowledge(self, client: httpx.AsyncClient, relayed: Relayed) -> None:
        self.acked.append((relayed.id, len(self.receiver.received)))


RELAYED = Relayed(
    id="7",
    method="POST",
    headers=(
        ("host", "relay.example.com"),
        ("content-length", "14"),
        ("content-type", "application/json"),
        ("x-hub-signature-256", "sha256=abc"),
        ("x-github-event", "push"),
    ),
    body=b'{"a": 1.50 } ',
)


def handle_with(statuses: list[int]) -> tuple[Receiver, ListChannel, list[float]]:
    """Hand RELAYED to a Forwarder whose receiver answers `statuses` in turn."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def run(receiver: Receiver, channel: ListChannel) -> None:
        async with httpx.AsyncClient() as client:
            forwarder = Forwarder(channel, receiver.url, client, sleep=sleep, jitter=lambda: 0.0)
            await forwarder.handle(RELAYED)

    with Receiver(statuses) as receiver:
        channel = ListChannel(receiver)
        asyncio.run(run(receiver, channel))
    return receiver, channel, slept


def test_a_5xx_or_429_is_retried_with_backoff_and_acknowledged_only_after_success() -> None:
    receiver, channel, slept = handle_with([503, 429, 202])
    assert len(receiver.received) == 3
    assert slept == [0.5, 1.0]
    assert channel.acked == [("7", 3)]
    for body, headers in receiver.received:
        assert body == RELAYED.body
        assert headers["x-hub-signature-256"] == "sha256=abc"
        assert headers["host"] == receiver.url.split("/")[2]
        assert headers["content-length"] == str(len(RELAYED.body))


def test_a_4xx_is_final_and_acknowledged_without_retrying() -> None:
    receiver, channel, slept = handle_with([400])
    assert len(receiver.received) == 1
    assert slept == []
    assert channel.acked == [("7", 1)]
