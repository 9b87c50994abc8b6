"""Forgejo, Gitea's fork: Gitea's deliveries with `X-Forgejo-*` headers beside Gitea's and
Gogs' (shared/design/FORGES.md §3 "Forgejo"); read first, Gitea's when they are absent."""

from __future__ import annotations

from hookd.core.event_actions import GITEA_EVENT_ACTIONS
from hookd.core.events import GITEA_EVENT_NAMES
from hookd.core.forge_profiles.gitea import gitea_like
from hookd.core.vocabulary import Forge

FORGEJO = gitea_like(
    Forge.FORGEJO, "Forgejo", ("forgejo", "gitea", "gogs"), GITEA_EVENT_NAMES, GITEA_EVENT_ACTIONS
)
