"""A signed body captured once and sent again, against a live `hookd serve`: GitHub signs only
the body, so hookd answers it `duplicate` whatever delivery id it comes with, and runs
nothing; `hookd replay` still runs a delivery again, and `replay_window: 0` turns it off."""

from __future__ import annotations

import uuid

from deliveries import accept, github, hookd_json, post, wait_finished, wait_for_jobs

from conftest import LiveServer

CONFIG = """
server:
  port: 0
  database: sqlite:///hookd.db
endpoints:
  github:
    forge: github
    secret: "It's a Secret to Everybody"
  trusting:
    forge: github
    secret: "It's a Secret to Everybody"
    replay_window: 0
hooks:
  deploy:
    endpoint: github
    on: push
    run: ["true"]
  deploy-too:
    endpoint: trusting
    on: push
    run: ["true"]
"""

PUSH = {"ref": "refs/heads/main", "after": "c0ffee", "repository": {"full_name": "o/r"}}


def serve(server_factory: object) -> LiveServer:
    live: LiveServer = server_factory(CONFIG, "--workers", "1")  # type: ignore[operator]
    return live


def test_a_signed_body_sent_again_under_new_delivery_ids_runs_once(
    server_factory: object,
) -> None:
    live = serve(server_factory)
    first = accept(live, github("push", PUSH))
    for _ in range(5):
        again = github("push", PUSH)
        answer = post(live, again)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "duplicate"
        assert (answer.json()["id"], answer.json()["delivery"]) == (first["id"], first["delivery"])
        assert first["delivery"] in answer.json()["reason"]
    without_id = github("push", PUSH)
    del without_id.headers["X-GitHub-Delivery"]
    answer = post(live, without_id)
    assert (answer.status_code, answer.json()["id"]) == (200, first["id"])
    wait_finished(live, first["id"])
    jobs = wait_for_jobs(live, lambda jobs: len(jobs) >= 1)
    assert len(jobs) == 1
    # Sent again and again, a captured body costs no row, and a log line a second.
    assert [row["id"] for row in hookd_json(live, "deliveries")] == [first["id"]]
    replays = [line for line in live.log().splitlines() if "outcome=duplicate" in line]
    assert 1 <= len(replays) < 6


def test_hookd_replay_still_runs_the_delivery_again(server_factory: object) -> None:
    live = serve(server_factory)
    first = accept(live, github("push", PUSH))
    wait_finished(live, first["id"])
    replayed = live.hookd("replay", first["id"], "--json")
    assert replayed.returncode == 0, replayed.stderr
    jobs = wait_for_jobs(
        live, lambda jobs: len(jobs) == 2 and all(job["status"] == "succeeded" for job in jobs)
    )
    assert len({job["delivery_id"] for job in jobs}) == 2


def test_an_endpoint_with_replay_window_zero_accepts_identical_bodies(
    server_factory: object,
) -> None:
    live = serve(server_factory)
    answers = [accept(live, github("push", PUSH, path="/hooks/trusting")) for _ in range(3)]
    assert len({answer["id"] for answer in answers}) == 3


def test_a_redelivery_with_its_own_delivery_id_is_still_a_duplicate(
    server_factory: object,
) -> None:
    live = serve(server_factory)
    delivery = str(uuid.uuid4())
    first = accept(live, github("push", PUSH, delivery=delivery))
    answer = post(live, github("push", PUSH, delivery=delivery))
    assert answer.json() == {"status": "duplicate", "id": first["id"], "delivery": delivery}
