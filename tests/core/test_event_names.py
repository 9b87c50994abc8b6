"""The event names each forge defines (core.events.FORGE_EVENT_NAMES): every event of the
shared corpus is among them, and a name a sender makes up is not."""

from __future__ import annotations

import pytest

from conftest import CORPUS
from hookd.core.events import FORGE_EVENT_NAMES, gitlab_event


@pytest.mark.parametrize("forge", ["github", "gitea"])
def test_every_corpus_event_is_one_its_forge_defines(forge: str) -> None:
    events = {folder.name for folder in (CORPUS / forge).iterdir() if folder.is_dir()}
    assert events and events <= FORGE_EVENT_NAMES[forge]


def test_gitlab_hooks_are_known_under_hookds_names() -> None:
    for header in ("Push Hook", "Tag Push Hook", "Merge Request Hook", "Emoji Hook"):
        assert gitlab_event(header) in FORGE_EVENT_NAMES["gitlab"]
    assert gitlab_event("Made Up Hook") not in FORGE_EVENT_NAMES["gitlab"]


def test_a_made_up_name_is_no_forges_event() -> None:
    assert not any("made_up" in names for names in FORGE_EVENT_NAMES.values())
    assert FORGE_EVENT_NAMES["generic"] == {"webhook"}
