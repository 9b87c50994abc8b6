"""The event names each forge defines (each forge profile's `known_events`): every event of the
shared corpus is among them, and a name a sender makes up is not."""

from __future__ import annotations

import pytest

from conftest import CORPUS
from hookd.core.events import gitlab_event
from hookd.core.forge_profiles import PROFILES, profile


@pytest.mark.parametrize("forge", ["github", "gitea"])
def test_every_corpus_event_is_one_its_forge_defines(forge: str) -> None:
    events = {folder.name for folder in (CORPUS / forge).iterdir() if folder.is_dir()}
    assert events and events <= profile(forge).known_events


def test_gitlab_hooks_are_known_under_hookds_names() -> None:
    for header in ("Push Hook", "Tag Push Hook", "Merge Request Hook", "Emoji Hook"):
        assert gitlab_event(header) in profile("gitlab").known_events
    assert gitlab_event("Made Up Hook") not in profile("gitlab").known_events


def test_a_made_up_name_is_no_forges_event() -> None:
    assert not any("made_up" in found.known_events for found in PROFILES.values())
    assert profile("generic").known_events == {"webhook"}
