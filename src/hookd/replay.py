"""Replay: record a copy of a stored delivery and plan its jobs under today's hookd.yaml.
Shared by `hookd replay` and `POST /api/deliveries/{id}/replay`, so both decide alike."""

from __future__ import annotations

from datetime import datetime

from hookd.config import Config
from hookd.core.vocabulary import DeliveryStatus
from hookd.errors import HookdError
from hookd.intake import plan
from hookd.store.base import Store
from hookd.store.records import Recorded
from hookd.worker.execute import rebuild_delivery


class NotReplayable(HookdError):
    """The delivery exists but cannot be replayed; the message says why, in a sentence."""


async def replay_delivery(
    store: Store, config: Config, delivery_id: str, now: datetime
) -> Recorded:
    """Record a copy of delivery `delivery_id` (`replay_of` pointing at it), matched against
    the current rules, with a job per hook it matches; the copy is never a duplicate.

    Raises NotFound for an unknown id, NotReplayable for a request that was rejected or a
    duplicate (neither kept a body), or whose endpoint is no longer configured."""
    detail = await store.get_delivery(delivery_id)
    status = detail.record.status
    if status != DeliveryStatus.ACCEPTED:
        raise NotReplayable(
            f"Delivery {delivery_id} was {status}, and hookd keeps no body for it to replay."
        )
    try:
        delivery, _ = rebuild_delivery(detail, config.receive_reads(detail.record.endpoint))
    except ValueError as exc:
        raise NotReplayable(f"Delivery {delivery_id} cannot be read back: {exc}") from exc
    if delivery.endpoint not in config.endpoints:
        raise NotReplayable(
            f"Delivery {delivery_id} came to endpoint {delivery.endpoint!r}, "
            "which is no longer configured."
        )
    decided = plan(config, delivery)
    return await store.record_delivery(
        delivery,
        received_at=now,
        remote_addr=None,
        trace=decided.trace,
        jobs=decided.jobs,
        replay_of=delivery_id,
        config=config.version or None,
    )
