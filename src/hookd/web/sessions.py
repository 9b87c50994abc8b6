"""The dashboard's session cookie: signed (HMAC, key derived from `server.token`), holding
only a random CSRF token, and revocable: signing out records the session in the store, so
a cookie saved before `/logout` is refused afterwards by every receiver on the database."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from hookd.store.base import Store

SESSION_SECONDS = 7 * 24 * 3600
# Why a cookie was refused. A forged one is a guess at the token (the signing key derives
# from it, so each forged cookie tests one guessed token); an ended one (expired, signed
# out of) was signed with the key, so it is no guess, only stale.
Refused = Literal["forged", "ended"]


@dataclass(frozen=True, slots=True)
class Session:
    """A browser's session: the CSRF token its forms and scripts must send back, and when
    its cookie was issued (None for one not issued yet)."""

    csrf: str
    issued: datetime | None = None

    @property
    def digest(self) -> str:
        """What the store keeps of a revoked session: not the CSRF token itself."""
        return hashlib.sha256(self.csrf.encode()).hexdigest()


class Sessions:
    def __init__(self, token: bytes | None, store: Store) -> None:
        # Without a token the key only has to outlive this process's sessions.
        key = (
            hmac.new(token, b"hookd dashboard session v1", hashlib.sha256).digest()
            if token
            else os.urandom(32)
        )
        self._signer = URLSafeTimedSerializer(key, salt="hookd-session")
        self._store = store

    @staticmethod
    def new() -> Session:
        return Session(secrets.token_urlsafe(32))

    def cookie(self, session: Session) -> str:
        return self._signer.dumps({"csrf": session.csrf})

    async def load(self, cookie: str) -> Session | Refused:
        """The session `cookie` holds, or why it is refused. Raises StoreError when the
        store cannot say whether it was signed out of."""
        try:
            data, issued = self._signer.loads(
                cookie, max_age=SESSION_SECONDS, return_timestamp=True
            )
        except SignatureExpired:
            return "ended"
        except BadSignature:
            return "forged"
        csrf = data.get("csrf") if isinstance(data, dict) else None
        if not isinstance(csrf, str):
            return "forged"
        session = Session(csrf, issued)
        if await self._store.session_revoked(session.digest, datetime.now(UTC)):
            return "ended"
        return session

    async def revoke(self, session: Session) -> None:
        """Refuse `session`'s cookie from now on, until it would have expired anyway."""
        now = datetime.now(UTC)
        issued = session.issued or now
        until = issued + timedelta(seconds=SESSION_SECONDS)
        await self._store.revoke_session(session.digest, until, now)
