"""A started server's heap is frozen out of the collector's way."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from hookd.heap import YOUNG_THRESHOLD, settle_heap


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_collector")
def test_what_the_process_holds_is_frozen_and_young_collections_are_rarer() -> None:
    held = [[] for _ in range(1000)]  # lists: tracked by the collector
    settle_heap()
    assert gc.get_freeze_count() >= len(held)
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
