"""`runwire serve --workers N`: N server processes on one port, under a supervisor.

The supervisor forks each worker before any gRPC object exists (gRPC's core does not survive a fork), and
every worker binds the port with SO_REUSEPORT, so the kernel spreads connections over them. The first worker
starts alone (it migrates the database and prints a bootstrap admin key if one is created) and says when
it serves; the others start then. Work is shared through the database like any replicas' (leases, the
work queue). A worker that dies is started again; SIGTERM or SIGINT to the supervisor stops every worker
gracefully. Metrics are served by the first worker only (its own process's).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import time
from typing import Callable

from runwire.server.config import Settings

log = logging.getLogger("runwire.supervisor")

# A worker that dies is started again after this pause, so a worker that cannot start does not spin.
RESTART_PAUSE_SECONDS = 1.0


def supervise(settings: Settings, run_worker: Callable[[Settings, int | None], int]) -> int:
    """Run `settings.workers` workers (`run_worker(settings, ready_fd)` in each child: it writes a byte to
    `ready_fd` once it serves) until SIGTERM or SIGINT; the exit status."""
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            _signal(pid, signal.SIGTERM)

    children: dict[int, int] = {}  # pid -> worker index
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def start(index: int, wait_ready: bool) -> int | None:
        worker = dataclasses.replace(settings, metrics_port=settings.metrics_port if index == 0 else 0)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            os.close(read_end)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = 1
            try:
                code = run_worker(worker, write_end)
            finally:
                os._exit(code)
        os.close(write_end)
        children[pid] = index
        log.info("worker %d started (pid %d)", index, pid)
        if wait_ready:
            return pid if _read_ready(read_end) else None
        os.close(read_end)
        return pid

    if start(0, wait_ready=True) is None:
        log.error("the first worker did not start; stopping")
        _reap_all(children)
        return 1
    for index in range(1, settings.workers):
        if stopping:
            break
        start(index, wait_ready=False)
    code = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        ended = children.pop(pid, None)
        if ended is None:
            continue
        if stopping:
            continue
        log.error("worker %d (pid %d) ended (status %d); starting it again", ended, pid, os.waitstatus_to_exitcode(status))
        time.sleep(RESTART_PAUSE_SECONDS)
        if not stopping:
            start(ended, wait_ready=False)
    return code


def _read_ready(fd: int) -> bool:
    try:
        return os.read(fd, 1) == b"1"
    except InterruptedError:
        return _read_ready(fd)
    finally:
        os.close(fd)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _reap_all(children: dict[int, int]) -> None:
    for pid in list(children):
        _signal(pid, signal.SIGTERM)
    for pid in list(children):
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        children.pop(pid, None)
