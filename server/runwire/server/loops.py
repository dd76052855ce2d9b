"""Background loops of a serving process: the sweeper, the record of API key use, the metrics gauges, and
revocations announced by other replicas."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from runwire.server.api.auth import Authenticator
from runwire.server.config import Settings
from runwire.server.core import metrics
from runwire.server.core.clock import Clock
from runwire.server.core.statuses import ACTIVE_STATUSES, RunStatus
from runwire.server.domain.api_keys import ApiKeyService
from runwire.server.domain.memories import MemoryService
from runwire.server.domain.messaging import MessagingService
from runwire.server.domain.resource_events import ResourceEvents
from runwire.server.domain.sessions import SessionService
from runwire.server.store import repositories as repo
from runwire.server.store.store import Store

log = logging.getLogger("runwire.server")

KEY_USE_SECONDS = 30.0
GAUGE_SECONDS = 5.0


class Sweeper:
    """Deletes what is past its time: expired sessions and memories, idempotency records past their window,
    server messages and resource events past retention, unused event subscriptions."""

    def __init__(
        self,
        store: Store,
        sessions: SessionService,
        memories: MemoryService,
        messaging: MessagingService,
        resource_events: ResourceEvents,
        settings: Callable[[], Settings],
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.memories = memories
        self.messaging = messaging
        self.resource_events = resource_events
        # The settings now: ConfigService may change the interval and the idempotency window.
        self.settings = settings

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings().sweep_interval_seconds)
            try:
                await self.sweep_once()
            except Exception:  # a failed sweep is retried on the next tick
                log.exception("sweep failed")

    async def sweep_once(self) -> None:
        removed = await self.sessions.sweep_expired()
        forgotten = await self.memories.sweep_expired()
        if forgotten:
            log.info("sweeper deleted %d expired memories", forgotten)
        async with self.store.write() as db:
            cutoff = self.sessions.ctx.clock() - self.settings().idempotency_window
            await repo.delete_idempotency_records_before(db, cutoff)
        if removed:
            log.info("sweeper deleted %d expired session(s)", removed)
        messages = await self.messaging.sweep()
        if messages:
            log.info("sweeper deleted %d server message(s) past retention", messages)
        events, subscriptions = await self.resource_events.sweep()
        if events or subscriptions:
            log.info("sweeper deleted %d resource event(s) past retention, %d unused subscription(s)", events, subscriptions)


class KeyUseRecorder:
    """Writes which API keys were used (the authenticator collects them per call) every 30 seconds and at shutdown."""

    def __init__(self, authenticator: Authenticator, api_keys: ApiKeyService, clock: Clock) -> None:
        self.authenticator = authenticator
        self.api_keys = api_keys
        self.clock = clock

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(KEY_USE_SECONDS)
            try:
                await self.record()
            except Exception:
                log.exception("recording API key use failed")

    async def record(self) -> None:
        if not self.authenticator.used_key_ids:
            return
        used, self.authenticator.used_key_ids = self.authenticator.used_key_ids, set()
        await self.api_keys.record_use(used, self.clock())


class GaugeRefresher:
    """Keeps the metrics gauges read from the database (runs by status) current."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def run_forever(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:
                log.exception("refreshing metrics gauges failed")
            await asyncio.sleep(GAUGE_SECONDS)

    async def refresh(self) -> None:
        async with self.store.read() as db:
            counts = await repo.count_runs_by_status(db, [int(s) for s in ACTIVE_STATUSES])
        metrics.set_runs_by_status({RunStatus(s).name.lower(): counts.get(int(s), 0) for s in ACTIVE_STATUSES})


async def follow_revocations(redis: Any, channel: str, forget: Callable[[str], None]) -> None:
    """Forget each API key another replica announces as revoked on `channel`."""
    while True:
        try:
            pubsub = redis.pubsub()
            await pubsub.subscribe(channel)
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    data = message["data"]
                    forget(data.decode() if isinstance(data, bytes) else str(data))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("lost the Redis revocation channel (%s); reconnecting", type(exc).__name__)
            await asyncio.sleep(1.0)
