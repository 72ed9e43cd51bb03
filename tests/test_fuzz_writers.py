"""Several writers on one root, killed writers, and files changed behind the index's back.

Nothing written by one job may be lost by another; a killed job leaves nothing half-written in place
and its rerun finishes the work; a video whose bytes changed is never spread into compressed copies.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from filelock import FileLock

from tests.test_fuzz import REPO, _tiny, run_cli
from ttdf.compress import compress_dataset
from ttdf.index import VideoIndex, index_dataset
from ttdf.lock import CLAIMS_DIR, ROOT_LOCK
from ttdf.manifest import merge_into_manifest, read_manifest, write_manifest
from ttdf.records import VideoRecord
from ttdf.video import probe_video


def _spawn(*argv: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "ttdf.cli", *argv, "--no-progress"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """6 raw videos, indexed (16 frames of 64x64: encoding them takes a moment, so runs overlap)."""
    root = tmp_path_factory.mktemp("writers")
    _tiny(root, frames=16, size=(64, 64))
    index_dataset(root, workers=1, progress=False)
    return root


@pytest.fixture
def root(tmp_path, template) -> Path:
    target = tmp_path / "root"
    shutil.copytree(template, target, symlinks=True)
    return target


def _raw_count(root: Path) -> int:
    return len([r for r in read_manifest(root / "manifest.csv") if r.compression == "raw"])


def _written(out: str) -> int:
    return int(re.search(r"(\d+) written", out).group(1))


# -- the root lock -----------------------------------------------------------------------------------------


def _held_elsewhere(path: Path) -> FileLock:
    """The lock as another process would hold it (flock conflicts between open files, even in one process)."""
    lock = FileLock(str(path), thread_local=False)
    lock.acquire(timeout=0)
    return lock


@pytest.mark.parametrize("writer", ["merge", "index"])
def test_writers_wait_for_the_root_lock(root, capfd, writer):
    lock = _held_elsewhere(root / ROOT_LOCK)
    record = VideoRecord(path="real/raw/train/zz.mp4", label="real", method=None, config=None, identity_id="zz",
                         pose_id="zz", split="train", compression="raw")
    job = (lambda: merge_into_manifest(root, [record])) if writer == "merge" else \
        (lambda: index_dataset(root, workers=1, progress=False))
    thread = threading.Thread(target=job)
    thread.start()
    time.sleep(1.0)
    try:
        assert thread.is_alive(), f"{writer} wrote the root while another job held its lock"
    finally:
        lock.release()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert "waiting for another ttdf job" in capfd.readouterr().err
    if writer == "merge":
        assert record.path in {r.path for r in read_manifest(root / "manifest.csv")}


def test_two_index_runs_on_a_fresh_root(tmp_path, template):
    root = tmp_path / "fresh"
    shutil.copytree(template, root)
    shutil.rmtree(root / ".ttdf")
    runs = [_spawn("index", "--root", str(root), "--workers", "1") for _ in range(2)]
    results = [_finish(proc) for proc in runs]
    for code, out, err in results:
        assert code == 0 and "corrupt" not in out + err and "Traceback" not in err, err
    n = _raw_count(root)
    assert sorted(_written_or_unchanged(out) for _, out, _ in results) == [(0, n), (n, 0)]


def _written_or_unchanged(out: str) -> tuple[int, int]:
    match = re.search(r"(\d+) added, \d+ updated, (\d+) unchanged", out)
    return int(match.group(1)), int(match.group(2))


# -- two compress runs -------------------------------------------------------------------------------------


def test_two_compress_runs_with_different_selections_keep_every_row(root):
    runs = [_spawn("compress", "--root", str(root), "--crf", crf, "--preset", "medium", "--workers", "1")
            for crf in ("23", "40")]
    for code, out, err in map(_finish, runs):
        assert code == 0, err
    rows = read_manifest(root / "manifest.csv")
    assert len(rows) == 3 * _raw_count(root)
    code, out, err = run_cli(["verify", "--root", str(root), "--workers", "1", "--no-progress"])
    assert code == 0, out


def test_two_identical_compress_runs_split_the_work(root):
    runs = [_spawn("compress", "--root", str(root), "--crf", "40", "--preset", "veryslow", "--workers", "1")
            for _ in range(2)]
    results = [_finish(proc) for proc in runs]
    assert all(code == 0 for code, _, _ in results), results
    assert sum(_written(out) for _, out, _ in results) == _raw_count(root)  # nothing encoded twice
    assert len(read_manifest(root / "manifest.csv")) == 2 * _raw_count(root)


def test_compress_leaves_an_output_another_run_is_encoding(root):
    with VideoIndex.open(root) as index:
        source = index.query()[0].record
    target = source.path.replace("/raw/", "/c40/")
    claim = root / CLAIMS_DIR / f"{hashlib.sha1(target.encode()).hexdigest()}.lock"
    claim.parent.mkdir(parents=True, exist_ok=True)
    lock = _held_elsewhere(claim)
    try:
        report = compress_dataset(root, [40], preset="ultrafast", workers=1, progress=False)
    finally:
        lock.release()
    assert report.busy == [target] and target not in report.written and not (root / target).exists()
    assert len(report.written) == _raw_count(root) - 1
    report = compress_dataset(root, [40], preset="ultrafast", workers=1, progress=False)
    assert report.written == [target]


# -- lost rows, changed bytes, leftovers -------------------------------------------------------------------


def test_verify_notices_rows_lost_from_the_manifest(root):
    compress_dataset(root, [40], preset="ultrafast", workers=1, progress=False)
    manifest = root / "manifest.csv"
    rows = read_manifest(manifest)
    write_manifest(manifest, [r for r in rows if r.compression == "raw"])  # what an overwriting writer did
    code, out, err = run_cli(["verify", "--root", str(root), "--workers", "1", "--no-progress", "--no-decode"])
    lost = [r.path for r in rows if r.compression == "c40"]
    assert code == 1 and all(f"UNLISTED     {path}" in out for path in lost), out
    compress_dataset(root, [40], preset="ultrafast", workers=1, progress=False)  # the fix the message gives
    assert run_cli(["verify", "--root", str(root), "--workers", "1", "--no-progress", "--no-decode"])[0] == 0


def test_compress_refuses_a_source_changed_behind_the_index(root):
    with VideoIndex.open(root) as index:
        source = index.query()[0]
    path = root / source.path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size ...
    stat = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # ... same mtime
    code, out, err = run_cli(["compress", "--root", str(root), "--crf", "40", "--preset", "ultrafast",
                              "--workers", "1", "--no-progress"])
    assert code == 1 and f"FAILED  {source.path}" in err and "no longer matches the index" in err
    assert not (root / source.path.replace("/raw/", "/c40/")).exists()
    assert _written(out) == _raw_count(root) - 1


def test_leftover_temp_files_are_listed_and_cleaned_by_the_next_run(root):
    with VideoIndex.open(root) as index:
        source = index.query()[0]
    output = root / source.path.replace("/raw/", "/c40/")
    output.parent.mkdir(parents=True)
    leftover = output.with_name(f".{output.stem}.k1ll3d00.tmp.mp4")  # named as atomic_path names them
    leftover.write_bytes(b"half an mp4")
    neighbours = output.with_name(f".{output.stem}.v2.abcd1234.tmp.mp4")  # "<stem>.v2.mp4" being written
    neighbours.write_bytes(b"someone else's")
    code, out, err = run_cli(["verify", "--root", str(root), "--workers", "1", "--no-progress", "--no-decode"])
    assert code == 1 and "LEFTOVER" in out and leftover.name in out
    compress_dataset(root, [40], preset="ultrafast", workers=1, progress=False)
    assert not leftover.exists() and probe_video(output, decode=True).frames == 16
    assert neighbours.exists()


# -- kill -9 -----------------------------------------------------------------------------------------------


def test_kill_9_during_compress_loses_nothing(root):
    proc = _spawn("compress", "--root", str(root), "--crf", "40", "--preset", "veryslow", "--workers", "1")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if any(root.glob("**/c40/**/.*.tmp.mp4")) and any(root.glob("**/c40/**/[!.]*.mp4")):
            break  # mid-encode, with at least one output finished
        time.sleep(0.005)
    assert proc.poll() is None, "compress finished before it could be killed; make the videos bigger"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)

    rows = read_manifest(root / "manifest.csv")  # still a valid manifest
    with VideoIndex.open(root) as index:  # still a valid index
        assert len(index.query()) >= _raw_count(root)
    for output in root.glob("**/c40/**/[!.]*.mp4"):  # nothing half-written under a final name
        assert probe_video(output, decode=True).frames == 16
    assert rows

    code, out, err = run_cli(["compress", "--root", str(root), "--crf", "40", "--preset", "ultrafast",
                              "--workers", "1", "--no-progress"])
    assert code == 0, err
    assert not list(root.glob("**/.*.tmp*")), "the rerun must clean what the killed run left"
    assert len(read_manifest(root / "manifest.csv")) == 2 * _raw_count(root)
    code, out, err = run_cli(["verify", "--root", str(root), "--workers", "1", "--no-progress"])
    assert code == 0, out
