"""Ownership of runs and batches across processes: heartbeats that keep this process's leases, and claims
that take over what a dead (or cut off) process left.

Every process renews the leases of everything it holds with one UPDATE per table and heartbeat, and
stops locally whatever it finds it no longer holds. Work that stopped here without ending (a bug) is
renewed no more, so it expires and is claimed again like a dead process's. Every claim interval (with jitter, so replicas do not
claim in step) it claims runs and batches whose lease expired: a run cut short ends FAILED
SERVER_RESTARTED keeping what it streamed, a run waiting for a person waits on here with the same input
request, and a batch is driven on from where it was (RunService.take_over, BatchExecutor.take_over).

Work queued without an owner (a run created where there was no room, every batch task's run, a batch an
API-only process created) is claimed by whichever process has room, every `queue_poll_seconds` and at
once when a run ends here, and starts there as if created there (RunService.start_claimed).
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass

from runwire.server.background import spawn
from runwire.server.core.clock import utc_now
from runwire.server.core.statuses import ACTIVE_STATUSES, RunStatus
from runwire.server.domain.batch_executor import BatchExecutor
from runwire.server.domain.batches import ACTIVE_BATCH_STATES
from runwire.server.domain.runs import RunService
from runwire.server.store import leases
from runwire.server.store.leases import LeaseTerms
from runwire.server.store.store import Store

log = logging.getLogger("runwire.leases")

# Rows claimed per table and pass: a pass never holds the loop long, and the next takes the rest.
CLAIM_BATCH = 100


@dataclass(frozen=True)
class LeaseSettings:
    ttl_seconds: float = 15.0
    heartbeat_seconds: float = 5.0
    claim_interval_seconds: float = 5.0
    # How often a process with room looks for queued work no process owns (a run queued where there
    # was no room, a batch task, a batch an API-only process created); a run ending here looks at once.
    queue_poll_seconds: float = 0.5


class Ownership:
    def __init__(
        self, store: Store, terms: LeaseTerms, settings: LeaseSettings, runs: RunService, batches: BatchExecutor
    ) -> None:
        self.store = store
        self.terms = terms
        self.settings = settings
        self.runs = runs
        self.batches = batches
        self._tasks: list[asyncio.Task[None]] = []
        self._look_for_work = asyncio.Event()
        # Whether queued work may be waiting: set when work is queued here, or a pass left some behind.
        self._backlog = True
        runs.on_queued = self.work_queued
        runs.runner.on_room = self._room_freed

    def start(self) -> None:
        self._tasks.append(spawn(self._heartbeat_forever(), name="runwire-lease-heartbeat"))
        self._tasks.append(spawn(self._claim_forever(), name="runwire-lease-claims"))
        self._tasks.append(spawn(self._claim_queued_forever(), name="runwire-work-queue"))

    def work_queued(self) -> None:
        self._backlog = True
        self._look_for_work.set()

    def _room_freed(self) -> None:
        if self._backlog:
            self._look_for_work.set()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    # -- heartbeats -----------------------------------------------------------

    async def renew_once(self) -> None:
        """Extend every lease this process holds; stop here whatever it no longer holds."""
        held_runs, held_batches = self.runs.event_log.held(), self.batches.held()
        if not held_runs and not held_batches:
            return
        runs, batches = await leases.renew(
            self.store, self.terms.owner, self.terms.expiry(utc_now()), list(held_runs), list(held_batches)
        )
        kept_runs = {(h.id, h.fence) for h in runs}
        missing = [r for r in held_runs.values() if (r.run_id, r.fence) not in kept_runs]
        if missing:
            # Not renewed: another process took it, or it just ended (then the database still says it is ours).
            current = await leases.current(self.store, "runs", [r.run_id for r in missing])
            for recorder in missing:
                owner, fence = current.get(recorder.run_id, ("", -1))
                if owner != self.terms.owner or fence != recorder.fence:
                    recorder.lose()
        kept_batches = {(h.id, h.fence) for h in batches}
        missing_batches = [b for b, fence in held_batches.items() if (b, fence) not in kept_batches]
        if missing_batches:
            current = await leases.current(self.store, "batches", missing_batches)
            for batch_id in missing_batches:
                owner, fence = current.get(batch_id, ("", -1))
                if owner != self.terms.owner or fence != held_batches[batch_id]:
                    self.batches.lose(batch_id)

    async def _heartbeat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            try:
                await self.renew_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is away: the next beat tries again (writes stay fenced)
                log.exception("renewing leases failed")

    # -- claims ---------------------------------------------------------------

    async def claim_once(self, *, everyone_else: bool = False) -> tuple[int, int, int]:
        """Claim expired runs, then expired batches (so the runs of a dead driver's tasks have ended or
        wait on by the time their batch is settled): (runs failed, runs resumed, batches taken over).
        `everyone_else`: also leases of other owners that have not expired (a SQLite data dir at start,
        which no other process group can use)."""
        failed = resumed = taken = 0
        while True:
            now = utc_now()
            rows = await leases.claim(
                self.store, "runs", self.terms.owner, now, self.terms.expiry(now), ACTIVE_STATUSES, CLAIM_BATCH,
                held=self.runs.event_log.held(), everyone_else=everyone_else,
            )
            if not rows:
                break
            for row in rows:
                log.info("took over runs/%s (%s, fence %d)", row.id, RunStatus(row.status).name, row.fence)
            ended, waiting = await self.runs.take_over(rows)
            failed, resumed = failed + ended, resumed + waiting
            if len(rows) < CLAIM_BATCH:
                break
        while True:
            now = utc_now()
            batches = await leases.claim(
                self.store, "batches", self.terms.owner, now, self.terms.expiry(now), ACTIVE_BATCH_STATES, CLAIM_BATCH,
                held=self.batches.held(), everyone_else=everyone_else,
            )
            if not batches:
                break
            for batch in batches:
                log.info("took over batches/%s (fence %d)", batch.id, batch.fence)
            taken += await self.batches.take_over(batches)
            if len(batches) < CLAIM_BATCH:
                break
        return failed, resumed, taken

    async def _claim_forever(self) -> None:
        interval = self.settings.claim_interval_seconds
        while True:
            # Jitter: replicas started together do not claim in step.
            await asyncio.sleep(interval * random.uniform(0.75, 1.25))
            try:
                failed, resumed, taken = await self.claim_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("claiming expired leases failed")
                continue
            if failed or resumed or taken:
                log.warning(
                    "took over work of a process that stopped: %d run(s) failed (SERVER_RESTARTED), "
                    "%d waiting run(s) wait on here, %d batch(es) driven on here",
                    failed, resumed, taken,
                )

    # -- queued work ----------------------------------------------------------

    async def claim_queued_once(self) -> int:
        """Claim queued runs no process owns, as many as this process has room for, and start them (a
        normal start, not a takeover); then batches no process drives yet. Returns the runs started."""
        started = 0
        self._backlog = False
        # Mostly nothing waits: a read says so, without the claims' write transactions.
        if not await leases.unowned_waiting(self.store, "runs", (RunStatus.QUEUED,)):
            return await self._claim_unowned_batches(started)
        while (room := min(self.runs.runner.room(), CLAIM_BATCH)) > 0:
            now = utc_now()
            rows = await leases.claim(
                self.store, "runs", self.terms.owner, now, self.terms.expiry(now), (RunStatus.QUEUED,), room, unowned=True
            )
            started += await self.runs.start_claimed(rows)
            if len(rows) < room:
                break
        else:
            self._backlog = True  # no room left: what is still queued waits for a run here to end
        return await self._claim_unowned_batches(started)

    async def _claim_unowned_batches(self, started: int) -> int:
        """The batches no process drives yet, taken over here; returns `started` (runs), for claim_queued_once."""
        if not await leases.unowned_waiting(self.store, "batches", ACTIVE_BATCH_STATES):
            return started
        now = utc_now()
        batches = await leases.claim(
            self.store, "batches", self.terms.owner, now, self.terms.expiry(now), ACTIVE_BATCH_STATES, CLAIM_BATCH,
            held=self.batches.held(), unowned=True,
        )
        if batches:
            await self.batches.take_over(batches)
        return started

    async def _claim_queued_forever(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._look_for_work.wait(), self.settings.queue_poll_seconds)
            except TimeoutError:
                pass
            self._look_for_work.clear()
            try:
                await self.claim_queued_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("claiming queued work failed")

    # -- shutdown -------------------------------------------------------------

    async def release_waiting(self) -> int:
        """At a graceful shutdown, after the runs stopped: the runs still held wait for a person (the
        others have ended); their leases expire now, so another process takes them at once."""
        held = list(self.runs.event_log.held())
        try:
            await leases.release(self.store, "runs", self.terms.owner, held, utc_now())
        except Exception:  # they expire by themselves within the TTL
            log.exception("releasing the leases of waiting runs failed")
            return 0
        return len(held)
