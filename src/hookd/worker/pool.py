"""A pool of workers in one process. Each claims a job under a lease, renews the lease while
the job runs, and records the outcome. On stop, workers claim nothing more; running jobs get
a grace period to finish, then are stopped and handed back to the queue.

A job runs under the configuration in force when it is claimed (`LiveConfig`). A pool sized
by the configuration (`server.workers`, else the CPU count) follows a reload: more workers
start at once; a worker beyond the new size finishes its running job, then stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hookd import procctl
from hookd.actions.containment import reap_orphans
from hookd.config import Config
from hookd.config.live import LiveConfig
from hookd.core.vocabulary import JobStatus
from hookd.errors import StoreError
from hookd.store.base import Store
from hookd.store.records import JobOutcome, JobRecord
from hookd.web.metrics import count_job
from hookd.worker.execute import execute

log = logging.getLogger("hookd.worker")

LEASE_SECONDS = 30.0
# Renewals also carry cancel requests, so they come often: a cancel takes effect within this.
HEARTBEAT_SECONDS = 1.0
IDLE_POLL_SECONDS = 1.0
STORE_RETRY_SECONDS = 2.0
REAP_SECONDS = 10.0


class WorkerPool:
    def __init__(
        self,
        store: Store,
        live: LiveConfig,
        size: int | None,
        *,
        lease_seconds: float = LEASE_SECONDS,
        grace_seconds: float = 30.0,
    ) -> None:
        """`size` workers, or with None as many as the configuration in force says."""
        self.store, self.live = store, live
        self.size = configured_size(live.config) if size is None else size
        if size is None:
            live.listen(lambda _old, new: self.resize(configured_size(new)))
        self.lease_seconds, self.grace_seconds = lease_seconds, grace_seconds
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._stopping = asyncio.Event()
        self._loops: dict[int, asyncio.Task[None]] = {}
        self._started = False
        self._running: dict[str, asyncio.Task[None]] = {}
        # Outcomes being recorded: a worker claims its next job meanwhile.
        self._recording: set[asyncio.Task[None]] = set()
        self._scratch: Path | None = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        self._scratch = Path(tempfile.mkdtemp(prefix="hookd-jobs-"))
        reaper = asyncio.create_task(_reap_orphans()) if _become_subreaper() else None
        self._started = True
        self.resize(self.size)
        try:
            yield
        finally:
            await self.stop()
            if reaper is not None:
                reaper.cancel()
            shutil.rmtree(self._scratch, ignore_errors=True)

    def resize(self, size: int) -> None:
        """Run `size` workers: start the missing ones; one beyond `size` ends after its job."""
        if size != self.size:
            log.info("workers: %d (were %d)", size, self.size)
        self.size = size
        if not self._started or self._stopping.is_set():
            return
        for index in range(size):
            loop = self._loops.get(index)
            if loop is None or loop.done():
                self._loops[index] = asyncio.create_task(
                    self._loop(index), name=f"hookd-worker-{index}"
                )

    async def stop(self) -> None:
        """Claim nothing more; give running jobs the grace period, then hand them back."""
        self._stopping.set()
        jobs = list(self._running.values())
        if jobs:
            log.info("waiting up to %gs for %d running jobs", self.grace_seconds, len(jobs))
            _, late = await asyncio.wait(jobs, timeout=self.grace_seconds)
            for task in late:
                task.cancel()
        await asyncio.gather(*self._loops.values(), return_exceptions=True)
        await asyncio.gather(*self._recording, return_exceptions=True)

    async def _loop(self, index: int) -> None:
        worker = f"{self.name}/{index}"
        while not self._stopping.is_set() and index < self.size:
            try:
                job = await self.store.claim_job(worker, datetime.now(UTC), self.lease_seconds)
            except StoreError as exc:
                log.error("worker %s cannot claim jobs: %s", worker, exc)
                await self._pause(STORE_RETRY_SECONDS)
                continue
            if job is None:
                await self._idle()
                continue
            task = asyncio.create_task(self._run(worker, job, time.perf_counter()))
            self._running[job.id] = task
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                if not task.done():
                    raise
            finally:
                self._running.pop(job.id, None)

    async def _idle(self) -> None:
        waiter = asyncio.create_task(self.store.wait_for_jobs(IDLE_POLL_SECONDS))
        stopper = asyncio.create_task(self._stopping.wait())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        stopper.cancel()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _run(self, worker: str, job: JobRecord, claimed: float) -> None:
        """Run the claimed job (`claimed`: perf_counter when its claim returned) and have
        its outcome recorded."""
        log.info("job %s (%s) attempt %d started by %s", job.id, job.hook, job.attempts, worker)
        stop = asyncio.Event()
        heartbeat = asyncio.create_task(self._heartbeat(worker, job, stop))
        try:
            assert self._scratch is not None
            outcome = await execute(self.store, self.live.config, job, stop, self._scratch)
        except asyncio.CancelledError:
            await self._hand_back(worker, job)
            raise
        except Exception as exc:  # a bug in one job must not stop the worker
            log.exception("job %s failed inside hookd", job.id)
            outcome = JobOutcome(status=JobStatus.FAILED, error=f"hookd failed running it: {exc}")
        finally:
            heartbeat.cancel()
        recording = asyncio.create_task(self._finish(worker, job, outcome, claimed))
        self._recording.add(recording)
        recording.add_done_callback(self._recording.discard)

    async def _finish(
        self, worker: str, job: JobRecord, outcome: JobOutcome, claimed: float
    ) -> None:
        """Record the attempt's end; count it in the metrics once the store kept it (an
        attempt whose lease passed to another worker ended nothing, and is not counted)."""
        try:
            kept = await self.store.finish_job(job.id, worker, outcome, datetime.now(UTC))
        except StoreError as exc:
            log.error("job %s ended %s but could not be recorded: %s", job.id, outcome.status, exc)
            return
        state = "queued for retry" if outcome.retry_at else outcome.status
        if kept:
            count_job(job.hook, outcome, time.perf_counter() - claimed)
            log.info(
                "job %s (%s) %s%s",
                job.id,
                job.hook,
                state,
                f": {outcome.error}" if outcome.error else "",
            )
        else:
            log.warning("job %s ended %s after its lease passed to another worker", job.id, state)

    async def _hand_back(self, worker: str, job: JobRecord) -> None:
        with contextlib.suppress(StoreError):
            await asyncio.shield(self.store.release_job(job.id, worker, datetime.now(UTC)))
        log.info("job %s handed back unfinished at shutdown", job.id)

    async def _heartbeat(self, worker: str, job: JobRecord, stop: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(min(HEARTBEAT_SECONDS, self.lease_seconds / 3))
            until = datetime.now(UTC) + timedelta(seconds=self.lease_seconds)
            try:
                lease = await self.store.renew_lease(job.id, worker, until)
            except StoreError as exc:
                log.error("could not renew the lease of job %s: %s", job.id, exc)
                continue
            if lease.cancel_requested or not lease.held:
                stop.set()
                return


def configured_size(config: Config) -> int:
    """The workers `server.workers` asks for, else one per CPU."""
    workers = config.server.workers
    return (os.cpu_count() or 1) if workers is None else workers


def _become_subreaper() -> bool:
    """Make hookd the child subreaper of its jobs: a process a job leaves behind (`cmd &`,
    a daemon) comes back to hookd when its parent exits, not to init, so it can be reaped.
    Its jobs' processes are found and ended either way (actions.containment)."""
    try:
        return bool(procctl.available() and procctl.prctl(procctl.PR_SET_CHILD_SUBREAPER, 1) == 0)
    except OSError as exc:
        log.warning("cannot become the subreaper of job processes: %s", exc)
        return False


async def _reap_orphans() -> None:
    """Reap, now and then, what a job left running with keep_background: true once it
    exits; hookd is its parent now, and an unreaped child stays a zombie."""
    while True:
        await asyncio.sleep(REAP_SECONDS)
        reap_orphans()
