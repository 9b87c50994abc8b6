"""Every forge hookd knows has one profile, and what the profiles say together (headers
never stored, headers `forward:` drops, payload paths read) covers each of them."""

from __future__ import annotations

import pytest

from hookd.core.endpoint import SignatureScheme
from hookd.core.forge_profiles import (
    ACTION_READS,
    PROFILES,
    SECRET_HEADERS,
    SIGNATURE_HEADERS,
    profile,
)
from hookd.core.vocabulary import Forge


def test_every_forge_has_its_profile() -> None:
    assert set(PROFILES) == set(Forge)
    for forge in Forge:
        assert profile(forge).forge is forge
        assert profile(forge.value) is profile(forge)


def test_an_unknown_forge_has_no_profile() -> None:
    with pytest.raises(LookupError, match="sourcehut"):
        profile("sourcehut")


@pytest.mark.parametrize("forge", [forge for forge in Forge if forge is not Forge.GENERIC])
def test_forward_drops_every_header_a_forge_signs_with(forge: Forge) -> None:
    # base64, as a Standard Webhooks secret must be
    signed = profile(forge).sign(b"c2VjcmV0", b"{}", SignatureScheme(), 0.0)
    assert {name.lower() for name in signed} <= profile(forge).signature_headers
    assert profile(forge).signature_headers <= SIGNATURE_HEADERS


def test_credentials_are_never_stored_whatever_the_forge() -> None:
    assert {"authorization", "cookie", "proxy-authorization", "x-gitlab-token"} <= SECRET_HEADERS


def test_every_profiles_action_paths_are_read() -> None:
    for found in PROFILES.values():
        assert set(found.action_reads) <= set(ACTION_READS)
    assert len(ACTION_READS) == len(set(ACTION_READS))
