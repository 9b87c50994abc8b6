"""Gogs, Gitea's ancestor: `X-Gogs-Event`, `X-Gogs-Delivery` and `X-Gogs-Signature` (bare hex
HMAC-SHA256 of the JSON payload), Gitea's payload shapes and action words
(shared/design/FORGES.md §4 "Gogs")."""

from __future__ import annotations

from hookd.core.events import GOGS_EVENT_ACTIONS, GOGS_EVENT_NAMES
from hookd.core.forge_profiles.gitea import gitea_like
from hookd.core.vocabulary import Forge

GOGS = gitea_like(Forge.GOGS, "Gogs", ("gogs",), GOGS_EVENT_NAMES, GOGS_EVENT_ACTIONS)
