"""A tiny TT-DF-shaped dataset of noise videos for tests that need files, not realistic motion."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ttdf.fsutil import sha256_file
from ttdf.manifest import write_manifest
from ttdf.records import VideoRecord, relative_path
from ttdf.taxonomy import load_taxonomy
from ttdf.video import encode_video

SPLITS = ("train", "val", "test")


def write_tiny_dataset(root: Path, *, sources: int = 3, frames: int = 6, size: tuple[int, int] = (32, 32),
                       methods: tuple[str, ...] | None = None, configs: tuple[str, ...] | None = None,
                       seed: int = 0, manifest: bool = True) -> list[VideoRecord]:
    """Write real + fake noise videos following the layout; returns their manifest records."""
    taxonomy = load_taxonomy()
    rng = np.random.default_rng(seed)
    methods = methods or taxonomy.methods_of("paper")
    configs = configs or taxonomy.configs
    records = []
    for i in range(sources):
        src, other = f"s{i:03d}", f"s{(i + 1) % sources:03d}"
        split = SPLITS[i % len(SPLITS)]
        specs = [dict(label="real", identity_id=src, pose_id=src)]
        for method in methods:
            for config in configs:
                pose = src if taxonomy.canonical_config(config) == "match" else other
                specs.append(dict(label="fake", method=method, config=config, identity_id=src, pose_id=pose))
        for spec in specs:
            rel = relative_path(taxonomy, split=split, compression="raw", **spec)
            video = rng.integers(0, 256, size=(frames, size[0], size[1], 3), dtype=np.uint8)
            encode_video(root / rel, video, fps=10, crf=0, preset="ultrafast")
            records.append(VideoRecord(path=rel, split=split, compression="raw", method=spec.get("method"),
                                       config=spec.get("config"), label=spec["label"],
                                       identity_id=spec["identity_id"], pose_id=spec["pose_id"], frames=frames,
                                       fps=10.0, width=size[1], height=size[0], sha256=sha256_file(root / rel)))
    if manifest:
        write_manifest(root / taxonomy.layout.manifest, records)
    return records
