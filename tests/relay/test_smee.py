"""`hookd forward` reading smee.io channels: the SSE format smee.io speaks, parsed into the
request smee-client would send, against a local server that speaks that format; the
warning when smee's re-serialization breaks a signature, and `--resign`."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from httpx_sse import ServerSentEvent
from relaying import Live, signed

from conftest import SECRET, LiveServer
from hookd.config import load_config
from hookd.relay import RelayError
from hookd.relay.client import forwardable
from hookd.relay.smee import SmeeChannel, is_smee_url, parse_smee
from hookd.store import store_for
from hookd.store.records import DeliveryDetail
from local_http import LocalHttpServer

CHANNEL = "Xy7kQ2pLm9aBcDeF"


class FakeSmee(LocalHttpServer):
    """A loopback server speaking smee.io's protocol (probot/smee.io, lib/server.js).

    `GET /<channel>` streams server-sent events: `ready` with `{}`, a `ping`, then one
    message per POST whose data is `{...headers, body, query, timestamp}` with the headers
    lower-cased and the body parsed as Express's json/urlencoded parsers do. `POST
    /<channel>` answers 200 with an empty body. Like smee.io, it keeps nothing: a POST with
    no subscriber is lost.
    """

    def __init__(self) -> None:
        self.subscribers: list[queue.Queue[str]] = []
        self.stopping = threading.Event()
        self.serve(self._handler())

    @property
    def url(self) -> str:
        return f"{super().url}/{CHANNEL}"

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()  # the event streams end, so the server can shut down
        super().__exit__(*exc)

    def event(self, headers: Any, raw: bytes, query: str) -> str:
        content_type = headers.get("Content-Type", "").split(";")[0]
        body: Any = {}
        if content_type == "application/json":
            body = json.loads(raw)
        elif content_type == "application/x-www-form-urlencoded":
            body = dict(parse_qsl(raw.decode()))
        payload = {name.lower(): value for name, value in headers.items()}
        payload.update(body=body, query=dict(parse_qsl(query)), timestamp=int(time.time() * 1000))
        return json.dumps(payload)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:
                if urlsplit(self.path).path != f"/{CHANNEL}":
                    self.send_error(404)
                    return
                inbox: queue.Queue[str] = queue.Queue()
                fake.subscribers.append(inbox)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                self._write("event: ready\ndata: {}\n\n")
                self._write("event: ping\ndata: {}\n\n")
                while not fake.stopping.is_set():
                    try:
                        self._write(f"data: {inbox.get(timeout=0.1)}\n\n")
                    except queue.Empty:
                        continue

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                data = fake.event(self.headers, raw, parts.query)
                for inbox in fake.subscribers:
                    inbox.put(data)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _write(self, text: str) -> None:
                self.wfile.write(text.encode())
                self.wfile.flush()

        return Handler


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    started = Live(tmp_path)
    yield started
    started.stop_all()


@pytest.fixture(scope="module")
def hookd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    started = Live(tmp_path_factory.mktemp("smee-hookd"))
    yield started.hookd()
    started.stop_all()


@pytest.fixture
def smee() -> Iterator[FakeSmee]:
    with FakeSmee() as server:
        yield server


def smee_data(body: Any, content_type: str = "application/json", **extra: Any) -> str:
    return json.dumps(
        {
            "host": "smee.io",
            "content-type": content_type,
            "content-length": "999",
            "x-github-event": "push",
            "x-hub-signature-256": "sha256=abc",
            "body": body,
            "query": {},
            "timestamp": 1700000000000,
            **extra,
        }
    )


def test_parses_a_smee_event_into_the_request_smee_client_would_send() -> None:
    data = smee_data({"zen": "a & b", "n": 1.5, "name": "Zoë"}, query={"a": "1", "b": "x y"})
    relayed = parse_smee(data)
    assert relayed.method == "POST"
    assert relayed.body == '{"zen":"a & b","n":1.5,"name":"Zoë"}'.encode()
    assert relayed.query == "a=1&b=x+y"
    assert relayed.header("X-GitHub-Event") == "push"
    assert relayed.received_at == 1700000000.0
    names = {name for name, _value in relayed.headers}
    assert not names & {"body", "query", "timestamp"}
    forwarded = {name for name, _value in forwardable(relayed.headers)}
    assert "host" not in forwarded
    assert "content-length" not in forwarded


def test_re_encodes_form_bodies_as_a_form() -> None:
    data = smee_data({"payload": '{"a":1}'}, content_type="application/x-www-form-urlencoded")
    assert parse_smee(data).body == b"payload=%7B%22a%22%3A1%7D"


def test_ignores_ready_and_ping_events_and_reads_message_events() -> None:
    channel = SmeeChannel("https://smee.io/abc")
    assert channel.parse(ServerSentEvent(event="ready", data="{}")) is None
    assert channel.parse(ServerSentEvent(event="ping", data="{}")) is None
    message = channel.parse(ServerSentEvent(data=smee_data({"a": 1}), id="7"))
    assert message is not None
    assert message.id == "7"


@pytest.mark.parametrize("data", ["not json", "[1, 2]", '"text"'])
def test_data_that_is_not_a_smee_delivery_is_an_error(data: str) -> None:
    with pytest.raises(RelayError, match=r"smee\.io channel sent an event"):
        parse_smee(data)


def test_recognises_smee_io_urls() -> None:
    assert is_smee_url("https://smee.io/Xy7kQ2pLm9aBcDeF")
    assert not is_smee_url("https://relay.example.com/c/abc")
    assert not is_smee_url("https://notsmee.io/abc")


def post_to_smee(smee: FakeSmee, body: bytes) -> str:
    headers = signed(body)
    assert httpx.post(smee.url, content=body, headers=headers).status_code == 200
    return headers["X-GitHub-Delivery"]


def test_a_body_smee_rewrites_fails_its_signature_with_a_clear_warning(
    live: Live, hookd: LiveServer, smee: FakeSmee
) -> None:
    forwarder = live.forward(smee.url, "--smee", "--to", f"{hookd.url}/hooks/github")
    assert "smee.io channel" in forwarder.log()
    post_to_smee(smee, b'{"ref":"refs/heads/main","after":"abc"}')  # compact: survives
    post_to_smee(smee, b'{"zen": "Design \\u0026 recover", "price": 1.50}')

    log = forwarder.wait_for_log(r"-> 401")
    assert forwarder.count(r"-> 202") == 1
    assert "smee.io re-serializes JSON bodies" in log
    assert "--resign" in log


async def stored(server: LiveServer, delivery_id: str) -> DeliveryDetail:
    store = store_for(load_config(server.config).database)
    await store.open()
    try:
        return await store.get_delivery(delivery_id)
    finally:
        await store.close()


def test_resign_re_signs_smee_deliveries_with_the_local_secret(
    live: Live, hookd: LiveServer, smee: FakeSmee
) -> None:
    forwarder = live.forward(
        smee.url, "--smee", "--to", f"{hookd.url}/hooks/github", "--resign", "-c", str(hookd.config)
    )
    assert "trusted on the relay's word" in forwarder.log()
    delivery = post_to_smee(smee, b'{"zen": "Design \\u0026 recover", "price": 1.50}')

    forwarder.wait_for_log(r"-> 202")
    rows = json.loads(hookd.hookd("deliveries", "--json", "--limit", "1000").stdout)
    [row] = [row for row in rows if row["delivery"] == delivery]
    # The signature as stored (every view of a delivery redacts it: hookd.core.redaction).
    detail = asyncio.run(stored(hookd, row["id"]))
    body = detail.body
    assert body == b'{"zen":"Design & recover","price":1.5}'
    signature = dict((name.lower(), value) for name, value in detail.headers)
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert signature["x-hub-signature-256"] == f"sha256={expected}"
    assert "smee.io re-serializes" not in forwarder.log()
