"""Signals between the processes of one system: small messages that wake whoever waits on a change another
process committed (a run's new events, a batch's change) or that ask the owner of a run or batch to apply a
control request recorded in the database (a cancel, an answer).

A signal only wakes: what it is about is always read back from the database, so a lost signal delays but
never loses anything (waiters fall back to a slow poll, senders of a control repeat it while they wait).

Backends: Redis pub/sub when replicas share a Redis; PostgreSQL LISTEN/NOTIFY without one (a NOTIFY sent in
a transaction is delivered when it commits, never before); in-process on SQLite, whose data dir belongs to
one process group. Every process also receives its own signals, so handlers must be idempotent.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any, Callable, Iterable

from sqlalchemy import text

from runwire.server.background import spawn

log = logging.getLogger("runwire.signals")

CHANNEL = "runwire_signals"
# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more: longer lists go as several signals.
MAX_PAYLOAD = 7000
RECONNECT_SECONDS = 1.0
# How often an idle LISTEN connection proves it is still alive.
LISTENER_CHECK_SECONDS = 10.0

Handler = Callable[[list[str]], None]


def payloads(kind: str, items: Iterable[str]) -> list[str]:
    """`kind` then one item a line, split so that no payload grows past MAX_PAYLOAD."""
    out: list[str] = []
    lines: list[str] = []
    size = len(kind)
    for item in items:
        if lines and size + len(item) + 1 > MAX_PAYLOAD:
            out.append("\n".join([kind, *lines]))
            lines, size = [], len(kind)
        lines.append(item)
        size += len(item) + 1
    if lines:
        out.append("\n".join([kind, *lines]))
    return out


def _resolve(future: asyncio.Future[None], *_listener_args: object) -> None:
    """Completes `future` once, whatever a listener callback passes."""
    if not future.done():
        future.set_result(None)


class SignalBus:
    """In-process signals (one process group on a SQLite data dir); the base of the shared backends."""

    name = "memory"
    # Whether a signal about a write goes out inside that write's transaction (notify_in), not after it.
    transactional = False

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}
        self._sending: set[asyncio.Task[None]] = set()

    def on(self, kind: str, handler: Handler) -> None:
        self._handlers.setdefault(kind, []).append(handler)

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        for task in list(self._sending):
            task.cancel()
        await asyncio.gather(*self._sending, return_exceptions=True)

    def publish(self, kind: str, items: Iterable[str]) -> None:
        """Send `items` of `kind` to every process (this one included), without waiting."""
        for payload in payloads(kind, items):
            self._send(payload)

    def notify_in(self, session: Any, kind: str, items: Iterable[str]) -> None:
        """Send with the transaction `session` (only where `transactional`)."""
        raise NotImplementedError

    def _send(self, payload: str) -> None:
        asyncio.get_running_loop().call_soon(self.deliver, payload)

    def _send_later(self, send: Any) -> None:
        task = spawn(send, name="runwire-signal-send")
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    def deliver(self, payload: str) -> None:
        kind, _, rest = payload.partition("\n")
        items = rest.split("\n") if rest else []
        for handler in self._handlers.get(kind, ()):
            try:
                handler(items)
            except Exception:
                log.exception("handling a %r signal failed", kind)


class RedisSignals(SignalBus):
    """Redis pub/sub on one channel shared by the replicas."""

    name = "redis"

    def __init__(self, redis: Any, channel: str) -> None:
        super().__init__()
        self._redis = redis
        self._channel = channel
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        self._listener = spawn(self._listen_forever(), name="runwire-signals-redis")
        try:  # before serving, so that no signal sent to this process from its first call on is missed
            await asyncio.wait_for(self._subscribed.wait(), 5.0)
        except TimeoutError:
            log.error("could not subscribe to the Redis signal channel yet; retrying in the background")

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        await super().close()

    def _send(self, payload: str) -> None:
        self._send_later(self._publish(payload))

    async def _publish(self, payload: str) -> None:
        try:
            await self._redis.publish(self._channel, payload)
        except Exception as exc:  # waiters fall back to polling; a control's sender repeats it
            log.error("publishing a signal through Redis failed: %s", type(exc).__name__)

    async def _listen_forever(self) -> None:
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                self._subscribed.set()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        data = message["data"]
                        self.deliver(data.decode() if isinstance(data, bytes) else str(data))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("lost the Redis signal channel (%s); reconnecting", type(exc).__name__)
                await asyncio.sleep(RECONNECT_SECONDS)
            finally:
                try:
                    await pubsub.aclose()
                except Exception:
                    pass


class PostgresSignals(SignalBus):
    """LISTEN/NOTIFY on the shared PostgreSQL: one listening connection per process."""

    name = "postgresql"
    transactional = True

    def __init__(self, store: Any) -> None:
        super().__init__()
        self._store = store
        self._dsn = store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    async def start(self) -> None:
        self._listener = spawn(self._listen_forever(), name="runwire-signals-postgresql")
        try:
            await asyncio.wait_for(self._listening.wait(), 5.0)
        except TimeoutError:
            log.error("could not LISTEN for signals yet; retrying in the background")

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        await super().close()

    def notify_in(self, session: Any, kind: str, items: Iterable[str]) -> None:
        for payload in payloads(kind, items):
            session.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload})

    def _send(self, payload: str) -> None:
        self._send_later(self._notify(payload))

    async def _notify(self, payload: str) -> None:
        try:
            async with self._store.engine.begin() as connection:
                await connection.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload})
        except Exception as exc:
            log.error("sending a signal through PostgreSQL failed: %s", type(exc).__name__)

    async def _listen_forever(self) -> None:
        import asyncpg

        while True:
            connection = None
            try:
                connection = await asyncpg.connect(self._dsn)
                gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                connection.add_termination_listener(functools.partial(_resolve, gone))
                await connection.add_listener(CHANNEL, lambda _c, _pid, _channel, payload: self.deliver(payload))
                self._listening.set()
                while not gone.done():
                    try:
                        await asyncio.wait_for(asyncio.shield(gone), LISTENER_CHECK_SECONDS)
                    except TimeoutError:
                        await connection.execute("SELECT 1", timeout=5.0)
                raise ConnectionError("the listening connection closed")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("lost the PostgreSQL signal connection (%s); reconnecting", type(exc).__name__)
                await asyncio.sleep(RECONNECT_SECONDS)
            finally:
                if connection is not None and not connection.is_closed():
                    try:
                        await connection.close(timeout=2.0)
                    except Exception:
                        connection.terminate()
