"""`hookd_catch_up_requests_total`: the redeliveries this process asked a forge for, on
hookd's one metrics registry."""

from __future__ import annotations

from prometheus_client import Counter

from hookd.web.metrics import REGISTRY

REQUESTS = Counter(
    "hookd_catch_up_requests",
    "Redeliveries catch-up asked a forge for, by forge and outcome (requested, refused, "
    "gone, failed).",
    ["forge", "outcome"],
    registry=REGISTRY,
)


def count_request(forge: str, outcome: str) -> None:
    REQUESTS.labels(forge, outcome).inc()
