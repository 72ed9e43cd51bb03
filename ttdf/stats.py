"""Counts of videos, frames, hours and bytes per taxonomy group, read from the index (no probing).

Real videos have no method or configuration: their groups carry ``None`` there (shown as "-").
Videos the index could not place (no manifest entry, path off the layout) show "?".
"""
from __future__ import annotations

from collections.abc import Sequence

from ttdf.index import IndexedVideo, VideoIndex
from ttdf.records import VideoFilter
from ttdf.taxonomy import Taxonomy, load_taxonomy

STAT_KEYS: tuple[str, ...] = ("label", "method", "config", "compression", "split")
COUNT_COLUMNS: tuple[str, ...] = ("videos", "frames", "hours", "size_gb", "bad")
_FULL_FRACTION = 0.9  # a copy with >= 90% of the published fakes in every group "looks full"


def dataset_stats(index: VideoIndex, filt: VideoFilter | None = None, *,
                  by: Sequence[str] = STAT_KEYS) -> list[dict]:
    """One row per group of ``by`` keys: good videos, their frames/hours/size, and bad videos."""
    by = tuple(by)
    unknown = [k for k in by if k not in STAT_KEYS]
    if unknown:
        raise ValueError(f"cannot group by {unknown}; choose from {list(STAT_KEYS)}")
    groups: dict[tuple, dict] = {}
    for video in index.query(filt, status=None):
        key = tuple(_group_value(video, k) for k in by)
        row = groups.get(key)
        if row is None:
            row = groups[key] = {**dict(zip(by, key)), "videos": 0, "frames": 0, "hours": 0.0, "size_gb": 0.0,
                                 "bad": 0}
        _add(row, video)
    order = _sort_key(load_taxonomy(root=index.root), by)
    return [groups[key] for key in sorted(groups, key=order)]


def totals(rows: Sequence[dict], *, by: Sequence[str] = STAT_KEYS) -> dict:
    """The sum of ``rows`` as one row whose first key column reads "total"."""
    by = tuple(by)
    total: dict = {k: None for k in by}
    if by:
        total[by[0]] = "total"
    for column in COUNT_COLUMNS:
        total[column] = sum(row[column] for row in rows)
    return total


def compare_to_published(index: VideoIndex, taxonomy: Taxonomy | None = None) -> dict:
    """Fake videos/frames per compression next to the paper's totals (6,120 / 1,378,857 on a full copy)."""
    taxonomy = taxonomy or load_taxonomy(root=index.root)
    per_compression: dict[str, dict[str, int]] = {}
    groups: dict[tuple, int] = {}
    sources: set[str] = set()
    for video in index.query(status="ok"):
        record = video.record
        if not record.is_fake:
            sources.add(record.identity_id)
            continue
        counts = per_compression.setdefault(record.compression, {"fake_videos": 0, "fake_frames": 0})
        counts["fake_videos"] += 1
        counts["fake_frames"] += record.frames or 0
        group = (record.method, record.config, record.compression)
        groups[group] = groups.get(group, 0) + 1
    fake_videos = sum(c["fake_videos"] for c in per_compression.values())
    fake_frames = sum(c["fake_frames"] for c in per_compression.values())
    published = dict(taxonomy.published_totals)
    return {
        "per_compression": dict(sorted(per_compression.items(), key=lambda kv: _rank(taxonomy, "compression", kv[0]))),
        "fake_videos": fake_videos,
        "fake_frames": fake_frames,
        "source_videos": len(sources),
        "published": published,
        "looks_full": _looks_full(taxonomy, groups, fake_videos, published),
        "matches": bool(published) and fake_videos == published.get("fake_videos")
                   and fake_frames == published.get("fake_frames"),
    }


def _looks_full(taxonomy: Taxonomy, groups: dict[tuple, int], fake_videos: int, published: dict) -> bool:
    """Every method x config x named compression present and most of the published fakes on disk."""
    expected = published.get("fake_videos")
    if not expected:
        return False
    complete = all(groups.get((m, c, q)) for m in taxonomy.methods_of("paper") for c in taxonomy.configs
                   for q in taxonomy.compressions)
    return complete and fake_videos >= _FULL_FRACTION * expected


def _add(row: dict, video: IndexedVideo) -> None:
    if not video.ok:
        row["bad"] += 1
        return
    record = video.record
    row["videos"] += 1
    row["frames"] += record.frames or 0
    if record.frames and record.fps:
        row["hours"] += record.frames / record.fps / 3600
    row["size_gb"] += video.size / 1e9


def _group_value(video: IndexedVideo, key: str) -> str | None:
    value = getattr(video.record, key)
    if value == "":  # a bad video the index could not place
        return "?"
    return value


def _sort_key(taxonomy: Taxonomy, by: tuple[str, ...]):
    return lambda key: tuple(_rank(taxonomy, k, v) for k, v in zip(by, key))


def _rank(taxonomy: Taxonomy, key: str, value: str | None) -> tuple[int, int, str]:
    """Taxonomy order (real before fake, raw before c23 before c40, crfN by N), unknowns last."""
    if value is None:
        return (-1, 0, "")
    known = {"label": taxonomy.labels, "method": taxonomy.methods, "config": taxonomy.configs,
             "split": taxonomy.splits, "compression": tuple(taxonomy.compressions)}[key]
    if value in known:
        return (0, known.index(value), value)
    if key == "compression" and taxonomy.crf_for(value) is not None:
        return (1, taxonomy.crf_for(value), value)
    return (2, 0, value)
