"""hookd's own names, defined once: delivery and job states, forges, action kinds.

Config models, store records, API models and the SQL `CHECK`s all take their allowed values
from here. Each is a `StrEnum`, so a member is the very string stored and sent (`"queued"`),
and a forge's own words (GitLab's `canceled`) never pass for hookd's (`cancelled`).
"""

from __future__ import annotations

from enum import StrEnum


class DeliveryStatus(StrEnum):
    """What hookd made of a request that reached an endpoint."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class JobStatus(StrEnum):
    """Where a job is. `FINISHED` holds the states a job never leaves."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"


FINISHED_JOB_STATUSES = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.TIMED_OUT, JobStatus.CANCELLED}
)


class Forge(StrEnum):
    """The senders an endpoint can be configured for (`endpoints.*.forge`)."""

    GITHUB = "github"
    GITLAB = "gitlab"
    GITEA = "gitea"
    BITBUCKET = "bitbucket"
    BITBUCKET_SERVER = "bitbucket-server"
    FORGEJO = "forgejo"
    GOGS = "gogs"
    STANDARD = "standard"
    AZURE_DEVOPS = "azure-devops"
    GENERIC = "generic"


class ActionKind(StrEnum):
    """What a hook can do: the key it is written under in `hooks.*`."""

    RUN = "run"
    FORWARD = "forward"
    MIRROR = "mirror"
    PYTHON = "python"
    GITHUB = "github"
    GITLAB = "gitlab"


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    """The strings an enum allows, in definition order (for SQL CHECKs and messages)."""
    return tuple(member.value for member in enum)
