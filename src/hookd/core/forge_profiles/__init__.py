"""One profile per forge, and the lookup by forge name: the only place hookd tells forges
apart. Adding a forge: its name in `hookd.core.vocabulary.Forge`, a module here building its
`ForgeProfile`, its entry in `PROFILES`, and its tests (tests/core/forge_profiles). Its
`event_actions` (core.event_actions) lets `hookd check` refuse misspelt events and types in
`on:`; a profile without it checks no names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hookd.core.delivery import FORGE_FACTS
from hookd.core.forge_profiles.azure_devops import AZURE_DEVOPS
from hookd.core.forge_profiles.base import (
    FORM,
    JSON,
    MEDIA_TYPES,
    BodyCheck,
    ForgeProfile,
    Identity,
    SignedBytes,
)
from hookd.core.forge_profiles.bitbucket import BITBUCKET
from hookd.core.forge_profiles.bitbucket_server import BITBUCKET_SERVER
from hookd.core.forge_profiles.forgejo import FORGEJO
from hookd.core.forge_profiles.generic import GENERIC
from hookd.core.forge_profiles.gitea import GITEA
from hookd.core.forge_profiles.github import GITHUB
from hookd.core.forge_profiles.gitlab import GITLAB
from hookd.core.forge_profiles.gogs import GOGS
from hookd.core.forge_profiles.standard import STANDARD

__all__ = [
    "ACTION_READS",
    "FACT_READS",
    "FORM",
    "JSON",
    "MEDIA_TYPES",
    "PROFILES",
    "SECRET_HEADERS",
    "SECRET_PAYLOAD_FIELDS",
    "SIGNATURE_HEADERS",
    "BodyCheck",
    "ForgeProfile",
    "Identity",
    "SignedBytes",
    "delivery_action",
    "profile",
]

PROFILES: Mapping[str, ForgeProfile] = {
    found.forge: found
    for found in (
        GITHUB,
        GITLAB,
        GITEA,
        FORGEJO,
        GOGS,
        BITBUCKET,
        BITBUCKET_SERVER,
        STANDARD,
        AZURE_DEVOPS,
        GENERIC,
    )
}
"""Every forge's profile by its name (a `Forge`, which is its string)."""
FORGE_FACTS.update({forge: found.facts for forge, found in PROFILES.items()})


def profile(forge: str) -> ForgeProfile:
    """The profile of `forge` (`github`, or `Forge.GITHUB`); LookupError for an unknown one."""
    try:
        return PROFILES[forge]
    except KeyError:
        raise LookupError(f"hookd knows no forge {forge!r}") from None


def delivery_action(forge: str, forge_event: str, payload: Mapping[str, Any]) -> str | None:
    """A delivery's action in GitHub's words, whichever forge sent it."""
    return profile(forge).action(forge_event, payload)


ACTION_READS = tuple(
    dict.fromkeys(path for found in PROFILES.values() for path in found.action_reads)
)
"""The payload paths `delivery_action` reads, whichever the forge."""

FACT_READS = tuple(dict.fromkeys(path for found in PROFILES.values() for path in found.facts.reads))
"""The payload paths a delivery's facts (repository, refs, commits) are read from,
whichever the forge."""

# Credentials of any kind, and whatever a forge sends its secret in: never stored, whichever
# endpoint a request comes to.
SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"}).union(
    *(found.secret_headers for found in PROFILES.values())
)
SIGNATURE_HEADERS = frozenset().union(*(found.signature_headers for found in PROFILES.values()))
"""Every header a forge signs or authenticates a delivery with (lower case)."""
SECRET_PAYLOAD_FIELDS = frozenset().union(
    *(found.secret_payload_fields for found in PROFILES.values())
)
"""Top-level payload members any forge puts its webhook secret in."""
