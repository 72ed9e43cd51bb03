"""Index: videos/s of a cold ``index_dataset`` (hash + probe every file) and of a re-index of an unchanged root.

The warm run should only stat files and compare them with the database, so "cold / warm" is how
much an incremental re-index saves.
"""
from __future__ import annotations

from pathlib import Path

from bench.common import Row, by_id, relate, scaling_note
from bench.data import Context
from ttdf.index import INDEX_FILE, index_dataset

ROWS = ("index.cold.w1", "index.cold.w2", "index.warm", "index.large.w1", "index.large.w2")
GOAL = 1.5  # workers=2 against workers=1 on the large cold index


def run(ctx: Context) -> list[Row]:
    data = ctx.data
    videos = len(data.synth_videos)
    lh, lw = ctx.profile.long_size
    size_mb = data.long_video.stat().st_size / 1e6
    copy = lambda: data.copy_root(data.synth_root, "index")  # noqa: E731
    rows = [
        *(ctx.measure(f"index.cold.w{n}", f"cold index_dataset workers={n}, {videos} synth videos",
                      lambda root, n=n: _index(root, n, expect_unchanged=False), prepare=copy,
                      before_each=_drop_index, work=videos, unit="videos/s") for n in (1, 2)),
        ctx.measure("index.warm", f"re-index of the unchanged root (workers=2), {videos} videos",
                    lambda root: _index(root, 2, expect_unchanged=True), prepare=copy, warmup=1, work=videos,
                    unit="videos/s"),
    ]
    links = data.links_root
    what = f"{ctx.profile.index_links} links to the {data.long_frames}-frame {lh}x{lw} clip ({size_mb:.1f} MB each)"
    rows += [ctx.measure(f"index.large.w{n}", f"cold index_dataset workers={n}, {what}",
                         lambda root, n=n: _index(root, n, expect_unchanged=False), prepare=lambda: links,
                         before_each=_drop_index, work=ctx.profile.index_links, unit="videos/s") for n in (1, 2)]
    result = [r for r in rows if r is not None]
    found = by_id(result)
    relate(found.get("index.cold.w2"), found.get("index.cold.w1"), "workers=1")
    relate(found.get("index.large.w2"), found.get("index.large.w1"), "workers=1")
    relate(found.get("index.warm"), found.get("index.cold.w2"), "cold")
    return result


def notes(rows: dict[str, Row]) -> list[str]:
    lines = []
    warm = rows.get("index.warm")
    if warm is not None and warm.ratio is not None:
        lines.append(f"index: re-indexing an unchanged root is {warm.ratio:.0f}x faster than a cold index.")
    large = rows.get("index.large.w2")
    if large is not None and large.ratio is not None:
        verdict = "meets" if large.ratio >= GOAL else "misses"
        why = scaling_note(large, rows.get("index.large.w1"))
        lines.append(f"index: a large cold index with workers=2 runs at {large.ratio:.2f}x workers=1 ({verdict} the "
                     f">= {GOAL}x goal{why}); small jobs stay in-process (index.cold.w2: "
                     f"{_ratio(rows.get('index.cold.w2'))}).")
    return lines


def _ratio(row: Row | None) -> str:
    return f"{row.ratio:.2f}x" if row is not None and row.ratio is not None else "n/a"


def _index(root: Path, workers: int, *, expect_unchanged: bool) -> dict:
    report = index_dataset(root, workers=workers, progress=False)
    if expect_unchanged and (report.added or report.updated):
        raise RuntimeError(f"the warm re-index probed files again (added={report.added}, updated={report.updated})")
    return {"added": report.added, "updated": report.updated, "unchanged": report.unchanged}


def _drop_index(root: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        (root / (INDEX_FILE + suffix)).unlink(missing_ok=True)
