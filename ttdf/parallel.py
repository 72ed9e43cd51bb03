"""One process-pool helper for the batch jobs (index, verify, compress, flow): one bad video never stops them.

:func:`run_parallel` yields ``(item, func(item))`` as results arrive. A worker that dies (a decoder
segfaulting on a corrupt file) does not break the batch: only the item that killed it yields a
:class:`WorkerCrash`, every other item still yields its real result.
"""
from __future__ import annotations

import collections
import multiprocessing
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, TypeVar

from tqdm.auto import tqdm

_T = TypeVar("_T")
_R = TypeVar("_R")

CRASH_REASON = ("the worker process crashed while reading it (a decoder crash?); the file is probably corrupt: "
                "re-download or delete it")
# Spawning a worker re-imports numpy/PyAV/OpenCV (~0.5 s per worker); below this many items per worker the
# job is cheaper in this process. The test suite's tiny jobs stay in-process; real datasets do not.
MIN_ITEMS_PER_WORKER = 4
_IN_POOL_WORKER = False  # set in the worker processes run_parallel starts


def in_pool_worker() -> bool:
    """True in a worker process of :func:`run_parallel` (the pool is the parallelism there: a job may limit
    its own threads), False in the calling process, also when it runs the items itself or is itself some
    other program's child process (a bench or a test runner)."""
    return _IN_POOL_WORKER


@dataclass(frozen=True)
class WorkerCrash:
    """The result of an item whose worker process died (not raised: the batch goes on)."""

    reason: str = CRASH_REASON


def run_parallel(func: Callable[[_T], _R], items: Sequence[_T], *, workers: int = 2, progress: bool = True,
                 desc: str = "", unit: str = "video", initializer: Callable[..., Any] | None = None,
                 initargs: tuple = (), start_method: str = "spawn",
                 min_items_per_worker: int = MIN_ITEMS_PER_WORKER) -> Iterator[tuple[_T, _R | WorkerCrash]]:
    """Yield ``(item, func(item))`` as results arrive, in completion order; ``WorkerCrash()`` for a crash.

    Runs in this process when ``workers <= 1`` or there are fewer than ``min_items_per_worker * workers``
    items (a worker's start-up would cost more than it saves); then a crash is a crash of this process.
    ``initializer(*initargs)`` runs once per worker, or once here when running in-process, so ``func``
    sees the same state either way. Workers ignore SIGINT: Ctrl-C reaches only the parent, which keeps
    what it has. Exceptions raised by ``func`` propagate; make ``func`` return failures instead.

    Workers are spawned by default, not forked: a forked child inherits OpenCV's and torch's thread
    pools half-alive (``cv2.setNumThreads`` then deadlocks). So ``func``, ``initializer`` and the items
    must be picklable (module-level functions), and a script using this needs ``if __name__ == "__main__":``.
    At most ``2 * workers`` items are in flight; when a worker dies, those are retried alone, each in a
    fresh process, to find the culprit. Close the generator (``contextlib.closing``) to cancel the rest.
    """
    items = list(items)
    workers = planned_workers(len(items), workers, min_items_per_worker)
    with tqdm(total=len(items), desc=desc, unit=unit, disable=not progress) as bar:
        if workers <= 1:
            if initializer is not None:
                initializer(*initargs)
            for item in items:
                result = func(item)
                bar.update()
                yield item, result
            return
        context = multiprocessing.get_context(start_method)
        todo = collections.deque(items)
        while todo:
            suspects: list[_T] = []
            pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                       initargs=(initializer, initargs))
            try:
                running: dict[Future, _T] = {}
                while (todo or running) and not suspects:
                    while todo and len(running) < 2 * workers:
                        item = todo.popleft()
                        running[pool.submit(func, item)] = item
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        item = running.pop(future)
                        try:
                            result = future.result()
                        except BrokenProcessPool:
                            suspects.append(item)
                            continue
                        bar.update()
                        yield item, result
                suspects.extend(running.values())
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
            for item in suspects:  # each alone in a fresh process: only the culprit crashes again
                pool = ProcessPoolExecutor(1, mp_context=context, initializer=_init_worker,
                                           initargs=(initializer, initargs))
                try:
                    try:
                        result = pool.submit(func, item).result()
                    except BrokenProcessPool:
                        result = WorkerCrash()
                finally:
                    pool.shutdown(wait=True, cancel_futures=True)
                bar.update()
                yield item, result


def planned_workers(items: int, workers: int, min_items_per_worker: int = MIN_ITEMS_PER_WORKER) -> int:
    """How many processes :func:`run_parallel` uses for ``items`` items (1: it runs them in this process)."""
    workers = min(workers, items)
    return 1 if workers <= 1 or items < min_items_per_worker * workers else workers


def _init_worker(initializer: Callable[..., Any] | None, initargs: tuple) -> None:
    global _IN_POOL_WORKER
    _IN_POOL_WORKER = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent only, which keeps finished work
    if initializer is not None:
        initializer(*initargs)


__all__ = ["CRASH_REASON", "WorkerCrash", "in_pool_worker", "planned_workers", "run_parallel"]
