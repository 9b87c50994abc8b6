"""Acting as a GitHub App: an RS256 JWT signed with the App's private key buys an
installation access token for the installation that sent the delivery.

GitHub docs, "Generating a JSON Web Token (JWT) for a GitHub App" and "Generating an
installation access token for a GitHub App": the JWT carries `iss` (the App's id), `iat`
60 seconds in the past (clock drift) and `exp` at most 10 minutes ahead; `POST
/app/installations/{id}/access_tokens` answers a token that expires after an hour. Tokens
are cached per API, App and installation until five minutes before they expire, so jobs
share one token instead of asking for one each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from hookd.actions.base import failure
from hookd.actions.forge_api import Api, ForgeError, StepError
from hookd.config.model import EndpointSettings
from hookd.config.steps import read_app_key

JWT_BACKDATE = 60
JWT_LIFETIME = 540
REFRESH_MARGIN = timedelta(minutes=5)


def app_jwt(app_id: int, key_file: Path, now: datetime) -> str:
    """The App's JWT, signed RS256 with the private key in `key_file`."""
    try:
        key = read_app_key(key_file)
    except ValueError as exc:
        raise StepError(str(exc)) from exc
    issued = int(now.timestamp()) - JWT_BACKDATE
    claims = {"iat": issued, "exp": issued + JWT_BACKDATE + JWT_LIFETIME, "iss": str(app_id)}
    return jwt.encode(claims, key, algorithm="RS256")


def installation_id(payload: Mapping[str, Any]) -> int:
    """The installation that sent the delivery (`installation.id`)."""
    installation = payload.get("installation")
    found = installation.get("id") if isinstance(installation, Mapping) else None
    if not isinstance(found, int) or isinstance(found, bool):
        raise StepError(
            "the delivery has no installation.id: a GitHub App acts for the installation "
            "whose webhook sent the delivery"
        )
    return found


async def endpoint_token(
    api: Api, endpoint: EndpointSettings, payload: Mapping[str, Any], folder: Path
) -> str | None:
    """The token an endpoint's requests to `api` carry: its `api_token`, else its GitHub
    App's installation token for the delivery's installation (`private_key_file` relative to
    `folder`, the configuration's); None when it has neither. Raises StepError or ForgeError
    when the App's token cannot be had."""
    if endpoint.api_token is not None:
        return endpoint.api_token.get_secret_value()
    if endpoint.app_id is None or endpoint.private_key_file is None:
        return None
    key_file = folder / endpoint.private_key_file
    return await TOKENS.token(api, endpoint.app_id, key_file, installation_id(payload))


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    refresh_at: datetime


class InstallationTokens:
    """Installation tokens by (API URL, App id, installation id), each fetched once until it
    is about to expire, even when several jobs ask at the same time."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, int, int], _Token] = {}
        self._locks: dict[tuple[str, int, int], asyncio.Lock] = {}

    async def token(self, api: Api, app_id: int, key_file: Path, installation: int) -> str:
        key = (api.base, app_id, installation)
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._tokens.get(key)
            if cached is not None and datetime.now(UTC) < cached.refresh_at:
                return cached.value
            fresh = await _fetch(api, app_id, key_file, installation)
            self._tokens[key] = fresh
            return fresh.value


async def _fetch(api: Api, app_id: int, key_file: Path, installation: int) -> _Token:
    now = datetime.now(UTC)
    bearer = {"Authorization": f"Bearer {app_jwt(app_id, key_file, now)}"}
    answer = await api.call(
        "POST", f"/app/installations/{installation}/access_tokens", headers=bearer
    )
    token = answer.get("token") if isinstance(answer, Mapping) else None
    if not isinstance(token, str) or not token:
        raise ForgeError(failure("the installation token answer holds no token", retryable=True))
    return _Token(token, _expiry(answer.get("expires_at"), now) - REFRESH_MARGIN)


def _expiry(value: Any, now: datetime) -> datetime:
    """`expires_at` (ISO 8601); an hour from now, as GitHub documents, if it is unreadable."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return now + timedelta(hours=1)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return now + timedelta(hours=1)


TOKENS = InstallationTokens()
"""The process's token cache: the worker pool's jobs all run in one event loop."""
