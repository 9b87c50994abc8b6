"""Who may use the API, the dashboard and /metrics: the bearer token, the sign-in
session cookie, CSRF and origin checks, and the loopback-only rule without a token."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import httpx
import pytest
import weblive
from weblive import TOKEN, accepted, push

from conftest import LiveServer

BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("auth")
    with weblive.serving(folder, weblive.with_token(), "--workers", "0") as server:
        yield server


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with weblive.serving(tmp_path_factory.mktemp("open"), weblive.CONFIG, "--workers", "0") as s:
        yield s


@pytest.fixture(scope="module")
def delivery_id(guarded: LiveServer) -> str:
    made: str = accepted(guarded.url, "push", push())["id"]
    return made


@contextlib.contextmanager
def signed_in(server: LiveServer) -> Iterator[httpx.Client]:
    """A client holding a session from signing in with the token."""
    with weblive.client(base_url=server.url) as client:
        answer = client.post("/login", data={"token": TOKEN, "next": "/"})
        assert answer.status_code == 303, answer.text
        yield client


def csrf_of(client: httpx.Client, path: str = "/") -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found, "no CSRF token in the page"
    return found.group(1)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer"},
    ],
)
def test_the_api_needs_the_bearer_token(guarded: LiveServer, headers: dict[str, str]) -> None:
    answer = weblive.get(f"{guarded.url}/api/deliveries", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert "Bearer" in answer.json()["error"]


def test_the_right_bearer_token_opens_the_api(guarded: LiveServer, delivery_id: str) -> None:
    answer = weblive.get(f"{guarded.url}/api/deliveries", headers=BEARER)
    assert answer.status_code == 200
    assert delivery_id in {item["id"] for item in answer.json()}
    assert weblive.get(f"{guarded.url}/api/openapi.json", headers=BEARER).status_code == 200


def test_a_bearer_token_may_change_state_without_csrf(
    guarded: LiveServer, delivery_id: str
) -> None:
    answer = weblive.post(f"{guarded.url}/api/deliveries/{delivery_id}/replay", headers=BEARER)
    assert answer.status_code == 201


def test_the_receiver_and_health_need_no_token(guarded: LiveServer) -> None:
    assert weblive.deliver(guarded.url, "push", push()).status_code == 202
    assert weblive.get(f"{guarded.url}/healthz").status_code == 200


def test_metrics_need_the_token(guarded: LiveServer) -> None:
    assert weblive.get(f"{guarded.url}/metrics").status_code == 401
    answer = weblive.get(f"{guarded.url}/metrics", headers=BEARER)
    assert answer.status_code == 200
    assert "hookd_deliveries_total" in answer.text


def test_dashboard_pages_send_a_stranger_to_sign_in(guarded: LiveServer, delivery_id: str) -> None:
    answer = weblive.get(f"{guarded.url}/deliveries/{delivery_id}?x=1")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/login?next=%2Fdeliveries%2F{delivery_id}%3Fx%3D1"
    page = weblive.get(f"{guarded.url}/login")
    assert page.status_code == 200
    assert 'type="password"' in page.text


def test_a_wrong_token_does_not_sign_in(guarded: LiveServer) -> None:
    answer = weblive.post(f"{guarded.url}/login", data={"token": "guess", "next": "/"})
    assert answer.status_code == 401
    assert "not the one hookd was given" in answer.text
    assert "set-cookie" not in answer.headers


def test_signing_in_sets_an_httponly_strict_cookie_without_the_token(guarded: LiveServer) -> None:
    answer = weblive.post(f"{guarded.url}/login", data={"token": TOKEN, "next": "/jobs"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/jobs"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("hookd_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert TOKEN not in cookie


@pytest.mark.parametrize(
    "target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "jobs"]
)
def test_signing_in_never_sends_the_browser_to_another_site(
    guarded: LiveServer, target: str
) -> None:
    answer = weblive.post(f"{guarded.url}/login", data={"token": TOKEN, "next": target})
    assert answer.headers["location"] == "/"


def test_a_session_reads_pages_and_the_api(guarded: LiveServer, delivery_id: str) -> None:
    with signed_in(guarded) as client:
        page = client.get(f"/deliveries/{delivery_id}")
        assert page.status_code == 200
        assert "Sign out" in page.text
        assert client.get("/api/deliveries").status_code == 200
        assert client.get("/metrics").status_code == 200


def test_a_forged_or_tampered_cookie_is_refused(guarded: LiveServer) -> None:
    with signed_in(guarded) as client:
        value = client.cookies["hookd_session"]
    forged = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    for cookie in (forged, "e30.aaaa.bbbb"):
        with weblive.client(cookies={"hookd_session": cookie}) as stranger:
            assert stranger.get(f"{guarded.url}/api/deliveries").status_code == 401


def test_a_form_without_the_csrf_token_is_refused(guarded: LiveServer, delivery_id: str) -> None:
    with signed_in(guarded) as client:
        for data in ({}, {"csrf": "not-the-token"}):
            answer = client.post(f"/deliveries/{delivery_id}/replay", data=data)
            assert answer.status_code == 403
            assert "reload the page" in answer.text
        good = client.post(f"/deliveries/{delivery_id}/replay", data={"csrf": csrf_of(client)})
        assert good.status_code == 303
        assert good.headers["location"].startswith("/deliveries/")


def test_a_session_needs_the_csrf_header_to_change_state_through_the_api(
    guarded: LiveServer, delivery_id: str
) -> None:
    with signed_in(guarded) as client:
        path = f"/api/deliveries/{delivery_id}/replay"
        assert client.post(path).status_code == 403
        assert client.post(path, headers={"X-CSRF-Token": csrf_of(client)}).status_code == 201


def test_a_cross_site_post_is_refused_even_with_the_csrf_token(
    guarded: LiveServer, delivery_id: str
) -> None:
    with signed_in(guarded) as client:
        csrf = csrf_of(client)
        path = f"/deliveries/{delivery_id}/replay"
        for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
            answer = client.post(path, data={"csrf": csrf}, headers=headers)
            assert answer.status_code == 403
            assert "another site" in answer.text
        same = client.post(path, data={"csrf": csrf}, headers={"Origin": guarded.url})
        assert same.status_code == 303


def test_signing_out_ends_the_session(guarded: LiveServer) -> None:
    with signed_in(guarded) as client:
        csrf = csrf_of(client)
        assert client.post("/logout").status_code == 403
        answer = client.post("/logout", data={"csrf": csrf})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login"
        assert 'hookd_session=""' in answer.headers["set-cookie"]
        assert client.get("/").status_code == 303


def test_without_a_token_only_loopback_host_names_are_answered(open_server: LiveServer) -> None:
    for host in ("evil.example", "evil.example:8080", "10.0.0.1"):
        for path in ("/api/deliveries", "/", "/metrics"):
            answer = weblive.get(f"{open_server.url}{path}", headers={"Host": host})
            assert answer.status_code == 403, (host, path)
            assert "loopback" in answer.text
    for host in ("localhost", "127.0.0.1:1234", "[::1]:80"):
        answer = weblive.get(f"{open_server.url}/api/deliveries", headers={"Host": host})
        assert answer.status_code == 200, host


def test_without_a_token_cross_site_posts_are_refused(open_server: LiveServer) -> None:
    made = accepted(open_server.url, "push", push())["id"]
    path = f"{open_server.url}/api/deliveries/{made}/replay"
    assert weblive.post(path, headers={"Origin": "http://localhost:3000"}).status_code == 403
    assert weblive.post(path, headers={"Sec-Fetch-Site": "same-site"}).status_code == 403
    assert weblive.post(path).status_code == 201


def test_without_a_token_the_dashboard_needs_no_sign_in(open_server: LiveServer) -> None:
    page = weblive.get(f"{open_server.url}/")
    assert page.status_code == 200
    assert "Sign out" not in page.text
    assert weblive.get(f"{open_server.url}/login").headers["location"] == "/"


def test_behind_a_proxy_the_forwarded_host_is_the_sites_origin(
    guarded: LiveServer, delivery_id: str
) -> None:
    with signed_in(guarded) as client:
        answer = client.post(
            f"/deliveries/{delivery_id}/replay",
            data={"csrf": csrf_of(client)},
            headers={"Origin": "https://hooks.example", "X-Forwarded-Host": "hooks.example"},
        )
        assert answer.status_code == 303


def test_the_cookie_is_secure_when_the_browser_came_over_https(guarded: LiveServer) -> None:
    answer = weblive.post(
        f"{guarded.url}/login",
        data={"token": TOKEN, "next": "/"},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert "Secure" in answer.headers["set-cookie"]
    plain = weblive.post(f"{guarded.url}/login", data={"token": TOKEN, "next": "/"})
    assert "Secure" not in plain.headers["set-cookie"]
