"""Worker processes of the bench mode: they draw blocks and format them as COPY text.

Forked from the command's process once the province is written: they inherit the drawer
(`_DRAWER`) and are sent blocks (a few numbers each); they send back COPY text. They never use
a database: the command's connection, inherited with the fork, must not be used (nor closed:
that would end the command's session), so its socket is replaced by /dev/null in them, and
opening another connection raises.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from django.core.management.base import CommandError
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from .bench import MAX_JOBS, BlockText, copy_block
from .drawing import Block, Drawer

_DRAWER: Drawer | None = None


def default_jobs() -> int:
    """One worker per CPU this process may run on, at most MAX_JOBS."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_JOBS))


def _no_database(*args: object, **kwargs: object) -> None:
    raise RuntimeError("generate_cases: a worker process must not use the database.")


def _start_worker(sockets: tuple[int, ...]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the command's process handles Ctrl-C
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in sockets:
        os.dup2(devnull, fd)
    os.close(devnull)
    BaseDatabaseWrapper.ensure_connection = _no_database  # type: ignore[method-assign]
    # A worker whose command was killed (not interrupted) must not wait for blocks forever.
    parent = os.getppid()

    def orphaned() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=orphaned, name="generate_cases-orphan", daemon=True).start()


def _work(block: Block) -> BlockText:
    if _DRAWER is None:  # set before the fork
        raise RuntimeError("generate_cases: a worker process without its drawer.")
    return copy_block(_DRAWER, block)


def _database_sockets() -> tuple[int, ...]:
    sockets = []
    for conn in connections.all(initialized_only=True):
        raw = conn.connection
        if raw is not None and hasattr(raw, "fileno"):
            sockets.append(raw.fileno())
    return tuple(sockets)


def formatted_in_workers(
    drawer: Drawer, blocks: Iterator[Block], *, jobs: int, batch: int
) -> Generator[BlockText]:
    """The blocks formatted by `jobs` worker processes, in order. In flight: enough for the
    workers to go on while the command sends the batches before (about two batches, at least
    two blocks per worker), and no more: memory stays bounded. A worker's failure stops
    everything with a CommandError."""
    global _DRAWER
    _DRAWER = drawer
    executor = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_start_worker,
        initargs=(_database_sockets(),),
    )
    window: deque[tuple[Block, Future[BlockText]]] = deque()
    in_flight = 0  # cases

    def fill() -> None:
        nonlocal in_flight
        while in_flight < 2 * batch or len(window) < 2 * jobs:
            block = next(blocks, None)
            if block is None:
                return
            window.append((block, executor.submit(_work, block)))
            in_flight += block.cases

    try:
        fill()
        while window:
            block, future = window.popleft()
            in_flight -= block.cases
            text = _result(drawer, block, future)
            fill()
            yield text
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        _DRAWER = None


def _result(drawer: Drawer, block: Block, future: Future[BlockText]) -> BlockText:
    try:
        return future.result()
    except BrokenProcessPool as error:
        raise CommandError(
            "A worker process generating the cases died unexpectedly (killed, out of memory?). "
            "Nothing was written."
        ) from error
    except Exception as error:
        code = drawer.feeds[block.feed].inspection.code
        raise CommandError(
            f"Generating the cases of {code} failed in a worker process: "
            f"{type(error).__name__}: {error}. Nothing was written."
        ) from error
