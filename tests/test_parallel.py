"""run_parallel: in-process and pooled runs, crash isolation, and a crash in `ttdf index` marking one video bad.

The functions run in workers are module-level here: spawned workers import ``tests.test_parallel``.
"""
from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import ttdf.index as index_module
from ttdf.index import VideoIndex, index_dataset
from ttdf.parallel import CRASH_REASON, WorkerCrash, in_pool_worker, run_parallel
from tests.tiny_dataset import write_tiny_dataset

_STATE: dict = {}


def _init(tag: str) -> None:
    _STATE["tag"] = tag


def _describe(item: int) -> tuple[int, int, str | None, bool]:
    """(item * 10, pid, what the initializer set, whether SIGINT is ignored)."""
    time.sleep(0.01 * (item % 3))  # finish out of order
    return item * 10, os.getpid(), _STATE.get("tag"), signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def _crash_on_five_and_six(item: int) -> int:
    if item in (5, 6):
        os._exit(1)  # what a segfaulting decoder does to a worker process
    return item * 10


def test_a_crashing_worker_fails_only_its_items():
    results = list(run_parallel(_crash_on_five_and_six, range(1, 11), workers=2, progress=False,
                                min_items_per_worker=1))
    assert sorted(item for item, _ in results) == list(range(1, 11))  # each item exactly once
    assert dict(results) == {i: WorkerCrash() if i in (5, 6) else i * 10 for i in range(1, 11)}
    assert WorkerCrash().reason == CRASH_REASON and "re-download" in CRASH_REASON


def test_pool_runs_every_item_in_workers_with_the_initializer():
    _STATE.clear()
    items = list(range(20))
    results = list(run_parallel(_describe, items, workers=2, progress=False, initializer=_init,
                                initargs=("worker",)))
    assert sorted(item for item, _ in results) == items  # complete, whatever the completion order
    assert all(value == item * 10 for item, (value, _, _, _) in results)
    assert {pid for _, (_, pid, _, _) in results} - {os.getpid()} == {pid for _, (_, pid, _, _) in results}
    assert {(tag, ignored) for _, (_, _, tag, ignored) in results} == {("worker", True)}
    assert "tag" not in _STATE  # the initializer ran in the workers, not here


def test_in_process_for_one_worker_or_few_items():
    # a shell's background job starts with SIGINT ignored: what counts is that running leaves it as it was
    before = signal.getsignal(signal.SIGINT)
    for workers, items in ((1, list(range(10))), (2, [1, 2, 3]), (4, [])):
        _STATE.clear()
        results = list(run_parallel(_describe, items, workers=workers, progress=False, initializer=_init,
                                    initargs=("here",)))
        assert [item for item, _ in results] == items  # in order
        assert all(pid == os.getpid() and tag == "here" and value == item * 10
                   for item, (value, pid, tag, _) in results)
    assert signal.getsignal(signal.SIGINT) == before  # this process still gets Ctrl-C as before


def _in_pool(item: int) -> bool:
    return in_pool_worker()


def test_jobs_know_whether_a_pool_runs_them():
    """Pool workers may limit their threads (the pool is the parallelism); the caller's process never is one,
    even when it runs the items itself inside some other program's child process."""
    assert {in_pool for _, in_pool in run_parallel(_in_pool, range(8), workers=2, progress=False)} == {True}
    assert {in_pool for _, in_pool in run_parallel(_in_pool, range(8), workers=1, progress=False)} == {False}
    assert not in_pool_worker()


def test_closing_early_cancels_the_rest():
    started = time.monotonic()
    with contextlib.closing(run_parallel(time.sleep, [0.0] + [0.5] * 40, workers=2, progress=False)) as results:
        next(results)
    assert time.monotonic() - started < 8  # 40 x 0.5 s / 2 workers would take 10 s


# -- a crash inside `ttdf index` ---------------------------------------------------------------------------

_CRASHING_FILE = "s001.mp4"  # the real video of source s001


def _probe_crashing_on_one_file(job: tuple[str, str, bool]):
    if Path(job[1]).name == _CRASHING_FILE:
        os._exit(1)
    return index_module._probe_file(job)


def test_a_crashing_probe_marks_only_that_video_bad(tmp_path, monkeypatch):
    records = write_tiny_dataset(tmp_path)  # 21 videos: a process pool of 2 once the threshold allows it
    monkeypatch.setattr(index_module, "_MIN_FILES_PER_WORKER", 4)
    # the parent hands this function to the spawned workers, which import it from this module
    monkeypatch.setattr(index_module, "_probe_file", _probe_crashing_on_one_file)
    report = index_dataset(tmp_path, workers=2, progress=False)
    crashed = [r.path for r in records if Path(r.path).name == _CRASHING_FILE]
    assert len(crashed) == 1 and report.added == len(records)
    assert report.bad == [(crashed[0], CRASH_REASON)]
    with VideoIndex.open(tmp_path) as index:
        videos = {v.path: v for v in index.query(status=None)}
    assert len(videos) == len(records)
    video = videos[crashed[0]]
    assert video.status == "bad" and video.error == CRASH_REASON and video.record.frames is None
    assert video.size == (tmp_path / crashed[0]).stat().st_size and video.record.sha256  # hashed here: a rerun skips it
    monkeypatch.undo()
    again = index_dataset(tmp_path, workers=1, progress=False)
    assert (again.unchanged, again.bad) == (len(records), [(crashed[0], CRASH_REASON)])
