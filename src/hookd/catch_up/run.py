"""One catch-up: for each GitHub or GitLab endpoint, each hook that delivers to it, list the
hook's recorded deliveries back to its last catch-up (at most the forge's horizon, or
`since`), and ask again for each delivery whose attempts all failed, that hookd does not
hold and has not asked for before.

Each request is claimed in the store before it is made (a unique index: one per delivery
per endpoint, whichever process gets there first), then its answer recorded. On
PostgreSQL the whole catch-up runs under an advisory lock: one process at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import httpx

from hookd.actions.forge_api import StepError
from hookd.actions.github_app import app_jwt
from hookd.catch_up.counting import count_request
from hookd.catch_up.forges import APIS, Answer, CatchUpError, HookApi, HookGone
from hookd.catch_up.hooks import configured, learn
from hookd.catch_up.records import CatchUpRequest, HookState
from hookd.catch_up.selection import ASK, ASKED, Failure, failures, verdict
from hookd.config import Config
from hookd.config.model import EndpointSettings
from hookd.forge_rest import GITHUB_HEADERS, forge_client
from hookd.store.base import Store
from hookd.store.catch_up import CatchUpStore
from hookd.store.ids import new_id

log = logging.getLogger("hookd.catch_up")
FORGES = frozenset(APIS)
# A delivery that failed just before the last catch-up started may have been listed after
# it: each catch-up reaches this far before the previous one's start.
OVERLAP = timedelta(minutes=5)
APP_HOOK = "/app/hook"


@dataclass(frozen=True, slots=True)
class Line:
    """A failed delivery catch-up found, what it decided and, once asked, the outcome."""

    endpoint: str
    hook: str
    failure: Failure
    verdict: str
    outcome: str | None = None
    answer: str | None = None

    def text(self) -> str:
        f = self.failure
        when = f.failed_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if f.failed_at else "?"
        what = f"{self.endpoint} {f.key} ({f.event or 'event?'}) via {self.hook}"
        why = f"failed {when} UTC with {f.failure}; hookd does not hold it"
        if self.outcome is None:
            return f"would request {what}: {why}"
        return f"{self.outcome} {what}: {why}" + (f" [{self.answer}]" if self.answer else "")


@dataclass
class Summary:
    """What a catch-up found (`lines`: one per failed delivery) and what it could not do."""

    lines: list[Line] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    hooks: int = 0

    def count(self, decided: str) -> int:
        return sum(1 for line in self.lines if line.verdict == decided)


async def catch_up(
    config: Config,
    store: Store,
    *,
    since: float | None = None,
    dry_run: bool = False,
    endpoints: Collection[str] | None = None,
) -> Summary | None:
    """Catch up every endpoint (or those named); None if another process is doing it."""
    records = store.catch_up()
    async with records.lock() as mine:
        if not mine:
            return None
        summary = Summary()
        async with forge_client({}) as client:
            for name, settings in config.endpoints.items():
                if endpoints is not None and name not in endpoints:
                    continue
                if settings.forge not in FORGES or not settings.catch_up.enabled:
                    continue
                run = _EndpointRun(config, store, records, client, name, settings, summary, dry_run)
                await run.run(since)
        return summary


@dataclass
class _EndpointRun:
    config: Config
    store: Store
    records: CatchUpStore
    client: httpx.AsyncClient
    name: str
    settings: EndpointSettings
    summary: Summary
    dry_run: bool

    async def run(self, since: float | None) -> None:
        missing = missing_credentials(self.name, self.settings)
        if missing is not None:
            self.summary.skipped.append(missing)
            return
        now = datetime.now(UTC)
        horizon = self.settings.catch_up.horizon(self.settings.forge)
        if APIS[self.settings.forge].learns_hooks:
            known = await learn(self.store, self.name, now, horizon, save=not self.dry_run)
        else:
            known = await self.records.hooks(self.name)
        hooks = configured(self.settings, known, now)
        for state in hooks:
            if state.gone_at is not None:
                continue
            auth = self._auth(state.hook, now)
            if isinstance(auth, str):
                self.summary.skipped.append(auth)
                continue
            self.summary.hooks += 1
            cutoff = now - timedelta(seconds=min(since or horizon, horizon))
            if since is None and state.caught_up_at is not None:
                cutoff = max(cutoff, state.caught_up_at - OVERLAP)
            await self._hook(state, auth, cutoff, now)

    def _auth(self, hook: str, now: datetime) -> dict[str, str] | str:
        """The hook's auth headers, or why there are none."""
        s = self.settings
        where = f"catch-up skipped for endpoint {self.name!r}"
        if not APIS[s.forge].learns_hooks and s.api_token is not None:  # GitLab's token
            return {"PRIVATE-TOKEN": s.api_token.get_secret_value()}
        if hook == APP_HOOK:
            if s.app_id is None or s.private_key_file is None:
                return f"{where}'s GitHub App hook: it needs app_id and private_key_file"
            try:
                token = app_jwt(s.app_id, self.config.path.parent / s.private_key_file, now)
            except StepError as exc:
                return f"{where}'s GitHub App hook: {exc}"
            return {**GITHUB_HEADERS, "Authorization": f"Bearer {token}"}
        if s.api_token is None:
            return (
                f"{where}'s repository and organization hooks: they need an api_token that "
                "may read and write webhooks (the App's JWT cannot)"
            )
        return {**GITHUB_HEADERS, "Authorization": f"Bearer {s.api_token.get_secret_value()}"}

    async def _hook(
        self, state: HookState, auth: Mapping[str, str], cutoff: datetime, now: datetime
    ) -> None:
        forge_api = APIS[self.settings.forge]
        base = self.settings.api_url or forge_api.api_url
        api = HookApi(self.client, forge_api, base, state.hook, auth)
        try:
            found = [attempt async for attempt in api.attempts(cutoff)]
        except HookGone as exc:
            log.warning(
                "catch-up: endpoint %r: the hook %s is gone (%s); no longer asking it",
                self.name, state.hook, exc,
            )  # fmt: skip
            if not self.dry_run:
                await self.records.save_hooks(self.name, [replace(state, gone_at=now)])
            return
        except CatchUpError as exc:
            log.error("catch-up: endpoint %r, hook %s: %s", self.name, state.hook, exc)
            return
        failed = [f for f in failures(found) if f.failed_at is None or f.failed_at >= cutoff]
        keys = [f.key for f in failed]
        held = await self.records.held(self.name, keys)
        asked = await self.records.asked(self.name, keys)
        for failure in failed:
            decided = verdict(failure.key, held, asked)
            if decided != ASK or self.dry_run:
                self.summary.lines.append(Line(self.name, state.hook, failure, decided))
                continue
            await self._ask(api, state.hook, failure, now)
        if not self.dry_run:
            await self.records.save_hooks(self.name, [replace(state, caught_up_at=now)])

    async def _ask(self, api: HookApi, hook: str, failure: Failure, now: datetime) -> None:
        request = CatchUpRequest(
            id=new_id(), endpoint=self.name, forge=self.settings.forge, hook=hook,
            delivery=failure.key, forge_id=failure.forge_id, event=failure.event,
            failed_at=failure.failed_at, failure=failure.failure, requested_at=now,
        )  # fmt: skip
        if not await self.records.claim(request):
            self.summary.lines.append(Line(self.name, hook, failure, ASKED))
            return
        answer = await api.redeliver(failure.forge_id)
        outcome = outcome_of(answer)
        await self.records.finish(request.id, outcome, answer.status, answer.message)
        count_request(self.settings.forge, outcome)
        line = Line(self.name, hook, failure, ASK, outcome, _said(answer))
        log.info("catch-up: %s", line.text())
        self.summary.lines.append(line)


def missing_credentials(name: str, settings: EndpointSettings) -> str | None:
    """Why the endpoint cannot catch up at all, or None."""
    github = APIS[settings.forge].learns_hooks
    if settings.api_token is not None or (github and settings.app_id):
        return None
    return f"catch-up skipped for endpoint {name!r}: it has no api_token " + (
        "(one that may read and write the repository's or organization's webhooks) "
        "nor a GitHub App (app_id, private_key_file)"
        if github
        else "to list and resend its hooks' events with (GitLab: the api scope)"
    )


def outcome_of(answer: Answer) -> str:
    """`requested` (2xx), `gone` (404), `refused` (another 4xx) or `failed`."""
    status = answer.status
    if status is None or status >= 500:
        return "failed"
    if 200 <= status < 300:
        return "requested"
    return "gone" if status == 404 else "refused"


def _said(answer: Answer) -> str:
    return f"{answer.status}" if answer.status is not None else answer.message
